"""Recurrent Back-Projection Network (Haris et al., CVPR 2019).

Module and parameter names follow the published RBPN code, so its checkpoints load without renaming.
Reads top to bottom: blocks -> DBPN single-image branch -> RBPN.

Two layouts of the same network:
* ``hr`` (published): the projections are 8x8 strided (de)convolutions and the high-resolution features
  live at HR size;
* ``lr``: every high-resolution feature map is kept at LR size in pixel-shuffle (space-to-depth) form, so
  the up/down projections become 3x3 convolutions between ``base_filter`` LR channels and ``feat``
  depth-form channels, and only the output layer is pixel-shuffled to HR. Same recurrence, same
  back-projection (h1 = up(down(up(x)) - x) + up(x)); all convolutions run at LR size, where wide
  channel counts keep the CPU's matrix units busy.
"""

from __future__ import annotations

import functools
from contextlib import nullcontext
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from spectraframe.errors import SpectraFrameError

# Projection (de)convolution geometry per scale: kernel, stride, padding.
PROJECTION_GEOMETRY: dict[int, tuple[int, int, int]] = {2: (6, 2, 2), 4: (8, 4, 2), 8: (12, 8, 2)}
LAYOUTS = ("hr", "lr")


@dataclass(frozen=True)
class RBPNConfig:
    """Everything that fixes the generator's shape. Defaults are the published configuration."""

    scale: int = 4
    num_frames: int = 7
    base_filter: int = 256
    feat: int = 64
    num_stages: int = 3
    n_resblock: int = 5
    # Add a bicubic upsampling of the target to the output (no parameters); the paper model does not.
    residual: bool = False
    # "hr": the published layout; "lr": projections at LR size in pixel-shuffle form (see the module doc).
    layout: str = "hr"

    def __post_init__(self) -> None:
        if self.scale not in PROJECTION_GEOMETRY:
            raise SpectraFrameError(f"scale must be one of {sorted(PROJECTION_GEOMETRY)}, got {self.scale}")
        if self.num_frames < 2:
            raise SpectraFrameError(
                f"num_frames counts the target and its neighbours: at least 2, got {self.num_frames}")
        if self.num_stages < 1 or self.n_resblock < 0:
            raise SpectraFrameError(
                f"num_stages must be >= 1 and n_resblock >= 0, got {self.num_stages} and {self.n_resblock}")
        if min(self.base_filter, self.feat) < 1:
            raise SpectraFrameError(f"base_filter and feat must be >= 1, got {self.base_filter} and {self.feat}")
        if self.layout not in LAYOUTS:
            raise SpectraFrameError(f"layout must be one of {', '.join(LAYOUTS)}, got {self.layout!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> RBPNConfig:
        known = {k: values[k] for k in cls.__dataclass_fields__ if k in values}
        return cls(**known)


PRESETS: dict[str, RBPNConfig] = {
    "paper": RBPNConfig(),
    # The published layout made small: the default weights until the efficient preset replaced them.
    "compact": RBPNConfig(num_frames=3, base_filter=32, feat=16, num_stages=1, n_resblock=1, residual=True),
    # The default since: every projection at LR size (layout "lr"), 64 depth-form channels, chosen by the
    # ladder in training/README.md; its speed against compact is in benchmarks/results/default_speed.md.
    "efficient": RBPNConfig(num_frames=3, base_filter=32, feat=64, num_stages=1, n_resblock=1, residual=True,
                            layout="lr"),
}


# --- blocks ------------------------------------------------------------------------------------


class ConvBlock(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int, padding: int, act: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, bias=True)
        self.act = nn.PReLU() if act else None

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv(x)
        return self.act(out) if self.act is not None else out


class DeconvBlock(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int, padding: int):
        super().__init__()
        self.deconv = nn.ConvTranspose2d(cin, cout, kernel, stride, padding, bias=True)
        self.act = nn.PReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.deconv(x))


