"""A tiny random generator for tests that need one but not its quality."""

from __future__ import annotations

import torch

from spectraframe.archs.rbpn import RBPN, RBPNConfig

TINY = RBPNConfig(scale=2, num_frames=3, base_filter=8, feat=4, num_stages=1, n_resblock=0)


def tiny_model(seed: int = 0, scale: int = 2) -> RBPN:
    """A random tiny RBPN whose outputs sit inside [0, 1] (so clamping does not hide differences)."""
    torch.manual_seed(seed)
    model = RBPN(RBPNConfig.from_dict({**TINY.to_dict(), "scale": scale}))
    with torch.no_grad():
        model.output.conv.weight.mul_(0.05)
        model.output.conv.bias.fill_(0.5)
    return model.eval()
