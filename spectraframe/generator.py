"""The generator interface: what training, evaluation, tiling and the upscale pipeline call.

Three implementations: `spectraframe.archs.rbpn.RBPN` (the nn.Module), `spectraframe.accelerate.FastGenerator`
(the inference copy: channels-last, bf16, frozen activations) and `spectraframe.export.OnnxGenerator`
(ONNX Runtime). `generator_device` says where one computes.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor, nn

from spectraframe.archs.rbpn import RBPNConfig


class Generator(Protocol):
    """Called like RBPN: target (B,3,h,w), neighbours (B,N,3,h,w) in RBPN order and flows (B,N,2,h,w) from the
    target to each neighbour, in [0, 1] -> HR (B,3,h*s,w*s). `config` fixes scale and frame count. Where it
    computes: a `device` attribute, or for an nn.Module its parameters' device (see `generator_device`)."""

    @property
    def config(self) -> RBPNConfig: ...

    def __call__(self, target: Tensor, neighbours: Tensor, flows: Tensor) -> Tensor: ...


def generator_device(model: Generator) -> torch.device:
    """Where a generator computes: a module's parameters, or the `device` attribute of other generators (CPU when
    it has none: ONNX Runtime takes CPU tensors whatever its provider)."""
    if isinstance(model, nn.Module):
        return next(model.parameters()).device
    return torch.device(getattr(model, "device", "cpu"))