class ResnetBlock(nn.Module):
    """act(conv1(x)) -> conv2 -> + x -> act, one PReLU shared by both activations."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1, bias=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=True)
        self.act = nn.PReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.conv2(self.act(self.conv1(x))) + x)


def up_projection(cin: int, cout: int, layout: str, scale: int) -> nn.Module:
    """LR -> HR features: a strided deconvolution (``hr``), or a 3x3 convolution into depth form (``lr``)."""
    if layout == "lr":
        return ConvBlock(cin, cout, 3, 1, 1)
    return DeconvBlock(cin, cout, *PROJECTION_GEOMETRY[scale])


def down_projection(cin: int, cout: int, layout: str, scale: int) -> nn.Module:
    """HR -> LR features: a strided convolution (``hr``), or a 3x3 convolution out of depth form (``lr``)."""
    if layout == "lr":
        return ConvBlock(cin, cout, 3, 1, 1)
    return ConvBlock(cin, cout, *PROJECTION_GEOMETRY[scale])


class UpBlock(nn.Module):
    """Up-projection: h0 = up(x); l0 = down(h0); h1 = up(l0 - x); return h1 + h0."""

    def __init__(self, low: int, high: int, layout: str, scale: int):
        super().__init__()
        self.up_conv1 = up_projection(low, high, layout, scale)
        self.up_conv2 = down_projection(high, low, layout, scale)
        self.up_conv3 = up_projection(low, high, layout, scale)

    def forward(self, x: Tensor) -> Tensor:
        h0 = self.up_conv1(x)
        l0 = self.up_conv2(h0)
        return self.up_conv3(l0 - x) + h0


class DownBlock(nn.Module):
    """Down-projection: l0 = down(x); h0 = up(l0); l1 = down(h0 - x); return l1 + l0."""

    def __init__(self, low: int, high: int, layout: str, scale: int):
        super().__init__()
        self.down_conv1 = down_projection(high, low, layout, scale)
        self.down_conv2 = up_projection(low, high, layout, scale)
        self.down_conv3 = down_projection(high, low, layout, scale)

    def forward(self, x: Tensor) -> Tensor:
        l0 = self.down_conv1(x)
        h0 = self.down_conv2(l0)
        return self.down_conv3(h0 - x) + l0


def residual_stack(channels: int, n_resblock: int, tail: nn.Module) -> nn.Sequential:
    """n residual blocks then a tail layer; indices match the published `res_feat*` names."""
    return nn.Sequential(*[ResnetBlock(channels) for _ in range(n_resblock)], tail)


# --- single-image branch ------------------------------------------------------------------------


class DBPNS(nn.Module):
    """DBPN-S: 1x1 reduction, alternating up/down projections, 1x1 fusion of all up-projection outputs.

    The published layout reduces ``base_filter`` to ``feat`` LR channels and projects to ``feat`` HR
    channels; the ``lr`` layout keeps ``base_filter`` LR channels and projects to ``feat`` depth-form ones.
    """

    def __init__(self, base_filter: int, feat: int, num_stages: int, scale: int, layout: str = "hr"):
        super().__init__()
        low = base_filter if layout == "lr" else feat
        self.num_stages = num_stages
        self.feat1 = ConvBlock(base_filter, low, 1, 1, 0)
        for i in range(1, num_stages + 1):
            self.add_module(f"up{i}", UpBlock(low, feat, layout, scale))
            if i < num_stages:
                self.add_module(f"down{i}", DownBlock(low, feat, layout, scale))
        self.output = ConvBlock(num_stages * feat, feat, 1, 1, 0, act=False)

    def forward(self, x: Tensor) -> Tensor:
        h = self.up1(self.feat1(x))
        ups = [h]
        for i in range(2, self.num_stages + 1):
            h = getattr(self, f"up{i}")(getattr(self, f"down{i - 1}")(h))
            ups.append(h)
        # The published model concatenates the newest first: (h3, h2, h1).
        return self.output(torch.cat(ups[::-1], dim=1))


# --- the generator ------------------------------------------------------------------------------


class RBPN(nn.Module):
    """RBPN generator.

    forward(target (B,3,h,w), neighbours (B,F-1,3,h,w), flows (B,F-1,2,h,w)) -> (B,3,h*s,w*s).
    Neighbours come in the order t-k .. t-1, t+1 .. t+k; flows go from the target to each neighbour
    in LR pixels. Inputs are RGB in [0, 1].
    """

    def __init__(self, config: RBPNConfig | None = None, **overrides):
        super().__init__()
        config = config or RBPNConfig()
        if overrides:
            config = RBPNConfig.from_dict({**config.to_dict(), **overrides})
        self.config = config
        c = config
        self.feat0 = ConvBlock(3, c.base_filter, 3, 1, 1)
        self.feat1 = ConvBlock(8, c.base_filter, 3, 1, 1)
        self.DBPN = DBPNS(c.base_filter, c.feat, c.num_stages, c.scale, c.layout)
        self.res_feat1 = residual_stack(c.base_filter, c.n_resblock,
                                        up_projection(c.base_filter, c.feat, c.layout, c.scale))
        self.res_feat2 = residual_stack(c.feat, c.n_resblock, ConvBlock(c.feat, c.feat, 3, 1, 1))
        self.res_feat3 = residual_stack(c.feat, c.n_resblock,
                                        down_projection(c.feat, c.base_filter, c.layout, c.scale))
        # The lr layout predicts the s*s sub-pixel phases of each output channel, pixel-shuffled to HR.
        out_channels = 3 * c.scale**2 if c.layout == "lr" else 3
        self.output = ConvBlock((c.num_frames - 1) * c.feat, out_channels, 3, 1, 1, act=False)
        self._init_weights()

    def _init_weights(self) -> None:
        # As the published code: Kaiming-normal (de)convolutions, zero biases.
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
                nn.init.kaiming_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        if self.config.residual:
            # Start as plain bicubic: the network then only has to learn the missing detail.
            nn.init.zeros_(self.output.conv.weight)
        if self.config.layout == "lr":
            # Every residual correction starts at zero, so each recurrence step starts as a chain of single
            # convolutions: with Kaiming weights alone the state grows at every neighbour (5 frames: x1000).
            corrections = [self.res_feat2[-1].conv]
            for m in self.modules():
                if isinstance(m, ResnetBlock):
                    corrections.append(m.conv2)
                elif isinstance(m, UpBlock):
                    corrections.append(m.up_conv3.conv)
                elif isinstance(m, DownBlock):
                    corrections.append(m.down_conv3.conv)
            for conv in corrections:
                nn.init.zeros_(conv.weight)

    def check_inputs(self, target: Tensor, neighbours: Tensor, flows: Tensor) -> None:
        n = self.config.num_frames - 1
        b, _, h, w = target.shape
        if neighbours.shape != (b, n, 3, h, w):
            raise ValueError(
                f"neighbours must be {(b, n, 3, h, w)} for a {n + 1}-frame model, got {tuple(neighbours.shape)}"
            )
        if flows.shape != (b, n, 2, h, w):
            raise ValueError(f"flows must be {(b, n, 2, h, w)}, got {tuple(flows.shape)}")

    def _output_part(self, hr: Tensor, j: int) -> Tensor:
        """The output conv's share of neighbour j: its weight slice applied to that neighbour's features.

        The published model convolves the concatenation of all n HR feature maps; the sum of these parts
        is the same convolution, and adding them as the recurrence goes keeps one HR map alive instead of n
        (and the concatenation). The layer is tiny (3 output channels) but sets the output precision, so
        under bf16/fp16 autocast it runs and accumulates in fp32.
        """
        conv = self.output.conv
        feat = self.config.feat
        weight = conv.weight[:, j * feat:(j + 1) * feat]
        bias = conv.bias if j == 0 else None
        with full_precision(hr.device):
            return F.conv2d(hr.float(), weight.float(), None if bias is None else bias.float(),
                            conv.stride, conv.padding)

    def forward(self, target: Tensor, neighbours: Tensor, flows: Tensor) -> Tensor:
        if not torch.jit.is_tracing():  # shape checks would be frozen into an exported graph
            self.check_inputs(target, neighbours, flows)
        b, _, _, h, w = neighbours.shape
        n = self.config.num_frames - 1  # a Python int also when traced for export (check_inputs holds)
        state = self.feat0(target)
        # The per-neighbour encoders do not depend on the recurrence: run them as one batch.
        pairs = torch.cat([target.unsqueeze(1).expand(b, n, 3, h, w), neighbours, flows], dim=2)
        projected = self.res_feat1(self.feat1(pairs.reshape(b * n, 8, h, w)))
        projected = projected.reshape(b, n, *projected.shape[1:])
        out = None
        for j in range(n):
            h0 = self.DBPN(state)
            hr = h0 + self.res_feat2(h0 - projected[:, j])
            part = self._output_part(hr, j)
            out = part if out is None else out + part
            # The last state feeds nothing: skip it when no gradients are taken. With gradients on it is
            # kept, so every parameter of a 2-frame model stays in the graph (as DDP expects) and the FLOP
            # count is the published model's.
            if j < n - 1 or torch.is_grad_enabled():
                state = self.res_feat3(hr)
        if self.config.layout == "lr":
            out = F.pixel_shuffle(out, self.config.scale)
        if self.config.residual:
            with full_precision(target.device):
                out = out + bicubic_residual(target.float(), self.config.scale)
        return out


def full_precision(device: torch.device):
    """Autocast switched off: for the few layers that set the output's precision."""
    # The meta device (FLOP and memory counting) has no autocast.
    return torch.autocast(device.type, enabled=False) if torch.amp.is_autocast_available(device.type) else nullcontext()


