"""Parity case options_b: Conv2d's strides, paddings, dilations and padding modes; ReLU, Sigmoid, Tanh.
Read by tests/fixtures/zoo.py (see there for what a case defines)."""
from collections import OrderedDict

import torch
from torch import nn

WEIGHTS = "random"


def model():
    return nn.Sequential(OrderedDict([
        ("c1", nn.Conv2d(3, 4, (2, 3), stride=(2, 1), padding=(1, 2), dilation=(1, 2), padding_mode="circular")),
        ("c2", nn.Conv2d(4, 4, 4, padding="same")),
        ("c3", nn.Conv2d(4, 2, 3, padding="valid", padding_mode="replicate")),
        ("c4", nn.Conv2d(2, 2, (3, 2), padding="same", dilation=(1, 2), padding_mode="replicate")),
        ("relu", nn.ReLU()), ("s", nn.Sigmoid()), ("t", nn.Tanh())]))


def inputs(g, n):
    return {"x": torch.randn(n, 3, 9, 9, generator=g)}
