"""RBPN with int8 fake quantization: the network that quantization-aware training (QAT) fine-tunes, and whose
export is the int8 model OpenVINO runs.

Every quantized convolution sees its input through an `ActivationQuantizer` (per tensor, uint8 levels with a zero
point, the range calibrated on whole frames) and its weights through `quantize_weight` (per output channel,
symmetric int8).
That is the arithmetic of OpenVINO's int8 convolutions (uint8 x int8 products summed in int32, scaled back to
float, bias and activation after), so what training sees is what the CPU computes. Exported to ONNX, the fake
quantization becomes QuantizeLinear/DequantizeLinear pairs that OpenVINO reads as its own FakeQuantize.

Left in floating point: the first convolutions (`feat0`, `feat1`: they read the frames and the flows) with their
outputs, and the neighbour encoder's first residual block (`FLOAT_ACTIVATIONS`), whose activations follow the
frame's content and the flows' magnitude, which change from frame to frame more than one 8-bit range can hold (they
are most of what quantizing every activation loses: docs/speed.md, experiments/int8_choices.py); and the fixed
bicubic residual. Everything else, the output layer included, is int8.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from spectraframe.archs.rbpn import (
    RBPN,
    ConvBlock,
    DeconvBlock,
    DownBlock,
    RBPNConfig,
    ResnetBlock,
    UpBlock,
    bicubic_residual,
)

FLOAT_ACTIVATIONS = ("res_feat1.0.inner_quant", "res_feat1.0.branch_quant")
ACTIVATION_LEVELS = (0, 255)  # uint8
WEIGHT_LEVELS = (-128, 127)  # int8; the scale maps the largest weight of a channel to 127, so -128 is unused


class ActivationQuantizer(nn.Module):
    """Per-tensor uint8 fake quantization over a fixed range [low, high], set by `calibrate_quantizers` to the mean
    over whole training frames of each frame's extremes (NNCF's default for activations). Gradients pass straight
    through inside the range.

    Not the extremes over all frames: one frame with an outlier would coarsen the steps for every other; not
    quantiles: clipping the large activations of each frame costs more; not learned on training patches: they reach
    smaller extremes than whole frames, so a range fitted to them clips at inference (experiments/int8_choices.py
    measures each)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("low", torch.tensor(0.0))
        self.register_buffer("high", torch.tensor(0.0))
        self.register_buffer("calibrated", torch.tensor(False))
        self.calibrating = False
        self.extremes: list[tuple[float, float]] = []

    @torch.no_grad()
    def finish_calibration(self) -> None:
        if not self.extremes:
            raise RuntimeError("no input reached this quantizer during calibration")
        lows, highs = zip(*self.extremes, strict=True)
        low = min(sum(lows) / len(lows), 0.0)  # zero stays exactly representable (padding, PReLU's kink)
        self.low.fill_(low)
        self.high.fill_(max(sum(highs) / len(highs), low + 1e-3))
        self.calibrated.fill_(True)
        self.extremes = []

    def step_and_zero_point(self) -> tuple[float, int]:
        qmin, qmax = ACTIVATION_LEVELS
        step = (float(self.high) - float(self.low)) / (qmax - qmin)
        return step, int(min(max(round(qmin - float(self.low) / step), qmin), qmax))

    def forward(self, x: Tensor) -> Tensor:
        if self.calibrating:
            self.extremes.append((float(x.min()), float(x.max())))
            return x
        if not bool(self.calibrated):
            raise RuntimeError("an int8 model's quantizers are not calibrated: run calibrate_quantizers first")
        # The built-in operator: what the ONNX export turns into QuantizeLinear/DequantizeLinear.
        return torch.fake_quantize_per_tensor_affine(x.float(), *self.step_and_zero_point(), *ACTIVATION_LEVELS)


