"""Parity case options_c: Embedding's padding_idx, max_norm and norm_type.
Read by tests/fixtures/zoo.py (see there for what a case defines)."""
from collections import OrderedDict

import torch
from torch import nn

WEIGHTS = "random"


def model():
    return nn.Sequential(OrderedDict([
        ("embed", nn.Embedding(20, 3, padding_idx=-1, max_norm=1.0, norm_type=1.5)),
        ("flat", nn.Flatten()),
        ("proj", nn.Linear(15, 2))]))


def inputs(g, n):
    return {"x": torch.randint(0, 20, (n, 5), generator=g)}
