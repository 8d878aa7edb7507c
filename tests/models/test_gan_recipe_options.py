"""The perceptual recipe's options (issue 16): RaGAN, VGG layers and criterion, the temporal term, the
discriminator's warm-up and update ratio; and the published `paper` preset left exactly as it was."""

from __future__ import annotations

import math

import pytest
import torch
from helpers.gan_step import batch, changed, make_step, weights

from spectraframe.archs.vgg import VGG16Features
from spectraframe.errors import SpectraFrameError
from spectraframe.losses import (
    GeneratorLoss,
    LossWeights,
    adversarial_loss,
    discriminator_loss,
    temporal_loss,
    tv_loss,
)
from spectraframe.models.building import build_loss
from spectraframe.models.config import TrainConfig, load_config
from spectraframe.models.schedule import step_schedule


@pytest.fixture(autouse=True)
def _single_threaded(one_thread):
    """One torch thread (fixture in conftest.py)."""


# --- RaGAN ---


def test_ragan_matches_esrgans_formula():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-1.0, 1.0])

    def bce(logits, target):
        return -(target * logits.sigmoid().log() + (1 - target) * (1 - logits.sigmoid()).log()).mean()

    expected_d = 0.5 * (bce(real - fake.mean(), 1.0) + bce(fake - real.mean(), 0.0))
    expected_g = 0.5 * (bce(real - fake.mean(), 0.0) + bce(fake - real.mean(), 1.0))
    assert torch.allclose(discriminator_loss(real, fake, "ragan"), expected_d)
    assert torch.allclose(adversarial_loss(fake, "ragan", real), expected_g)
    with pytest.raises(SpectraFrameError, match="logits of the HR images"):
        adversarial_loss(fake, "ragan")


def test_ragan_generator_gradient_comes_from_both_terms():
    # G's term pulls SR scores up relative to the mean HR score: the gradient on each fake logit is the sum of
    # the "fake is more real" and the "real is less real than the average fake" parts.
    real = torch.tensor([3.0, 1.0])
    fake = torch.tensor([-2.0, 0.0], requires_grad=True)
    adversarial_loss(fake, "ragan", real).backward()
    only_fake_part = torch.tensor([-2.0, 0.0], requires_grad=True)
    (0.5 * torch.nn.functional.binary_cross_entropy_with_logits(
        only_fake_part - real.mean(), torch.ones(2))).backward()
    assert (fake.grad < 0).all()  # raising a fake score lowers G's loss
    assert (fake.grad < only_fake_part.grad).all()  # and the real term adds to the pull


# --- perceptual layers and criterion ---


def test_perceptual_l1_on_conv_features_before_the_relu():
    torch.manual_seed(0)
    hr = torch.rand(1, 3, 32, 32)
    sr = (hr + 0.1 * torch.randn_like(hr)).clamp(0, 1)
    loss = GeneratorLoss(LossWeights(adversarial=0.0, tv=0.0, perceptual=1.0), vgg_imagenet_normalize=True,
                         perceptual_layers=("conv5_3",), perceptual_criterion="l1")
    _, parts = loss(sr, hr, torch.zeros(1))
    features = VGG16Features(layers=("conv5_3",), imagenet_normalize=True)
    with torch.no_grad():
        sr_features, hr_features = features(sr)["conv5_3"], features(hr)["conv5_3"]
    assert float(parts["perceptual"]) == pytest.approx(float((sr_features - hr_features).abs().mean()), rel=1e-5)
    assert float(hr_features.min()) < 0  # before the activation: negative responses are kept
    two_layers = GeneratorLoss(LossWeights(adversarial=0.0, tv=0.0, perceptual=1.0), vgg_imagenet_normalize=True,
                               perceptual_layers=("conv5_3", "conv4_3"), perceptual_criterion="l1")
    assert float(two_layers(sr, hr, torch.zeros(1))[1]["perceptual"]) > float(parts["perceptual"])
    with pytest.raises(SpectraFrameError, match="unknown perceptual criterion"):
        GeneratorLoss(LossWeights(perceptual=1.0), perceptual_criterion="huber")


def test_perceptual_layer_weights_scale_each_layer():
    torch.manual_seed(0)
    hr = torch.rand(1, 3, 32, 32)
    sr = (hr + 0.1 * torch.randn_like(hr)).clamp(0, 1)

    def perceptual(layers, weights=None):
        loss = GeneratorLoss(LossWeights(adversarial=0.0, tv=0.0, perceptual=1.0), vgg_imagenet_normalize=True,
                             perceptual_layers=layers, perceptual_criterion="l1", perceptual_layer_weights=weights)
        return float(loss(sr, hr, torch.zeros(1))[1]["perceptual"])

    shallow, deep = perceptual(("conv1_2",)), perceptual(("conv5_3",))
    assert perceptual(("conv1_2", "conv5_3"), (0.1, 1.0)) == pytest.approx(0.1 * shallow + deep, rel=1e-5)
    assert perceptual(("conv1_2", "conv5_3")) == pytest.approx(shallow + deep, rel=1e-5)
    with pytest.raises(SpectraFrameError, match="give one per layer"):
        perceptual(("conv1_2", "conv5_3"), (0.1,))


