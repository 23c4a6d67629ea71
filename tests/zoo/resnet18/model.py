"""Parity case resnet18: the PyTorch model that tests/zoo/resnet18/arch.toml describes.
Read by tests/fixtures/zoo.py (see there for what a case defines)."""
import torch
import torchvision


def model():
    return torchvision.models.resnet18()


def inputs(g, n):
    return {"x": torch.randn(n, 3, 64, 64, generator=g)}