def quantize_weight(weight: Tensor, axis: int = 0) -> Tensor:
    """Symmetric int8 fake quantization per output channel (`axis`), the step set by the channel's largest
    weight; gradients pass straight through."""
    dims = [d for d in range(weight.dim()) if d != axis]
    step = (weight.detach().abs().amax(dim=dims) / WEIGHT_LEVELS[1]).clamp_min(1e-12).float()
    zero_point = torch.zeros_like(step, dtype=torch.int32)
    return torch.fake_quantize_per_channel_affine(weight.float(), step, zero_point, axis, *WEIGHT_LEVELS)


# --- blocks: the float blocks with their activations quantized where OpenVINO's int8 graph keeps them ----------
#
# Every tensor a convolution reads is the output of a quantizer (so each is quantized once, however many layers
# read it), and so are the operands of the residual sums and differences: activations then travel between layers
# as uint8, and the sums fuse into the convolutions. Parameter names are the float blocks' (`conv`, `act`, ...).


def quantized_conv(conv: nn.Conv2d | nn.ConvTranspose2d, x: Tensor) -> Tensor:
    """`conv` applied with its weights fake-quantized (its input is a quantizer's output already)."""
    if isinstance(conv, nn.ConvTranspose2d):
        return F.conv_transpose2d(x, quantize_weight(conv.weight, axis=1), conv.bias, conv.stride, conv.padding,
                                  conv.output_padding, conv.groups, conv.dilation)
    return conv._conv_forward(x, quantize_weight(conv.weight), conv.bias)


class QuantizedConvBlock(nn.Module):
    """ConvBlock / DeconvBlock: conv (int8 weights), activation, output quantized."""

    def __init__(self, block: ConvBlock | DeconvBlock):
        super().__init__()
        conv = block.conv if isinstance(block, ConvBlock) else block.deconv
        self.kind = "conv" if isinstance(block, ConvBlock) else "deconv"
        setattr(self, self.kind, conv)
        self.act = block.act
        self.out_quant = ActivationQuantizer()

    def forward(self, x: Tensor) -> Tensor:
        out = quantized_conv(getattr(self, self.kind), x)
        return self.out_quant(self.act(out) if self.act is not None else out)


class QuantizedResnetBlock(nn.Module):
    def __init__(self, block: ResnetBlock):
        super().__init__()
        self.conv1, self.conv2, self.act = block.conv1, block.conv2, block.act
        self.inner_quant, self.branch_quant, self.out_quant = (ActivationQuantizer() for _ in range(3))

    def forward(self, x: Tensor) -> Tensor:
        inner = self.inner_quant(self.act(quantized_conv(self.conv1, x)))
        branch = self.branch_quant(quantized_conv(self.conv2, inner))
        return self.out_quant(self.act(branch + x))


class QuantizedProjection(nn.Module):
    """UpBlock / DownBlock: first, second, third = their three projections (QuantizedConvBlocks);
    out = third(q(second(first(x)) - x)) + first(x), both the difference and the sum quantized."""

    def __init__(self, block: UpBlock | DownBlock):
        super().__init__()
        self.prefix = "up_conv" if isinstance(block, UpBlock) else "down_conv"
        for i in (1, 2, 3):
            setattr(self, f"{self.prefix}{i}", QuantizedConvBlock(getattr(block, f"{self.prefix}{i}")))
        self.difference_quant, self.out_quant = ActivationQuantizer(), ActivationQuantizer()

    def forward(self, x: Tensor) -> Tensor:
        first, second, third = (getattr(self, f"{self.prefix}{i}") for i in (1, 2, 3))
        start = first(x)
        return self.out_quant(third(self.difference_quant(second(start) - x)) + start)


def quantize_blocks(module: nn.Module) -> None:
    """Replace, inside `module`, every float block by its quantized form (the parameters move over)."""
    for name, child in list(module.named_children()):
        if isinstance(child, ConvBlock | DeconvBlock):
            setattr(module, name, QuantizedConvBlock(child))
        elif isinstance(child, ResnetBlock):
            setattr(module, name, QuantizedResnetBlock(child))
        elif isinstance(child, UpBlock | DownBlock):
            setattr(module, name, QuantizedProjection(child))
        else:
            quantize_blocks(child)


