"""Parity case ops: every parameter-free operation and functional activation, and Bilinear; the
forward returns every node of tests/zoo/ops/arch.toml, in its outputs' order.
Read by tests/fixtures/zoo.py (see there for what a case defines)."""
import torch
from torch import nn
from torch.nn import functional as F

WEIGHTS = "random"  # the first output (a permutation) depends on no parameter: nothing to train


class Ops(nn.Module):
    def __init__(self):
        super().__init__()
        self.bil = nn.Bilinear(6, 6, 5)

    def forward(self, x, img):
        p = x.permute(0, 2, 1)
        t = p.transpose(-1, 1)
        r = t.reshape(-1, 8)
        v = x.view(2, 2, 12)
        c = t.contiguous()
        ch = torch.chunk(x, 3, 2)
        sp = torch.split(x, [1, 3], 1)
        m = x.mean([1, 2], keepdim=True)
        s = x.sum()
        sel = x.select(0, -1)
        sl = x[:, :, 1:-1:2]
        u = x.unsqueeze(-1)
        sq = u.squeeze(3)
        sm = torch.softmax(x, -1)
        lsm = torch.log_softmax(sm, 1)
        cat = torch.cat([x, sm, lsm], 1)
        st = torch.stack([x, sm], 1)
        mul = x * m
        sub = x - sel
        div = x / m
        mm = torch.matmul(x, p)
        fl = torch.flatten(img, 1)
        ar = torch.arange(x.size(2))
        aap = F.adaptive_avg_pool2d(img, [2, 4])
        mp = F.max_pool2d(img, 2, ceil_mode=True)
        bil = self.bil(x, sm)
        act1 = F.gelu(bil, approximate="tanh")
        act2 = F.relu6(act1)
        act3 = torch.tanh(act2)
        act4 = torch.sigmoid(act3)
        act5 = F.hardswish(act4)
        act6 = F.leaky_relu(act5, 0.3)
        act7 = F.silu(act6)
        act8 = F.relu(act7)
        up = nn.Upsample(size=(5, 7), mode="nearest")(img)
        add = x + sm + lsm
        return (p, t, r, v, c, ch[0], ch[1], sp[0], sp[1], m, s, sel, sl, u, sq, sm, lsm, cat, st, mul, sub, div,
                mm, fl, ar, aap, mp, bil, act1, act2, act3, act4, act5, act6, act7, act8, up, add)


def model():
    return Ops()


def inputs(g, n):
    return {"x": torch.randn(n, 4, 6, generator=g), "img": torch.randn(n, 3, 9, 9, generator=g)}
