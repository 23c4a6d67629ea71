"""Parity case options_d: Upsample, GroupNorm, AvgPool2d, SiLU, Hardswish, LeakyReLU, the adaptive
poolings, Conv1d, Softmax, ReLU6.
Read by tests/fixtures/zoo.py (see there for what a case defines)."""
from collections import OrderedDict

import torch
from torch import nn

WEIGHTS = "random"


def model():
    return nn.Sequential(OrderedDict([
        ("up", nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)),
        ("gn", nn.GroupNorm(2, 4, eps=1e-4)),
        ("avg", nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)),
        ("silu", nn.SiLU()), ("hs", nn.Hardswish()), ("lrelu", nn.LeakyReLU(0.2)),
        ("aap", nn.AdaptiveAvgPool2d((2, 3))),
        ("flat", nn.Flatten(2)),
        ("c1", nn.Conv1d(4, 6, 3, padding=2, dilation=2, groups=2)),
        ("aap1", nn.AdaptiveAvgPool1d(3)),
        ("sm", nn.Softmax(dim=1)),
        ("r6", nn.ReLU6())]))


def inputs(g, n):
    return {"x": torch.randn(n, 4, 8, 8, generator=g) * 3}
