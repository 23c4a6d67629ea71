"""Parity case mlp: the PyTorch model that tests/zoo/mlp/arch.toml describes.
Read by tests/fixtures/zoo.py (see there for what a case defines)."""
import torch
from torch import nn
from collections import OrderedDict


def model():
    return nn.Sequential(OrderedDict([("linear1", nn.Linear(10, 20)), ("relu", nn.ReLU()),
                                      ("linear2", nn.Linear(20, 1))]))


def inputs(g, n):
    return {"x": torch.randn(n, 10, generator=g)}