# --- the generator ----------------------------------------------------------------------------------------


class QuantizedRBPN(RBPN):
    """RBPN with int8 fake quantization (see the module doc). Same parameters as RBPN (`load_float_weights` takes
    an RBPN's state dict), plus the quantizers' ranges, which `calibrate_quantizers` sets."""

    def __init__(self, config: RBPNConfig | None = None, **overrides):
        super().__init__(config, **overrides)
        n = self.config.num_frames - 1
        quantize_blocks(self.DBPN)
        for stack in (self.res_feat1, self.res_feat2, self.res_feat3):
            quantize_blocks(stack)
        for name in FLOAT_ACTIVATIONS:
            parent, _, child = name.rpartition(".")
            if hasattr(self.get_submodule(parent), child):  # a config without residual blocks has no res_feat1.0
                setattr(self.get_submodule(parent), child, nn.Identity())
        # Per neighbour j: the difference h0 - projected_j, the HR features, the output layer's part and the sum.
        self.difference_quant, self.hr_quant, self.part_quant = (
            nn.ModuleList(ActivationQuantizer() for _ in range(n)) for _ in range(3))
        self.sum_quant = nn.ModuleList(ActivationQuantizer() for _ in range(n - 1))

    def load_float_weights(self, state: dict[str, Tensor]) -> None:
        """An RBPN's weights; the quantizers keep their state (uncalibrated in a new model)."""
        try:
            missing, unexpected = self.load_state_dict(state, strict=False)
        except RuntimeError as exc:  # shapes that differ
            raise ValueError(f"not an RBPN of this shape: {exc}") from None
        if unexpected or any(not is_quantizer_state(k) for k in missing):
            raise ValueError(f"not an RBPN of this shape: missing {missing}, unexpected {unexpected}")

    def forward(self, target: Tensor, neighbours: Tensor, flows: Tensor) -> Tensor:
        if not torch.jit.is_tracing():
            self.check_inputs(target, neighbours, flows)
        b, _, _, h, w = neighbours.shape
        n = self.config.num_frames - 1
        state = self.feat0(target)
        pairs = torch.cat([target.unsqueeze(1).expand(b, n, 3, h, w), neighbours, flows], dim=2)
        projected = self.res_feat1(self.feat1(pairs.reshape(b * n, 8, h, w)))
        projected = projected.reshape(b, n, *projected.shape[1:])
        conv, feat = self.output.conv, self.config.feat
        out = None
        for j in range(n):
            h0 = self.DBPN(state)
            hr = self.hr_quant[j](h0 + self.res_feat2(self.difference_quant[j](h0 - projected[:, j])))
            weight = quantize_weight(conv.weight[:, j * feat:(j + 1) * feat])
            part = self.part_quant[j](F.conv2d(hr, weight, conv.bias if j == 0 else None, conv.stride, conv.padding))
            out = part if out is None else self.sum_quant[j - 1](out + part)
            if j < n - 1 or torch.is_grad_enabled():
                state = self.res_feat3(hr)
        if self.config.layout == "lr":
            out = F.pixel_shuffle(out, self.config.scale)
        if self.config.residual:
            out = out + bicubic_residual(target.float(), self.config.scale)
        return out


@torch.no_grad()
def calibrate_quantizers(model: nn.Module, windows: Iterable[tuple[Tensor, Tensor, Tensor]]) -> None:
    """Set the range of every quantizer in `model` from its input on `windows` (target, neighbours, flows; one
    window at a time, whole frames), the activations left unquantized on the way."""
    quantizers = [m for m in model.modules() if isinstance(m, ActivationQuantizer)]
    for quantizer in quantizers:
        quantizer.calibrating = True
    try:
        for target, neighbours, flows in windows:
            model(target, neighbours, flows)
    finally:
        for quantizer in quantizers:
            quantizer.calibrating = False
    for quantizer in quantizers:
        quantizer.finish_calibration()


def is_quantizer_state(key: str) -> bool:
    return "_quant." in key
