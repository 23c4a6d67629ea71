"""Parity case options_a: non-default options of Conv2d, BatchNorm2d/1d, MaxPool2d, LayerNorm, GELU, Flatten, Dropout,
Linear, Identity.
Read by tests/fixtures/zoo.py (see there for what a case defines)."""
from collections import OrderedDict

import torch
from torch import nn

WEIGHTS = "random"


def model():
    return nn.Sequential(OrderedDict([
        ("conv", nn.Conv2d(4, 6, (3, 1), padding="same", groups=2, bias=False, padding_mode="reflect")),
        ("bn", nn.BatchNorm2d(6, affine=False)),
        ("bn_nostats", nn.BatchNorm2d(6, track_running_stats=False)),
        ("pool", nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)),
        ("ln", nn.LayerNorm([4, 4], elementwise_affine=False)),
        ("ln2", nn.LayerNorm(4, eps=1e-3)),
        ("gelu", nn.GELU(approximate="tanh")),
        ("flat", nn.Flatten(1)),
        ("drop", nn.Dropout()),
        ("bn1", nn.BatchNorm1d(96, momentum=0.5)),
        ("lin", nn.Linear(96, 5, bias=False)),
        ("id", nn.Identity())]))


def inputs(g, n):
    return {"x": torch.randn(n, 4, 6, 6, generator=g)}
