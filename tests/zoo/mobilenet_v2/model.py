"""Parity case mobilenet_v2: the PyTorch model that tests/zoo/mobilenet_v2/arch.toml describes.
Read by tests/fixtures/zoo.py (see there for what a case defines)."""
import torch
import torchvision


def model():
    return torchvision.models.mobilenet_v2(num_classes=10)


def inputs(g, n):
    return {"x": torch.randn(n, 3, 64, 64, generator=g)}
