"""Training-time over-parameterisation of a network's 3x3 convolutions, fused away for inference.

Each 3x3 convolution's kernel is trained as the sum of its own weight and an expand-convolve-squeeze branch
(a 1x1 convolution to `expansion` times the channels, a 3x3 between the wide channels, a 1x1 back: SPAN's
Conv3XC, ECBSR's expand-squeeze). All three are linear and bias-free, so their product is one 3x3 kernel: the
network computes exactly one convolution per layer in training and after fusion, and the exported weights are
a plain RBPN of the same shape and speed. What changes is how gradient descent moves the kernel.

The branch's squeeze starts at zero, so an over-parameterised network starts as the network it was made from
(Kaiming, zero-initialised corrections or loaded weights alike), like a LoRA adapter.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from spectraframe.archs.rbpn import RBPN
from spectraframe.errors import SpectraFrameError


class ExpandedKernel(nn.Module):
    """The parametrisation: kernel -> kernel + squeeze @ wide 3x3 @ expand (contracted over the channels)."""

    def __init__(self, out_channels: int, in_channels: int, kernel_size: int, expansion: int):
        super().__init__()
        wide_in, wide_out = in_channels * expansion, out_channels * expansion
        expand = nn.Conv2d(in_channels, wide_in, 1, bias=False)
        wide = nn.Conv2d(wide_in, wide_out, kernel_size, bias=False)
        # nn.Conv2d's own initialisation, kept as bare matrices: the branch is never run as convolutions.
        self.expand = nn.Parameter(expand.weight.detach()[:, :, 0, 0].clone())
        self.wide = nn.Parameter(wide.weight.detach().clone())
        self.squeeze = nn.Parameter(torch.zeros(out_channels, wide_out))

    def forward(self, kernel: Tensor) -> Tensor:
        branch = torch.einsum("ob,bakl,ai->oikl", self.squeeze, self.wide, self.expand)
        return kernel + branch.to(kernel.dtype)


def _expandable(module: nn.Module) -> bool:
    return (type(module) is nn.Conv2d and module.kernel_size == (3, 3) and module.stride == (1, 1)
            and module.groups == 1 and module.dilation == (1, 1))


def overparameterise(model: nn.Module, expansion: int) -> nn.Module:
    """Give every plain 3x3 convolution of `model` an expand-squeeze branch `expansion` times as wide (in place)."""
    if expansion < 1:
        raise SpectraFrameError(f"the over-parameterisation's expansion must be >= 1, got {expansion}")
    if is_overparameterised(model):
        raise SpectraFrameError("the model is over-parameterised already")
    convolutions = [m for m in model.modules() if _expandable(m)]
    if not convolutions:
        raise SpectraFrameError(f"{type(model).__name__} has no 3x3 convolution to over-parameterise")
    for conv in convolutions:
        branch = ExpandedKernel(conv.out_channels, conv.in_channels, conv.kernel_size[0], expansion)
        parametrize.register_parametrization(conv, "weight", branch.to(conv.weight))
    return model


def is_overparameterised(model: nn.Module) -> bool:
    return any(parametrize.is_parametrized(m) for m in model.modules())


def fused_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """`model`'s state with every branch folded into its kernel: the keys and values of the plain network."""
    state = {key: value for key, value in model.state_dict().items() if ".parametrizations." not in key}
    with torch.no_grad():
        for name, module in model.named_modules():
            if parametrize.is_parametrized(module):
                for tensor_name in module.parametrizations:
                    state[f"{name}.{tensor_name}" if name else tensor_name] = getattr(module, tensor_name).detach()
    return state


def fused(model: RBPN) -> RBPN:
    """A plain RBPN computing what `model` computes (`model` itself when it has no branches)."""
    if not is_overparameterised(model):
        return model
    # A new module, not a deep copy: parametrize's class-level properties are shared with copies, so removing them
    # from a copy would break the original.
    reference = next(model.parameters())
    plain = RBPN(model.config).to(device=reference.device, dtype=reference.dtype)
    plain.load_state_dict(fused_state_dict(model))
    return plain.train(model.training).requires_grad_(reference.requires_grad)
