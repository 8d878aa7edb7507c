"""The GAN step on its own: random tensors, no data, no run folder."""

from __future__ import annotations

import pytest
import torch
from helpers.gan_step import batch, changed, make_step, weights

from spectraframe.archs.overparameterise import ExpandedKernel


@pytest.fixture(autouse=True)
def _single_threaded(one_thread):
    """One torch thread (fixture in conftest.py)."""


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


def test_an_overparameterised_generator_computes_each_kernel_once_per_step(monkeypatch):
    """The DBPN convolutions are applied once per neighbour; their branch kernels are computed once per forward."""
    step = make_step(overparameterise=2)
    branches = [m for m in step.generator.modules() if isinstance(m, ExpandedKernel)]
    calls = []
    original = ExpandedKernel.forward
    monkeypatch.setattr(ExpandedKernel, "forward", lambda self, kernel: calls.append(self) or original(self, kernel))
    squeezes = [b.squeeze.detach().clone() for b in branches]
    outcome = step(batch(), step=0, gan_phase=True)
    assert not outcome.skipped
    assert len(calls) == len(branches) and set(map(id, calls)) == set(map(id, branches))
    assert all(not torch.equal(before, b.squeeze) for before, b in zip(squeezes, branches, strict=True))