def test_perceptual_normalized_is_lpips_with_unit_heads():
    # "normalized" is the LPIPS distance with every learnt head weight 1: compare with the metric's own
    # computation, its heads replaced by ones (LPIPS feeds its VGG [-1, 1] input through a scaling layer that
    # equals ImageNet normalisation of [0, 1] input up to rounding of its constants).
    from spectraframe.metrics.lpips import LPIPS, LPIPS_LAYERS

    torch.manual_seed(0)
    hr = torch.rand(2, 3, 32, 32)
    sr = (hr + 0.1 * torch.randn_like(hr)).clamp(0, 1)
    loss = GeneratorLoss(LossWeights(adversarial=0.0, tv=0.0, perceptual=1.0), vgg_imagenet_normalize=True,
                         perceptual_layers=LPIPS_LAYERS, perceptual_criterion="normalized")
    _, parts = loss(sr, hr, torch.zeros(2))
    metric = LPIPS()
    for head in metric.heads:
        head.weight.data.fill_(1.0)
    assert float(parts["perceptual"]) == pytest.approx(float(metric(sr, hr).mean()), rel=1e-3)
    assert float(loss(hr, hr, torch.zeros(2))[1]["perceptual"]) == pytest.approx(0.0, abs=1e-6)


# --- temporal term ---


def _moving_pair(flicker: float) -> tuple[torch.Tensor, ...]:
    """HR frames t and t+1 where t+1 is t moved 1 LR pixel (4 HR pixels) left, the LR flow t -> t+1 (-1 px),
    and outputs with detail that follows the motion, plus `flicker` noise on frame t only."""
    torch.manual_seed(0)
    hr = torch.rand(1, 3, 32, 32)
    hr_next = torch.roll(hr, shifts=-4, dims=-1)
    detail = 0.05 * torch.randn(1, 3, 32, 32)
    sr = hr + detail + flicker * torch.randn(1, 3, 32, 32)
    sr_next = torch.roll(hr + detail, shifts=-4, dims=-1)
    flow = torch.zeros(1, 2, 8, 8)
    flow[:, 0] = -1.0
    return sr, sr_next, hr, hr_next, flow


def test_temporal_term_penalises_flicker_not_motion():
    inner = (..., slice(4, -4), slice(4, -4))  # roll wraps at the borders, the warp replicates them
    sr, sr_next, hr, hr_next, flow = _moving_pair(flicker=0.0)
    from spectraframe.flow.api import warp

    flow_hr = torch.full((1, 2, 32, 32), 0.0)
    flow_hr[:, 0] = -4.0
    assert torch.allclose(warp(sr_next, flow_hr)[inner], sr[inner], atol=1e-5)  # the moved detail lines up
    steady = float(temporal_loss(sr[inner], warp(sr_next, flow_hr)[inner], hr[inner], warp(hr_next, flow_hr)[inner],
                                 torch.zeros(1, 2, 6, 6)))
    assert steady < 1e-5
    assert float(temporal_loss(sr, sr_next, hr, hr_next, flow)) < 0.01
    flickering = _moving_pair(flicker=0.05)
    assert float(temporal_loss(*flickering)) > 0.03


def test_temporal_term_reaches_both_outputs_and_only_in_the_gan_phase():
    sr, sr_next, hr, hr_next, flow = _moving_pair(flicker=0.05)
    sr.requires_grad_(True)
    sr_next.requires_grad_(True)
    loss = GeneratorLoss(LossWeights(adversarial=0.0, perceptual=0.0, tv=0.0, temporal=0.5))
    total, parts = loss(sr, hr, torch.zeros(1), temporal=(sr_next, hr_next, flow))
    assert torch.allclose(total, parts["pixel"] + 0.5 * parts["temporal"])
    total.backward()
    assert sr.grad.abs().sum() > 0 and sr_next.grad.abs().sum() > 0
    assert "temporal" not in loss(sr, hr, None)[1]
    with pytest.raises(SpectraFrameError, match="next frame's output"):
        loss(sr, hr, torch.zeros(1))
    with pytest.raises(SpectraFrameError, match="integer multiple"):
        temporal_loss(sr, sr_next, hr, hr_next, torch.zeros(1, 2, 7, 7))


# --- the GAN step's schedule ---


def test_discriminator_warmup_updates_d_alone():
    step = make_step(ema=True)
    g, d, average = weights(step.generator), weights(step.discriminator), weights(step.ema)
    outcome = step(batch(), step=0, gan_phase=True, update_g=False)
    assert outcome.values["phase"] == "d_warmup" and "loss_g" not in outcome.values
    assert changed(d, step.discriminator) and not changed(g, step.generator) and not changed(average, step.ema)