@torch.compiler.disable  # numpy inside: torch.compile treats the (constant) result as an input
@functools.lru_cache(maxsize=8)
def _bicubic_phase_taps(scale: int) -> tuple[tuple[float, ...], ...]:
    """For each of the `scale` output phases, MATLAB bicubic's 5 taps on input pixels q-2 .. q+2."""
    from spectraframe.degradation import resize_matrix

    length, q = 16, 8  # rows of an interior input pixel q: borders do not reach them
    matrix = resize_matrix(length, length * scale, float(scale))
    taps = matrix[q * scale:(q + 1) * scale, q - 2:q + 3]
    assert abs(taps.sum(axis=1) - 1).max() < 1e-12, "bicubic upsampling taps must lie within q-2 .. q+2"
    return tuple(tuple(float(v) for v in row) for row in taps)


def bicubic_residual(images: Tensor, scale: int) -> Tensor:
    """MATLAB bicubic enlargement (as `degradation.bicubic_upsample`) written as two strided-free convolutions.

    Symmetric edge padding of 2 pixels, then per axis a 5-tap convolution with one output channel per
    phase, interleaved by reshapes. The same sums as the resize matrices, but built from the input's size
    at run time, so an exported ONNX graph works at every frame size (the matrices would be frozen at the
    export size).
    """
    b, c, h, w = images.shape
    if not torch.jit.is_tracing() and min(h, w) < 2:  # mirror padding needs two pixels
        from spectraframe.degradation import bicubic_upsample

        return bicubic_upsample(images, scale)
    taps = torch.tensor(_bicubic_phase_taps(scale), dtype=images.dtype, device=images.device)
    x = images.reshape(b * c, 1, h, w)
    x = torch.cat([x[..., 1:2], x[..., 0:1], x, x[..., -1:], x[..., -2:-1]], dim=3)
    x = F.conv2d(x, taps.view(scale, 1, 1, 5))  # (bc, phase, h, w): column q*scale + phase
    x = x.permute(0, 2, 3, 1).reshape(b * c, 1, h, w * scale)
    x = torch.cat([x[..., 1:2, :], x[..., 0:1, :], x, x[..., -1:, :], x[..., -2:-1, :]], dim=2)
    x = F.conv2d(x, taps.view(scale, 1, 5, 1))  # (bc, phase, h, w*scale): row p*scale + phase
    return x.permute(0, 2, 1, 3).reshape(b, c, h * scale, w * scale)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def generator_flops(config: RBPNConfig, lr_height: int, lr_width: int) -> int:
    """FLOPs (multiply and add counted apart) of one inference forward pass for one output frame.

    Counted by torch's FLOP counter on the meta device: exact for the convolutions, instant, no memory.
    Inference skips the last back-projection to LR, which only a gradient could use.
    """
    from torch.utils.flop_counter import FlopCounterMode

    n = config.num_frames - 1
    # The optional bicubic residual is negligible and not meta-device friendly: count the network.
    network_only = RBPNConfig.from_dict({**config.to_dict(), "residual": False})
    with torch.device("meta"):
        model = RBPN(network_only)
        target = torch.empty(1, 3, lr_height, lr_width)
        neighbours = torch.empty(1, n, 3, lr_height, lr_width)
        flows = torch.empty(1, n, 2, lr_height, lr_width)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(target, neighbours, flows)
    return int(counter.get_total_flops())
