"""Losses of the SpectraFrame GAN (iSeeBetter/SRGAN recipe), each a mean over the batch.

Generator: pixel (MSE or L1) + 1e-3 adversarial + 6e-3 perceptual (MSE of frozen VGG16 features through
pool5) + 2e-8 total variation (squared differences); the weights are configurable.
Discriminator ("paper" form): 1 - mean D(HR) + mean D(SR), D the sigmoid score; the generator's
adversarial term is mean(1 - D(SR)). The "bce" form is the standard BCE-with-logits GAN loss.
The discriminator's `.logits()` feed both forms: the sigmoid is applied here, in float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spectraframe.errors import SpectraFrameError

GAN_FORMS = ("paper", "bce")


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


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor, form: str = "paper") -> Tensor:
    real_logits, fake_logits = real_logits.float(), fake_logits.float()
    if form == "paper":
        return 1.0 - real_logits.sigmoid().mean() + fake_logits.sigmoid().mean()
    if form == "bce":
        return F.binary_cross_entropy_with_logits(
            real_logits, torch.ones_like(real_logits)
        ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    raise SpectraFrameError(f"unknown GAN loss form {form!r}: choose one of {', '.join(GAN_FORMS)}")


def adversarial_loss(fake_logits: Tensor, form: str = "paper") -> Tensor:
    """The generator's adversarial term, from a discriminator pass made after the discriminator's update."""
    fake_logits = fake_logits.float()
    if form == "paper":
        return 1.0 - fake_logits.sigmoid().mean()
    if form == "bce":
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    raise SpectraFrameError(f"unknown GAN loss form {form!r}: choose one of {', '.join(GAN_FORMS)}")


class PerceptualLoss(nn.Module):
    """MSE between frozen ImageNet VGG16 features (conv stack through pool5) of output and target."""

    def __init__(self, weights_path: str | None = None, imagenet_normalize: bool = False):
        super().__init__()
        from spectraframe.archs.vgg import VGG16Features

        # The published recipe feeds [0, 1] RGB to VGG without ImageNet normalisation; its 6e-3 weight
        # was tuned for features of that scale, so that is the default.
        self.features = VGG16Features(weights=weights_path or "auto", layers=("pool5",),
                                      imagenet_normalize=imagenet_normalize)

    def train(self, mode: bool = True) -> PerceptualLoss:
        # Frozen: the feature network stays in eval mode whatever the trainer does.
        super().train(mode)
        self.features.eval()
        return self

    def forward(self, sr: Tensor, hr: Tensor) -> Tensor:
        with torch.no_grad():
            target = self.features(hr)["pool5"]
        return F.mse_loss(self.features(sr)["pool5"], target)


@dataclass
class LossWeights:
    pixel: float = 1.0
    adversarial: float = 1e-3
    perceptual: float = 6e-3
    tv: float = 2e-8


class GeneratorLoss(nn.Module):
    """Weighted generator loss. `forward` returns (total, components as detached float32 tensors).

    `fake_logits=None` (warm-up phase) leaves the adversarial term out. The VGG network is only
    built when its weight is > 0, so a missing VGG file is an error exactly when it matters.
    """

    def __init__(self, weights: LossWeights, pixel: str = "mse", gan_form: str = "paper",
                 vgg_weights: str | None = None, vgg_imagenet_normalize: bool = False):
        super().__init__()
        if gan_form not in GAN_FORMS:
            raise SpectraFrameError(f"unknown GAN loss form {gan_form!r}: choose one of {', '.join(GAN_FORMS)}")
        self.weights = weights
        self.pixel = pixel
        self.gan_form = gan_form
        self.perceptual = (PerceptualLoss(vgg_weights, vgg_imagenet_normalize) if weights.perceptual > 0 else None)

    def forward(self, sr: Tensor, hr: Tensor, fake_logits: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        sr, hr = sr.float(), hr.float()
        parts = {"pixel": pixel_loss(sr, hr, self.pixel)}
        total = self.weights.pixel * parts["pixel"]
        if fake_logits is not None:
            if self.weights.adversarial > 0:
                parts["adversarial"] = adversarial_loss(fake_logits, self.gan_form)
                total = total + self.weights.adversarial * parts["adversarial"]
            if self.perceptual is not None:
                parts["perceptual"] = self.perceptual(sr, hr)
                total = total + self.weights.perceptual * parts["perceptual"]
            if self.weights.tv > 0:
                parts["tv"] = tv_loss(sr)
                total = total + self.weights.tv * parts["tv"]
        return total, {k: v.detach() for k, v in parts.items()}
