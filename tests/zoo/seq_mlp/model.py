"""Parity case seq_mlp: the PyTorch model that tests/zoo/seq_mlp/arch.toml describes.
Read by tests/fixtures/zoo.py (see there for what a case defines)."""
import torch
from torch import nn


def model():
    return nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))


def inputs(g, n):
    return {"x": torch.randn(n, 8, generator=g)}
