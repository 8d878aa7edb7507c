"""A tiny GAN step and batch for tests of one iteration (tests/models)."""

from __future__ import annotations

import torch

from spectraframe.archs.overparameterise import overparameterise as add_branches
from spectraframe.archs.rbpn import RBPN, RBPNConfig
from spectraframe.archs.srgan_discriminator import Discriminator
from spectraframe.losses import GeneratorLoss, LossWeights
from spectraframe.models.gan_step import GanStep
from spectraframe.models.run_state import ema_copy


def make_step(*, ema: bool = False, overparameterise: int = 0) -> GanStep:
    torch.manual_seed(0)
    generator = RBPN(RBPNConfig(scale=2, num_frames=3, base_filter=8, feat=8, num_stages=1, n_resblock=1))
    if overparameterise:
        add_branches(generator, overparameterise)
    discriminator = Discriminator()
    loss = GeneratorLoss(LossWeights(perceptual=0.0))
    return GanStep(generator, discriminator, loss, torch.optim.Adam(generator.parameters(), lr=1e-3),
                   torch.optim.Adam(discriminator.parameters(), lr=1e-3),
                   ema=ema_copy(generator) if ema else None, ema_decay=0.5)


def batch() -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    return {"target": torch.rand(2, 3, 12, 12), "neighbours": torch.rand(2, 2, 3, 12, 12),
            "flows": torch.zeros(2, 2, 2, 12, 12), "hr": torch.rand(2, 3, 24, 24)}


def weights(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def changed(before: list[torch.Tensor], module: torch.nn.Module) -> bool:
    return not all(torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True))