def test_a_step_without_a_discriminator_update_still_trains_g_adversarially():
    step = make_step()
    g, d = weights(step.generator), weights(step.discriminator)
    outcome = step(batch(), step=0, gan_phase=True, update_d=False)
    assert "loss_d" not in outcome.values and "adversarial" in outcome.values
    assert changed(g, step.generator) and not changed(d, step.discriminator)


def test_ragan_and_temporal_step():
    step = make_step()
    step.gan_form = step.loss.gan_form = "ragan"
    step.loss.weights.temporal = 1.0
    data = batch()
    torch.manual_seed(2)
    data.update(next_target=torch.rand(2, 3, 12, 12), next_neighbours=torch.rand(2, 2, 3, 12, 12),
                next_flows=torch.zeros(2, 2, 2, 12, 12), next_hr=torch.rand(2, 3, 24, 24),
                next_flow=torch.zeros(2, 2, 12, 12))
    g, d = weights(step.generator), weights(step.discriminator)
    outcome = step(data, step=0, gan_phase=True)
    assert not outcome.skipped and outcome.values["temporal"] > 0 and math.isfinite(outcome.values["adversarial"])
    assert outcome.sr.shape == (2, 3, 24, 24)  # the next frame's output is not what the step returns
    assert changed(g, step.generator) and changed(d, step.discriminator)


def test_step_schedule_warmups_and_discriminator_ratio():
    train = TrainConfig(warmup_iterations=2, d_warmup_iterations=2, d_update_every=3)
    schedule = [step_schedule(train, n) for n in range(10)]
    assert [s["gan_phase"] for s in schedule] == [False] * 2 + [True] * 8
    assert [s["update_g"] for s in schedule] == [True, True, False, False] + [True] * 6
    assert [s["update_d"] for s in schedule[2:]] == [True, True, True, False, False, True, False, False]
    default = [step_schedule(TrainConfig(), n) for n in range(3)]
    assert all(s == {"gan_phase": True, "update_g": True, "update_d": True} for s in default)


# --- configs ---


def test_recipe_options_in_config_and_overrides():
    config = load_config("efficient_gan", ["loss.perceptual_layers=[conv4_3, conv5_3]", "loss.temporal_weight=0.1",
                                           "loss.perceptual_layer_weights=null"])
    assert config.loss.perceptual_layers == ["conv4_3", "conv5_3"] and config.loss.gan_form == "ragan"
    loss = build_loss(config)
    assert loss.perceptual.layers == ("conv4_3", "conv5_3") and loss.weights.temporal == 0.1
    assert loss.perceptual.features.imagenet_normalize
    assert load_config("compact", ["train.lr_decay_at=[0.5, 0.8]"]).train.lr_decay_at == [0.5, 0.8]


@pytest.mark.parametrize("override, message", [
    ("loss.perceptual_layers=[conv5_4]", "must name VGG16 layers"),
    ("loss.perceptual_layers=[]", "must name VGG16 layers"),
    ("loss.perceptual_layer_weights=[0.1, 1.0]", "one weight >= 0 per layer"),
    ("loss.perceptual_criterion=huber", "perceptual_criterion must be one of"),
    ("loss.gan_form=wgan", "gan_form must be one of paper, bce, ragan"),
    ("train.d_update_every=0", "d_update_every must be >= 1"),
    ("train.d_warmup_iterations=-1", "d_warmup_iterations must be >= 0"),
    ("loss.temporal_weight=-1", "temporal_weight must be >= 0"),
])
def test_bad_recipe_options_are_clear_errors(override, message):
    with pytest.raises(SpectraFrameError, match=message):
        load_config("efficient_gan", [override])


def test_paper_preset_is_the_published_loss_exactly():
    config = load_config("paper")
    assert (config.loss.pixel, config.loss.gan_form, config.loss.perceptual_layers,
            config.loss.perceptual_criterion, config.loss.vgg_imagenet_normalize) == (
        "mse", "paper", ["pool5"], "mse", False)
    assert (config.loss.temporal_weight, config.train.d_warmup_iterations, config.train.d_update_every) == (0, 0, 1)
    loss = build_loss(config)
    torch.manual_seed(0)
    sr, hr, fake = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32), torch.randn(2)
    total, parts = loss(sr, hr, fake)
    pool5 = VGG16Features(layers=("pool5",), imagenet_normalize=False)
    with torch.no_grad():
        perceptual = torch.nn.functional.mse_loss(pool5(sr)["pool5"], pool5(hr)["pool5"])
    expected = (torch.nn.functional.mse_loss(sr, hr) + 1e-3 * (1 - fake.sigmoid().mean()) + 6e-3 * perceptual
                + 2e-8 * tv_loss(sr))
    assert set(parts) == {"pixel", "adversarial", "perceptual", "tv"}
    assert torch.allclose(total, expected, rtol=1e-5)
