"""The GAN step on its own: random tensors, no data, no run folder."""

from __future__ import annotations

import pytest
import torch

from spectraframe.archs.rbpn import RBPN, RBPNConfig
from spectraframe.archs.srgan_discriminator import Discriminator
from spectraframe.losses import GeneratorLoss, LossWeights
from spectraframe.models.gan_step import GanStep
from spectraframe.models.run_state import ema_copy


@pytest.fixture(autouse=True)
def _single_threaded(one_thread):
    """One torch thread (fixture in conftest.py)."""


def make_step(*, ema: bool = False) -> GanStep:
    torch.manual_seed(0)
    generator = RBPN(RBPNConfig(scale=2, num_frames=3, base_filter=8, feat=8, num_stages=1, n_resblock=1))
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


def test_gan_phase_updates_both_networks_and_the_average():
    step = make_step(ema=True)
    g, d, average = weights(step.generator), weights(step.discriminator), weights(step.ema)
    outcome = step(batch(), step=0, gan_phase=True)
    assert not outcome.skipped and outcome.values["phase"] == "gan"
    assert {"loss_g", "pixel", "adversarial", "loss_d", "d_real", "d_fake"} <= set(outcome.values)
    assert changed(g, step.generator) and changed(d, step.discriminator) and changed(average, step.ema)
    assert outcome.sr.shape == (2, 3, 24, 24) and not outcome.sr.requires_grad


def test_warmup_trains_the_generator_alone():
    step = make_step()
    g, d = weights(step.generator), weights(step.discriminator)
    outcome = step(batch(), step=0, gan_phase=False)
    assert outcome.values["phase"] == "warmup" and "loss_d" not in outcome.values
    assert changed(g, step.generator) and not changed(d, step.discriminator)


def test_a_nonfinite_generator_loss_skips_its_update_but_not_the_discriminators():
    step = make_step()
    step.loss.weights.pixel = float("nan")
    g, d = weights(step.generator), weights(step.discriminator)
    outcome = step(batch(), step=0, gan_phase=True)
    assert outcome.skipped
    assert not changed(g, step.generator) and changed(d, step.discriminator)
    assert all(p.grad is None for p in step.generator.parameters())
