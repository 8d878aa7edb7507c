"""Losses: values on known inputs, the two GAN forms, batch-size normalisation."""

from __future__ import annotations

import math

import pytest
import torch

from spectraframe.errors import SpectraFrameError
from spectraframe.losses import GeneratorLoss, LossWeights, adversarial_loss, discriminator_loss, pixel_loss, tv_loss


def test_tv_is_squared_differences():
    image = torch.zeros(1, 1, 3, 3)
    image[..., 1, 1] = 1.0  # 4 unit differences of 6 vertical and 6 horizontal pairs
    assert math.isclose(float(tv_loss(image)), 2.0 * (2 / 6 + 2 / 6), rel_tol=1e-6)
    assert float(tv_loss(torch.ones(2, 3, 5, 5))) == 0.0


def test_paper_gan_form_matches_its_formula():
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 1.0])
    expected_d = 1 - real.sigmoid().mean() + fake.sigmoid().mean()
    assert torch.allclose(discriminator_loss(real, fake, "paper"), expected_d)
    assert torch.allclose(adversarial_loss(fake, "paper"), 1 - fake.sigmoid().mean())


def test_bce_form_is_lowest_for_a_perfect_discriminator():
    confident = discriminator_loss(torch.full((4,), 10.0), torch.full((4,), -10.0), "bce")
    fooled = discriminator_loss(torch.full((4,), -10.0), torch.full((4,), 10.0), "bce")
    assert confident < 1e-3 < fooled
    with pytest.raises(SpectraFrameError, match="unknown GAN loss"):
        discriminator_loss(torch.zeros(1), torch.zeros(1), "wgan")


def test_losses_do_not_grow_with_the_batch():
    torch.manual_seed(0)
    sr, hr = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    loss = GeneratorLoss(LossWeights(perceptual=0.0))
    one, _ = loss(sr, hr, torch.zeros(1))
    four, _ = loss(sr.repeat(4, 1, 1, 1), hr.repeat(4, 1, 1, 1), torch.zeros(4))
    assert torch.allclose(one, four)
    assert torch.allclose(pixel_loss(sr, hr, "l1"), (sr - hr).abs().mean())


def test_generator_loss_parts_and_weights():
    sr, hr = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    weights = LossWeights(pixel=1.0, adversarial=0.5, perceptual=0.0, tv=0.25)
    total, parts = GeneratorLoss(weights)(sr, hr, torch.zeros(2))
    assert set(parts) == {"pixel", "adversarial", "tv"}
    assert torch.allclose(total, parts["pixel"] + 0.5 * parts["adversarial"] + 0.25 * parts["tv"])
    warmup_total, warmup_parts = GeneratorLoss(weights)(sr, hr, None)
    assert set(warmup_parts) == {"pixel"} and torch.allclose(warmup_total, parts["pixel"])


def test_perceptual_term_uses_imagenet_vgg_and_is_zero_for_identical_images():
    torch.manual_seed(0)
    loss = GeneratorLoss(LossWeights(adversarial=0.0, tv=0.0, perceptual=1.0))
    hr = torch.rand(1, 3, 32, 32)
    _, same = loss(hr.clone(), hr, torch.zeros(1))
    _, noisy = loss((hr + 0.1 * torch.randn_like(hr)).clamp(0, 1), hr, torch.zeros(1))
    assert float(same["perceptual"]) == 0.0 < float(noisy["perceptual"])
    assert not any(p.requires_grad for p in loss.perceptual.parameters())


def test_missing_vgg_file_is_a_clear_error(tmp_path):
    with pytest.raises(SpectraFrameError):
        GeneratorLoss(LossWeights(), vgg_weights=str(tmp_path / "nope.pth"))


def test_charbonnier_is_smooth_l1():
    from spectraframe.losses import CHARBONNIER_EPS, pixel_loss

    sr, hr = torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.5)
    assert float(pixel_loss(sr, hr, "charbonnier")) == pytest.approx(0.5, rel=1e-5)
    assert float(pixel_loss(hr, hr, "charbonnier")) == pytest.approx(CHARBONNIER_EPS)
