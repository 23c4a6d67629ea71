"""Parity case transformer: the PyTorch model that tests/zoo/transformer/arch.toml describes.
Read by tests/fixtures/zoo.py (see there for what a case defines)."""
import torch
from torch import nn


class TransformerClassifier(nn.Module):
    def __init__(self, vocab=50, max_len=16, d_model=32, nhead=4, layers=4, classes=5):
        super().__init__()
        self.tok = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(max_len, d_model)
        layer = nn.TransformerEncoderLayer(d_model, nhead, 4 * d_model, dropout=0.1, batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, classes)

    def forward(self, tokens):
        h = self.tok(tokens) + self.pos(torch.arange(tokens.size(1)))
        h = self.encoder(h)
        return self.head(h.mean(1))


def model():
    return TransformerClassifier()


def inputs(g, n):
    return {"tokens": torch.randint(0, 50, (n, 16), generator=g)}
