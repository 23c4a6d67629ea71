"""Parity case gru: the PyTorch model that tests/zoo/gru/arch.toml describes.
Read by tests/fixtures/zoo.py (see there for what a case defines)."""
import torch
from torch import nn


class GRUModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(8, 16, num_layers=2)
        self.head = nn.Linear(16, 2)

    def forward(self, x):  # x: (seq, batch, 8)
        out, h = self.gru(x)
        return self.head(out), h


def model():
    return GRUModel()


def inputs(g, n):
    return {"x": torch.randn(7, n, 8, generator=g)}
