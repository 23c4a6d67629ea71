"""Parity case lstm: the PyTorch model that tests/zoo/lstm/arch.toml describes.
Read by tests/fixtures/zoo.py (see there for what a case defines)."""
import torch
from torch import nn


class LSTMClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(100, 16, padding_idx=0)
        self.lstm = nn.LSTM(16, 32, num_layers=2, batch_first=True, bidirectional=True, dropout=0.1)
        self.fc = nn.Linear(64, 4)

    def forward(self, tokens):
        out, _ = self.lstm(self.embedding(tokens))
        return self.fc(out[:, -1, :])


def model():
    return LSTMClassifier()


def inputs(g, n):
    return {"tokens": torch.randint(0, 100, (n, 12), generator=g)}
