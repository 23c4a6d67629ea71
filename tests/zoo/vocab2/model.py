"""Parity case vocab2: the vocabulary of format mvc.arch/2 (docs/architecture.md, "Format
versions") in one tiny model, taken from torchvision's own classes where they exist: a
mobilenet_v3 SqueezeExcitation (Hardsigmoid), a ConvNeXt block (LayerNorm2d, a layer_scale
Parameter inside the block, StochasticDepth), a ViT head (class_token and
encoder.pos_embedding Parameters, expand to the batch size), a causal-mask Buffer with a
comparison and masked_fill, scalar operands, comparisons, F.pad, F.interpolate (a size read from
another tensor, and a scale factor), unflatten and view with sizes read from the input, and
F.avg_pool2d.
Read by tests/fixtures/zoo.py (see there for what a case defines)."""
import torch
from torch import nn
from torch.nn import functional as F
from torchvision.models.convnext import LayerNorm2d
from torchvision.ops import StochasticDepth
from torchvision.ops.misc import SqueezeExcitation

WEIGHTS = "random"  # every floating tensor drawn at random (layer_scale, class_token are not trivial)


class CNBlock(nn.Module):  # torchvision.models.convnext.CNBlock, smaller
    def __init__(self, dim):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(dim, dim, 3, padding=1, groups=dim), LayerNorm2d(dim, eps=1e-6),
                                   nn.Conv2d(dim, 2 * dim, 1), nn.GELU(), nn.Conv2d(2 * dim, dim, 1))
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * 0.1)
        self.stochastic_depth = StochasticDepth(0.25, "row")

    def forward(self, x):
        r = self.layer_scale * self.block(x)
        return self.stochastic_depth(r) + x


class Encoder(nn.Module):
    def __init__(self, seq, dim):
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.empty(1, seq, dim).normal_(std=0.02))
        self.ln = nn.LayerNorm(dim)


class Vocab2(nn.Module):
    def __init__(self):
        super().__init__()
        self.class_token = nn.Parameter(torch.zeros(1, 1, 8))
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.se = SqueezeExcitation(8, 4, scale_activation=nn.Hardsigmoid)
        self.features = nn.Sequential(nn.Sequential(CNBlock(8)))
        self.encoder = Encoder(17, 8)
        self.register_buffer("mask", torch.tril(torch.ones(17, 17, dtype=torch.bool)))
        self.head = nn.Linear(8, 5)

    def forward(self, x, skip):
        y = self.se(self.stem(x))  # [n, 8, 4, 4]
        y = self.features(y)
        hs = F.hardsigmoid(y)
        n = y.shape[0]
        t = y.view(n, 8, -1).permute(0, 2, 1)  # [n, 16, 8]
        cls = self.class_token.expand(n, -1, -1)
        t = torch.cat([cls, t], dim=1) + self.encoder.pos_embedding
        t = self.encoder.ln(t)
        att = torch.matmul(t, t.transpose(1, 2)) / 8.0
        att = att.masked_fill(self.mask == 0, float("-inf"))
        t = torch.matmul(torch.softmax(att, -1), t)
        logits = self.head(t[:, 0])
        # scalar operands, both sides
        s1 = logits * 0.5
        s2 = 1 - logits
        s3 = 2.0 / (logits * logits + 1)
        s4 = logits + 3
        s5 = logits - 0.25
        # comparisons: with a number (either side) and with a tensor
        c1 = logits > 0
        c2 = 0.5 <= logits
        c3 = torch.lt(logits, s1)
        c4 = logits != s2
        c5 = logits.ge(-0.1)
        c6 = logits.eq(logits)
        # F.pad, F.interpolate (size from another tensor; scale factor), unflatten
        p1 = F.pad(y, [1, 1, 2, 0])
        p2 = F.pad(y, [1, 2, 1, 0], mode="reflect")
        p3 = F.pad(y, [1, 1], value=0.5)
        i1 = F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        i2 = F.interpolate(y, scale_factor=2.0, mode="nearest")
        i3 = F.interpolate(y, size=(skip.size(2), 5), mode="bicubic", align_corners=True)
        u = t.unflatten(2, (2, -1))
        r = y.reshape(n, -1)
        ap = F.avg_pool2d(y, 3, stride=2, padding=1, count_include_pad=False)
        return (logits, hs, s1, s2, s3, s4, s5, c1, c2, c3, c4, c5, c6, p1, p2, p3, i1, i2, i3, u, r, cls, ap)


def model():
    return Vocab2()


def inputs(g, n):
    return {"x": torch.randn(n, 3, 8, 8, generator=g), "skip": torch.randn(n, 2, 6, 7, generator=g)}
