"""Losses of the SpectraFrame GAN (iSeeBetter/SRGAN recipe), each a mean over the batch.

Generator: pixel (MSE or L1) + 1e-3 adversarial + 6e-3 perceptual (MSE of frozen VGG16 features through
pool5) + 2e-8 total variation (squared differences); the weights are configurable.
Discriminator ("paper" form): 1 - mean D(HR) + mean D(SR), D the sigmoid score; the generator's
adversarial term is mean(1 - D(SR)). The "bce" form is the standard BCE-with-logits GAN loss. The "ragan"
form is ESRGAN's relativistic average GAN: D judges whether HR is more real than the average SR and the
other way round, and G's term uses both scores, so G gets gradients from the real images too.
The discriminator's `.logits()` feed every form: the sigmoid is applied here, in float32.
Options beyond the paper (ESRGAN-like): the perceptual term on chosen VGG16 layers (e.g. conv5_3, before
its ReLU) with L1, and a temporal term (`temporal_loss`) between the outputs of consecutive frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spectraframe.errors import SpectraFrameError

GAN_FORMS = ("paper", "bce", "ragan")
PERCEPTUAL_CRITERIA = ("mse", "l1", "normalized")


PIXEL_LOSSES = ("mse", "l1", "charbonnier")
# Charbonnier's epsilon on the [0, 1] scale (a quarter of one uint8 level): L1 that stays smooth at zero.
CHARBONNIER_EPS = 1e-3


def pixel_loss(sr: Tensor, hr: Tensor, kind: str = "mse") -> Tensor:
    if kind == "mse":
        return F.mse_loss(sr, hr)
    if kind == "l1":
        return F.l1_loss(sr, hr)
    if kind == "charbonnier":
        return torch.sqrt((sr - hr).pow(2) + CHARBONNIER_EPS**2).mean()
    raise SpectraFrameError(f"unknown pixel loss {kind!r}: choose one of {', '.join(PIXEL_LOSSES)}")


def tv_loss(images: Tensor) -> Tensor:
    """Total variation with squared differences, as SRGAN/iSeeBetter: 2 (mean dy^2 + mean dx^2)."""
    dy = images[..., 1:, :] - images[..., :-1, :]
    dx = images[..., :, 1:] - images[..., :, :-1]
    return 2.0 * (dy.pow(2).mean() + dx.pow(2).mean())


def _bce(logits: Tensor, target: float) -> Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def _unknown_form(form: str) -> SpectraFrameError:
    return SpectraFrameError(f"unknown GAN loss form {form!r}: choose one of {', '.join(GAN_FORMS)}")


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor, form: str = "paper") -> Tensor:
    real_logits, fake_logits = real_logits.float(), fake_logits.float()
    if form == "paper":
        return 1.0 - real_logits.sigmoid().mean() + fake_logits.sigmoid().mean()
    if form == "bce":
        return _bce(real_logits, 1.0) + _bce(fake_logits, 0.0)
    if form == "ragan":
        return 0.5 * (_bce(real_logits - fake_logits.mean(), 1.0) + _bce(fake_logits - real_logits.mean(), 0.0))
    raise _unknown_form(form)


def adversarial_loss(fake_logits: Tensor, form: str = "paper", real_logits: Tensor | None = None) -> Tensor:
    """The generator's adversarial term, from a discriminator pass made after the discriminator's update.
    "ragan" also needs D's logits of the HR images (`real_logits`, no gradient needed)."""
    fake_logits = fake_logits.float()
    if form == "paper":
        return 1.0 - fake_logits.sigmoid().mean()
    if form == "bce":
        return _bce(fake_logits, 1.0)
    if form == "ragan":
        if real_logits is None:
            raise SpectraFrameError("the ragan adversarial term needs the discriminator's logits of the HR images")
        real_logits = real_logits.float()
        return 0.5 * (_bce(real_logits - fake_logits.mean(), 0.0) + _bce(fake_logits - real_logits.mean(), 1.0))
    raise _unknown_form(form)


def temporal_loss(sr: Tensor, sr_next: Tensor, hr: Tensor, hr_next: Tensor, flow_lr: Tensor) -> Tensor:
    """Flow-warped temporal consistency relative to the ground truth, L1:
    | (SR_t - W(SR_t+1)) - (HR_t - W(HR_t+1)) |, W the backward warp by the LR flow from t to t+1 scaled up
    to HR. The output may change between frames only as the ground truth does: flicker (texture that
    appears in one frame and not the next) is penalised, while motion, occlusions and flow errors, which
    the ground truth's own warp residual carries too, are not. Gradients reach both outputs."""
    from spectraframe.flow.api import warp

    scale = sr.shape[-1] // flow_lr.shape[-1]
    if scale * flow_lr.shape[-1] != sr.shape[-1] or scale * flow_lr.shape[-2] != sr.shape[-2]:
        raise SpectraFrameError(f"temporal loss: output {tuple(sr.shape[-2:])} is not an integer multiple of "
                                f"the flow's {tuple(flow_lr.shape[-2:])}")
    flow_hr = F.interpolate(flow_lr.float(), scale_factor=scale, mode="bilinear", align_corners=False) * scale
    return F.l1_loss(sr - warp(sr_next, flow_hr), hr - warp(hr_next, flow_hr))


def _normalized_distance(outputs: Tensor, targets: Tensor) -> Tensor:
    from spectraframe.archs.vgg import unit_normalize_channels

    difference = unit_normalize_channels(outputs) - unit_normalize_channels(targets)
    return difference.pow(2).sum(dim=1).mean()


