"""The generator interface: what training, evaluation, tiling and the upscale pipeline call.

Three implementations: `spectraframe.archs.rbpn.RBPN` (the nn.Module), `spectraframe.accelerate.FastGenerator`
(the inference copy: channels-last, bf16, frozen activations) and `spectraframe.export.OnnxGenerator`
(ONNX Runtime); `SelfEnsemble` runs any of them on the 8 flips/rotations of the input. `generator_device` says
where one computes.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor, nn

from spectraframe.archs.rbpn import RBPNConfig
from spectraframe.data.augment import ALL_SYMMETRIES


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


class SelfEnsemble:
    """Test-time self-ensemble (EDSR's "+" models, BasicSR's x8 testing): `generator` on the 8 flips and rotations
    of the window, the flows transformed with the frames (`Symmetry.flows`, estimated once), each output turned
    back and the 8 averaged in float32. Eight network passes for one frame: a quality setting, not a fast one."""

    def __init__(self, generator: Generator):
        self.generator = generator

    @property
    def config(self) -> RBPNConfig:
        return self.generator.config

    @property
    def device(self) -> torch.device:
        return generator_device(self.generator)

    def describe(self) -> str:
        inner = self.generator.describe() if hasattr(self.generator, "describe") else type(self.generator).__name__
        return f"{inner}, self-ensemble x{len(ALL_SYMMETRIES)}"

    def __call__(self, target: Tensor, neighbours: Tensor, flows: Tensor) -> Tensor:
        total = None
        for symmetry in ALL_SYMMETRIES:
            out = self.generator(symmetry.images(target), symmetry.images(neighbours), symmetry.flows(flows))
            out = symmetry.invert_images(out.float())
            total = out if total is None else total.add_(out)
        return total.div_(len(ALL_SYMMETRIES))