class PerceptualLoss(nn.Module):
    """Distance between frozen ImageNet VGG16 features of output and target, summed over `layers`
    (each times its entry of `layer_weights`, 1 when None).

    The paper's: MSE of pool5 features of unnormalised [0, 1] RGB. ESRGAN's: L1 of the last conv features
    before their ReLU (here conv5_3, VGG16's last) of ImageNet-normalised input, which keep the negative
    responses that a ReLU would zero and are less dominated by a few strong activations. "normalized":
    LPIPS's distance without its learnt per-channel heads (Zhang et al. 2018, the "lin" off baseline; the
    perceptual loss of VQGAN-style autoencoders is the calibrated one): each position's feature vector
    scaled to unit length, squared difference summed over channels, mean over positions, so every layer
    counts by how its pattern of activations differs, not by how large its activations are.
    """

    def __init__(self, weights_path: str | None = None, imagenet_normalize: bool = False,
                 layers: tuple[str, ...] = ("pool5",), criterion: str = "mse",
                 layer_weights: tuple[float, ...] | None = None):
        super().__init__()
        from spectraframe.archs.vgg import VGG16Features

        if criterion not in PERCEPTUAL_CRITERIA:
            raise SpectraFrameError(f"unknown perceptual criterion {criterion!r}: choose one of "
                                    f"{', '.join(PERCEPTUAL_CRITERIA)}")
        # The published recipe feeds [0, 1] RGB to VGG without ImageNet normalisation; its 6e-3 weight
        # was tuned for features of that scale, so that is the default.
        self.layers = tuple(layers)
        self.layer_weights = tuple(layer_weights) if layer_weights is not None else (1.0,) * len(self.layers)
        if len(self.layer_weights) != len(self.layers):
            raise SpectraFrameError(f"{len(self.layer_weights)} perceptual layer weights for "
                                    f"{len(self.layers)} layers {list(self.layers)}: give one per layer")
        self.distance = {"mse": F.mse_loss, "l1": F.l1_loss, "normalized": _normalized_distance}[criterion]
        self.features = VGG16Features(weights=weights_path or "auto", layers=self.layers,
                                      imagenet_normalize=imagenet_normalize)

    def train(self, mode: bool = True) -> PerceptualLoss:
        # Frozen: the feature network stays in eval mode whatever the trainer does.
        super().train(mode)
        self.features.eval()
        return self

    def forward(self, sr: Tensor, hr: Tensor) -> Tensor:
        with torch.no_grad():
            targets = self.features(hr)
        outputs = self.features(sr)
        return sum(weight * self.distance(outputs[name], targets[name])
                   for name, weight in zip(self.layers, self.layer_weights, strict=True))


@dataclass
class LossWeights:
    pixel: float = 1.0
    adversarial: float = 1e-3
    perceptual: float = 6e-3
    tv: float = 2e-8
    temporal: float = 0.0


class GeneratorLoss(nn.Module):
    """Weighted generator loss. `forward` returns (total, components as detached float32 tensors).

    `fake_logits=None` (warm-up phase) leaves the GAN-phase terms out (adversarial, perceptual, TV, temporal).
    The VGG network is only built when its weight is > 0, so a missing VGG file is an error exactly when it
    matters. `real_logits` (ragan) are D's logits of HR; `temporal` is (SR_t+1, HR_t+1, LR flow t -> t+1).
    """

    def __init__(self, weights: LossWeights, pixel: str = "mse", gan_form: str = "paper",
                 vgg_weights: str | None = None, vgg_imagenet_normalize: bool = False,
                 perceptual_layers: tuple[str, ...] = ("pool5",), perceptual_criterion: str = "mse",
                 perceptual_layer_weights: tuple[float, ...] | None = None):
        super().__init__()
        if gan_form not in GAN_FORMS:
            raise _unknown_form(gan_form)
        self.weights = weights
        self.pixel = pixel
        self.gan_form = gan_form
        self.perceptual = None
        if weights.perceptual > 0:
            self.perceptual = PerceptualLoss(vgg_weights, vgg_imagenet_normalize, tuple(perceptual_layers),
                                             perceptual_criterion, perceptual_layer_weights)

    def forward(self, sr: Tensor, hr: Tensor, fake_logits: Tensor | None = None, *,
                real_logits: Tensor | None = None,
                temporal: tuple[Tensor, Tensor, Tensor] | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        sr, hr = sr.float(), hr.float()
        parts = {"pixel": pixel_loss(sr, hr, self.pixel)}
        total = self.weights.pixel * parts["pixel"]
        if fake_logits is not None:
            if self.weights.adversarial > 0:
                parts["adversarial"] = adversarial_loss(fake_logits, self.gan_form, real_logits)
                total = total + self.weights.adversarial * parts["adversarial"]
            if self.perceptual is not None:
                parts["perceptual"] = self.perceptual(sr, hr)
                total = total + self.weights.perceptual * parts["perceptual"]
            if self.weights.tv > 0:
                parts["tv"] = tv_loss(sr)
                total = total + self.weights.tv * parts["tv"]
            if self.weights.temporal > 0:
                if temporal is None:
                    raise SpectraFrameError("loss.temporal_weight > 0 needs the next frame's output, ground "
                                            "truth and flow (the trainer's temporal batches)")
                sr_next, hr_next, flow = temporal
                parts["temporal"] = temporal_loss(sr, sr_next.float(), hr, hr_next.float(), flow)
                total = total + self.weights.temporal * parts["temporal"]
        return total, {k: v.detach() for k, v in parts.items()}
