"""Coarse-to-fine variational optical flow (Brox et al. 2004, in the form of Ce Liu's thesis code), batched.

The model follows Ce Liu's ``Coarse2FineFlow``: each pyramid level is described by five feature channels
(gray value, its x/y gradients — the gradient-constancy term — and two colour differences G-R, G-B); the
energy is a Charbonnier (robust L1) data term summed over the channels plus a Charbonnier smoothness term
weighted by ``alpha``. Each outer fixed-point iteration linearises the data term around the current warp
and solves the resulting sparse 2x2-block system for the increment (du, dv) with SOR.

What differs from the C++ code, and why:
* the SOR sweep is red-black with an exact 2x2 solve per pixel on a checkerboard-packed layout, so a
  sweep is 16 tensor operations over every pair of the batch at once (lexicographic SOR cannot be
  vectorised); per sweep it converges at least as fast as the original point SOR;
* the neighbour is pre-smoothed once per level and then warped (the C++ code warps, then smooths, at
  every outer iteration); the derivatives of the warped image are still taken after warping;
* image and flow resampling between levels use pixel-centre alignment (``align_corners=False``);
* Ce Liu's extra iterations on coarser levels are off by default (no measurable gain, see the params);
* inner fixed-point iterations warm-start the increment instead of restarting it from zero;
* identical frames and flat targets return exactly zero flow (the C++ code crashes on them); the solve
  would give zero up to float rounding anyway, as its linear system is then homogeneous.

All tensors are float32 on the input device; nothing here leaves torch, so it runs on CPU and CUDA.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise
from typing import ClassVar

import torch
import torch.nn.functional as F

from spectraframe.errors import SpectraFrameError

log = logging.getLogger(__name__)

# 5-tap derivative filter and 5-tap pre-smoothing of the linearisation, as in Ce Liu's code.
DERIVATIVE_TAPS = (1.0 / 12, -8.0 / 12, 0.0, 8.0 / 12, -1.0 / 12)
PRESMOOTH_TAPS = (0.02, 0.11, 0.74, 0.11, 0.02)
# ITU-R 601 luma, the "desaturate" weights of the original.
GRAY_WEIGHTS = (0.299, 0.587, 0.114)
# Squared epsilons of the Charbonnier penalties sqrt(s^2 + eps^2).
EPS_SMOOTH = 1e-6
EPS_DATA = 1e-6
# Diagonal damping of the increment, relative to alpha (keeps the 2x2 blocks invertible on flat areas).
INCREMENT_DAMPING = 0.05
# Smallest coarsest-level height we allow; the width rule alone would shrink wide strips to nothing.
MIN_LEVEL_HEIGHT = 8


@dataclass(frozen=True)
class CoarseToFineParams:
    """Parameters of :func:`coarse_to_fine_flow`; defaults are those of pyflow's demo (Ce Liu's values)."""

    alpha: float = 0.012  # weight of the smoothness term
    ratio: float = 0.75  # downsampling ratio between pyramid levels
    min_width: int = 20  # the coarsest level is the last one at least this wide
    outer_iterations: int = 7  # fixed-point (re-linearisation + warp) iterations per level
    inner_iterations: int = 1  # re-weightings of the robust penalties per outer iteration
    sor_iterations: int = 30  # red-black SOR sweeps per linear solve
    # Ce Liu's code spends more iterations on coarser levels: level k (0 = finest) gets
    # outer_iterations + k * extra_outer_per_level and sor_iterations + k * extra_sor_per_level
    # (there 1 and 3). On our benchmark pairs that changes the warp error by < 0.5% for 35% more time,
    # so it is off by default.
    extra_outer_per_level: int = 0
    extra_sor_per_level: int = 0
    sor_omega: float = 1.8  # over-relaxation factor, in (0, 2)
    # Intra-op CPU threads for the solve (0: keep torch's setting). The solver issues thousands of
    # microsecond-sized tensor ops; each parallel region hands work to another thread, and on a busy
    # machine that thread may be descheduled for a scheduler tick. Measured on 2 shared cores, 6 pairs
    # at 112x64: 27 ms per pair with 1 thread, 250 ms with 2. Results agree to float rounding.
    cpu_threads: int = 1
    # CPU only: the pairs of a batch are split into this many groups, solved at the same time in threads
    # (0: as many as torch's intra-op thread count, at most one per pair). This is how the solver uses
    # several cores, since its ops are too small to parallelise inside. Every pair is solved on its own
    # (no op mixes pairs), so the result is bit-identical for any value.
    cpu_workers: int = 0

    # Fields that never change the result, left out of flow-cache keys.
    RESULT_NEUTRAL_FIELDS: ClassVar[tuple[str, ...]] = ("cpu_workers",)

    def __post_init__(self) -> None:
        problems = []
        if not self.alpha > 0:
            problems.append(f"alpha must be > 0, got {self.alpha}")
        if not 0.4 <= self.ratio <= 0.98:
            problems.append(f"ratio must be in [0.4, 0.98], got {self.ratio}")
        if self.min_width < 1:
            problems.append(f"min_width must be >= 1, got {self.min_width}")
        for name in ("outer_iterations", "inner_iterations", "sor_iterations"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("extra_outer_per_level", "extra_sor_per_level"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.cpu_workers < 0:
            problems.append(f"cpu_workers must be >= 0 (0: one per torch thread), got {self.cpu_workers}")
        if self.cpu_threads < 0:
            problems.append(f"cpu_threads must be >= 0 (0: torch's setting), got {self.cpu_threads}")
        if not 0 < self.sor_omega < 2:
            problems.append(f"sor_omega must be in (0, 2) for SOR to converge, got {self.sor_omega}")
        if problems:
            raise SpectraFrameError("invalid coarse2fine parameters: " + "; ".join(problems))


def pyramid_sizes(height: int, width: int, params: CoarseToFineParams) -> list[tuple[int, int]]:
    """(height, width) of every pyramid level, finest first."""
    levels = 1
    if width > params.min_width:
        levels = max(1, int(math.log(params.min_width / width) / math.log(params.ratio)))
    sizes = [(height, width)]
    for k in range(1, levels):
        scale = params.ratio**k
        level_h, level_w = int(height * scale + 1e-9), int(width * scale + 1e-9)
        if level_h < MIN_LEVEL_HEIGHT or level_w < 2:
            break
        sizes.append((level_h, level_w))
    return sizes


def _filter_axis(
    images: torch.Tensor, taps: tuple[float, ...], dim: int, out: torch.Tensor | None = None
) -> torch.Tensor:
    """Correlate every channel with 1-D taps along ``dim`` (-1: x, -2: y), replicating border pixels (as
    the C++ code clamps coordinates). Shifted slices, not conv2d: much faster for these small kernels."""
    radius = (len(taps) - 1) // 2
    pad = (radius, radius, 0, 0) if dim == -1 else (0, 0, radius, radius)
    padded = F.pad(images, pad, mode="replicate")
    length = images.shape[dim]
    first = True
    for offset, tap in enumerate(taps):
        if tap == 0:
            continue
        window = padded.narrow(dim, offset, length)
        if first:
            out = torch.mul(window, tap, out=out) if out is not None else window * tap
            first = False
        else:
            out.add_(window, alpha=tap)
    return out


def _separable(images: torch.Tensor, taps: tuple[float, ...]) -> torch.Tensor:
    return _filter_axis(_filter_axis(images, taps, -1), taps, -2)


def _gaussian_taps(sigma: float) -> tuple[float, ...]:
    radius = max(1, math.ceil(3 * sigma - 1e-9))
    values = [math.exp(-(x * x) / (2 * sigma * sigma)) for x in range(-radius, radius + 1)]
    total = sum(values)
    return tuple(v / total for v in values)


def _smooth(images: torch.Tensor, sigma: float) -> torch.Tensor:
    return _separable(images, _gaussian_taps(sigma))


def _resize(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False)


def build_pyramid(images: torch.Tensor, sizes: list[tuple[int, int]], ratio: float) -> list[torch.Tensor]:
    """Gaussian pyramid, finest first: level k is the image blurred by sigma = k (1/ratio - 1), resampled.

    As in Ce Liu's fast construction, levels deeper than a factor 4 are made from the level that is 4x
    finer (blurring the full-size image with an ever wider Gaussian would be wasteful)."""
    base_sigma = 1.0 / ratio - 1.0
    jump = int(math.log(0.25) / math.log(ratio))
    pyramid = [images]
    for k in range(1, len(sizes)):
        if k <= jump:
            pyramid.append(_resize(_smooth(images, base_sigma * k), sizes[k]))
        else:
            pyramid.append(_resize(_smooth(pyramid[k - jump], base_sigma * jump), sizes[k]))
    return pyramid


def _features(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB -> (B, 5, H, W): gray, d gray/dx, d gray/dy, G - R, G - B."""
    weights = torch.tensor(GRAY_WEIGHTS, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    gray = (rgb * weights).sum(dim=1, keepdim=True)
    gray_dx = _filter_axis(gray, DERIVATIVE_TAPS, -1)
    gray_dy = _filter_axis(gray, DERIVATIVE_TAPS, -2)
    red, green, blue = rgb[:, 0:1], rgb[:, 1:2], rgb[:, 2:3]
    return torch.cat([gray, gray_dx, gray_dy, green - red, green - blue], dim=1)


def _sample_grid(flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised grid_sample coordinates of (x + u, y + v) and the mask of those inside the image."""
    _, _, height, width = flow.shape
    # align_corners=True maps pixel x to -1 + 2 x / (W - 1).
    scale = torch.tensor([2.0 / max(width - 1, 1), 2.0 / max(height - 1, 1)], dtype=flow.dtype,
                         device=flow.device)
    ys = torch.linspace(-1.0, 1.0, height, dtype=flow.dtype, device=flow.device) if height > 1 else \
        flow.new_full((1,), -1.0)
    xs = torch.linspace(-1.0, 1.0, width, dtype=flow.dtype, device=flow.device) if width > 1 else \
        flow.new_full((1,), -1.0)
    base = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)
    grid = torch.addcmul(base, flow.permute(0, 2, 3, 1), scale)
    # Half a float32 ulp of slack so that a zero flow counts as inside on the last row/column.
    inside = (grid.abs().amax(dim=-1, keepdim=True) <= 1.0 + 1e-6).permute(0, 3, 1, 2)
    return grid, inside


def warp_sampled(images: torch.Tensor, flow: torch.Tensor, mode: str = "bilinear") -> tuple[torch.Tensor, torch.Tensor]:
    """Sample ``images`` at (x + u, y + v) with grid_sample's ``mode`` (borders replicated); also the in-image
    mask."""
    grid, inside = _sample_grid(flow)
    warped = F.grid_sample(images, grid, mode=mode, padding_mode="border", align_corners=True)
    return warped, inside


def _neighbour_views(padded: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Left, right, up and down neighbours of every pixel, as views into a 1-pixel zero-padded tensor."""
    return (padded[..., 1:-1, :-2], padded[..., 1:-1, 2:], padded[..., :-2, 1:-1], padded[..., 2:, 1:-1])


def _edge_weights(flow: torch.Tensor, alpha: float) -> torch.Tensor:
    """Smoothness weights alpha * phi'(|grad w|^2) on the left, right, up and down edges of every pixel,
    as (B, 4, H, W), zero across the image border.

    phi' is evaluated with forward differences, and edge (p, p+1) takes the weight of p, as in Ce Liu's
    code, which keeps the operator symmetric."""
    forward_x = F.pad(flow[..., :, 1:] - flow[..., :, :-1], (0, 1, 0, 0))
    forward_y = F.pad(flow[..., 1:, :] - flow[..., :-1, :], (0, 0, 0, 1))
    magnitude = (forward_x * forward_x).add_(forward_y * forward_y).sum(dim=1, keepdim=True)
    phi = magnitude.add_(EPS_SMOOTH).rsqrt_().mul_(0.5 * alpha)
    batch, _, height, width = phi.shape
    weights = phi.new_zeros(batch, 4, height, width)
    weights[:, 0:1, :, 1:] = phi[..., :, :-1]  # left edge of p: weight of the pixel to its left
    weights[:, 1:2, :, :-1] = phi[..., :, :-1]
    weights[:, 2:3, 1:, :] = phi[..., :-1, :]
    weights[:, 3:4, :-1, :] = phi[..., :-1, :]
    return weights


def _neighbour_sum(padded: torch.Tensor, weights: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
    """start + sum over the 4 neighbours n of weight_n * value_n (values read from the padded tensor)."""
    left, right, up, down = _neighbour_views(padded)
    total = torch.addcmul(start, weights[:, 0:1], left)
    total.addcmul_(weights[:, 1:2], right).addcmul_(weights[:, 2:3], up).addcmul_(weights[:, 3:4], down)
    return total


# Red-black SOR on a checkerboard-packed layout.
#
# A red pixel (row i, column j) has i + j even. Packing keeps, in row i of each colour's array, only that
# colour's pixels: red column k is image column 2k + i % 2, black column k is 2k + 1 - i % 2 (the image is
# first padded to even sizes). The four neighbours of a pixel all have the other colour and sit, in the
# packed arrays, at (i - 1, k), (i + 1, k), (i, k) and (i, k + s): s = -1 on even rows and +1 on odd rows
# for red pixels, the reverse for black ones. A half-sweep then touches only the pixels it updates.


def _pack(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, H, W) with even H, W -> red and black arrays, each (B, C, H, W / 2)."""
    return _pack_rows(images, images)


def _unpack(red: torch.Tensor, black: torch.Tensor) -> torch.Tensor:
    batch, channels, height, half_width = red.shape
    red_rows = red.reshape(batch, channels, height // 2, 2, half_width)
    black_rows = black.reshape(batch, channels, height // 2, 2, half_width)
    even = torch.stack([red_rows[:, :, :, 0], black_rows[:, :, :, 0]], dim=-1)
    odd = torch.stack([black_rows[:, :, :, 1], red_rows[:, :, :, 1]], dim=-1)
    return torch.stack([even, odd], dim=3).reshape(batch, channels, height, 2 * half_width)


def _pack_rows(even_rows: torch.Tensor, odd_rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Like :func:`_pack`, but even image rows are read from one tensor and odd rows from another."""
    batch, channels, height, width = even_rows.shape
    even = even_rows.reshape(batch, channels, height // 2, 2, width // 2, 2)
    odd = odd_rows.reshape(batch, channels, height // 2, 2, width // 2, 2)
    red = torch.stack([even[:, :, :, 0, :, 0], odd[:, :, :, 1, :, 1]], dim=3)
    black = torch.stack([even[:, :, :, 0, :, 1], odd[:, :, :, 1, :, 0]], dim=3)
    shape = (batch, channels, height, width // 2)
    return red.reshape(shape), black.reshape(shape)


def _shifted_rows_view(padded: torch.Tensor, even_shift: int) -> torch.Tensor:
    """View of a (B, C, H + 2, K) row-padded array as (B, C, H / 2, 2, K): interior row i, column k + s_i,
    with s_i = even_shift on even rows and -even_shift on odd rows (one strided view, no copy).

    Columns are not padded: k + s_i = -1 or K reads the last or first element of the adjacent row (or
    of a zero padding row), which only ever meets a zero weight, the pixel being on the image border."""
    batch, channels, padded_h, width = padded.shape
    sb, sc, row, col = padded.stride()
    base = padded.storage_offset() + row + even_shift * col  # interior row 0, column even_shift
    return padded.as_strided(
        (batch, channels, (padded_h - 2) // 2, 2, width),
        (sb, sc, 2 * row, row - 2 * even_shift * col, col),
        base,
    )


class _PackedSystem:
    """The per-colour arrays of one linear solve: right-hand side, 2x2 inverses, neighbour weights."""

    def __init__(
        self, rhs: torch.Tensor, inverse_diag: torch.Tensor, inverse_off: torch.Tensor,
        weights: torch.Tensor, omega: float,
    ) -> None:
        height, width = rhs.shape[-2:]
        self.pad_h, self.pad_w = height % 2, width % 2
        # Padded and packed once. Padding pixels get zero weights, rhs and inverse: they stay zero and
        # touch nothing.
        pad = (0, self.pad_w, 0, self.pad_h)
        stacked = F.pad(torch.cat([rhs, inverse_diag, inverse_off, weights[:, 2:4]], dim=1), pad)
        packed = _pack(stacked)
        self.rhs = tuple(p[:, 0:2] for p in packed)
        self.inverse_diag = tuple(p[:, 2:4] for p in packed)
        self.inverse_off = tuple(p[:, 4:5] for p in packed)
        self.up = tuple(p[:, 5:6] for p in packed)
        self.down = tuple(p[:, 6:7] for p in packed)
        # Horizontal neighbours, channels (same, other): "same" sits at packed column k, "other" at
        # k + s. For red pixels "same" is the right neighbour on even rows and the left one on odd rows;
        # for black pixels the reverse.
        left_right = F.pad(weights[:, 0:2], pad)
        right_left = left_right.flip(1)
        red_pair = _pack_rows(right_left, left_right)[0]
        black_pair = _pack_rows(left_right, right_left)[1]
        self.same = (red_pair[:, 0:1], black_pair[:, 0:1])
        self.other = tuple(
            t[:, 1:2].reshape(t.shape[0], 1, t.shape[2] // 2, 2, t.shape[3]) for t in (red_pair, black_pair)
        )
        self.omega = omega


_SWEEP_VIEWS = ("rhs", "inv_diag", "inv_off", "w_up", "up", "w_down", "down", "w_same", "same", "w_other",
                "other", "interior")


def _sweeps(
    iterations: int, omega: float, total: torch.Tensor, total_rows: torch.Tensor, solved: torch.Tensor,
    rhs: list[torch.Tensor], inv_diag: list[torch.Tensor], inv_off: list[torch.Tensor],
    w_up: list[torch.Tensor], up: list[torch.Tensor], w_down: list[torch.Tensor], down: list[torch.Tensor],
    w_same: list[torch.Tensor], same: list[torch.Tensor], w_other: list[torch.Tensor],
    other: list[torch.Tensor], interior: list[torch.Tensor],
) -> None:
    """The SOR sweeps proper; every list holds the (red, black) views of one quantity."""
    total_u, total_v = total[:, 0:1], total[:, 1:2]
    solved_u, solved_v = solved[:, 0:1], solved[:, 1:2]
    for _ in range(iterations):
        for colour in range(2):
            torch.addcmul(rhs[colour], w_up[colour], up[colour], out=total)
            total.addcmul_(w_down[colour], down[colour]).addcmul_(w_same[colour], same[colour])
            total_rows.addcmul_(w_other[colour], other[colour])
            torch.mul(inv_diag[colour], total, out=solved)
            solved_u.addcmul_(inv_off[colour], total_v)
            solved_v.addcmul_(inv_off[colour], total_u)
            interior[colour].lerp_(solved, omega)


_SCRIPTED_SWEEPS: list = []


def _sweep_runner():
    """The sweeps compiled by TorchScript when it is available (it removes the Python cost of the ~16
    small tensor operations per sweep: about 20% of the solve on small frames), else plain Python."""
    if not _SCRIPTED_SWEEPS:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # TorchScript is deprecated in favour of torch.compile
                _SCRIPTED_SWEEPS.append(torch.jit.script(_sweeps))
        except Exception as exc:  # noqa: BLE001 - any failure just means: run the Python version
            log.debug("TorchScript unavailable for the SOR sweeps (%s); using eager mode", exc)
            _SCRIPTED_SWEEPS.append(_sweeps)
    return _SCRIPTED_SWEEPS[0]


def _solve_increment(
    system: _PackedSystem, increment: torch.Tensor | None, iterations: int, shape: torch.Size
) -> torch.Tensor:
    """Red-black block SOR for (A + D + alpha L) d = b, starting from ``increment`` (None: from zero).

    Each half-sweep solves every pixel of one colour exactly (its 2x2 block) given its neighbours, which
    all have the other colour, and over-relaxes: 8 tensor operations over the whole batch."""
    batch, _, height, width = shape
    even_h, half_width = height + system.pad_h, (width + system.pad_w) // 2
    like = system.rhs[0]
    # Only rows are padded: each plane of every view below is then one contiguous run of memory, which
    # the elementwise kernels process faster than row-strided views.
    padded = [like.new_zeros(batch, 2, even_h + 2, half_width) for _ in range(2)]
    interiors = [p[..., 1:-1, :] for p in padded]
    if increment is not None:
        for interior, packed in zip(interiors, _pack(F.pad(increment, (0, system.pad_w, 0, system.pad_h))),
                                    strict=True):
            interior.copy_(packed)
    # Everything the loop touches is a view made once: the sweeps run without allocating.
    total = like.new_empty(batch, 2, even_h, half_width)
    solved = torch.empty_like(total)
    total_rows = total.view(batch, 2, total.shape[-2] // 2, 2, half_width)
    views: dict[str, list[torch.Tensor]] = {name: [] for name in _SWEEP_VIEWS}
    for colour in (0, 1):
        other = padded[1 - colour]
        for name, view in zip(_SWEEP_VIEWS, (
            system.rhs[colour], system.inverse_diag[colour], system.inverse_off[colour],
            system.up[colour], other[..., :-2, :], system.down[colour], other[..., 2:, :],
            system.same[colour], other[..., 1:-1, :],
            system.other[colour], _shifted_rows_view(other, -1 if colour == 0 else 1),
            interiors[colour],
        ), strict=True):
            views[name].append(view)
    _sweep_runner()(iterations, system.omega, total, total_rows, solved, *views.values())
    return _unpack(interiors[0], interiors[1])[..., :height, :width]


class _DataTermWorkspace:
    """Buffers reused by every outer iteration of a level: large fresh allocations cost page faults."""

    def __init__(self, batch: int, channels: int, height: int, width: int, like: torch.Tensor) -> None:
        self.grads = like.new_empty(batch, 3, channels, height, width)  # d/dx, d/dy, d/dt per channel
        self.warped = like.new_empty(batch, channels, height, width)
        self.psi = like.new_empty(batch, 1, channels, height, width)
        self.weighted = like.new_empty(batch, 2, channels, height, width)
        self.products_x = like.new_empty(batch, 3, channels, height, width)
        self.products_y = like.new_empty(batch, 2, channels, height, width)
        self.sums = like.new_empty(batch, 5, height, width)  # a11, a12, -b1, a22, -b2


def _data_term(work: _DataTermWorkspace, increment: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
    """The linearised, Charbonnier-weighted data term: a11, a12, a22 (B, 1, H, W) and b (B, 2, H, W),
    computed from ``work.grads``, the x, y and t derivatives of the C feature channels."""
    grads = work.grads
    channels = grads.shape[2]
    residual = grads[:, 2:3]
    if increment is not None:
        residual = torch.addcmul(residual, grads[:, 0:1], increment[:, 0:1, None])
        residual.addcmul_(grads[:, 1:2], increment[:, 1:2, None])
    # psi'(r^2) = 1 / (2 sqrt(r^2 + eps)); the factor 1/2 and the mean over channels are applied once,
    # to the collapsed sums below.
    torch.mul(residual, residual, out=work.psi).add_(EPS_DATA).rsqrt_()
    torch.mul(grads[:, :2], work.psi, out=work.weighted)
    torch.mul(work.weighted[:, 0:1], grads, out=work.products_x)  # psi gx * (gx, gy, gt)
    torch.mul(work.weighted[:, 1:2], grads[:, 1:], out=work.products_y)  # psi gy * (gy, gt)
    torch.sum(work.products_x, dim=2, out=work.sums[:, 0:3])
    torch.sum(work.products_y, dim=2, out=work.sums[:, 3:5])
    sums = work.sums.mul_(0.5 / channels)
    b = torch.stack([sums[:, 2], sums[:, 4]], dim=1).neg_()
    return sums[:, 0:1], sums[:, 1:2], sums[:, 3:4], b


def _solve_level(
    target_features: torch.Tensor, neighbour_features: torch.Tensor, flow: torch.Tensor,
    params: CoarseToFineParams, outer_iterations: int, sor_iterations: int,
) -> torch.Tensor:
    """Refine ``flow`` (B, 2, H, W) on one pyramid level by the outer fixed-point iterations."""
    batch, _, height, width = flow.shape
    channels = target_features.shape[1]
    # Ce Liu's code warps the neighbour, then pre-smooths both images; we warp the pre-smoothed
    # neighbour (both orders agree up to the interpolation of a very slightly blurred image), so the
    # smoothing is done once per level instead of once per outer iteration.
    target_smooth = _separable(target_features, PRESMOOTH_TAPS)
    neighbour_smooth = _separable(neighbour_features, PRESMOOTH_TAPS)
    target_share = 0.4 * target_smooth
    work = _DataTermWorkspace(batch, channels, height, width, flow)
    grads = work.grads
    alpha = params.alpha
    for _ in range(outer_iterations):
        warped, inside = warp_sampled(neighbour_smooth, flow)
        # Where the flow leaves the image there is nothing to compare: take the target itself (dt = 0).
        warped = torch.where(inside, warped, target_smooth, out=work.warped)
        torch.sub(warped, target_smooth, out=grads[:, 2])
        # Spatial derivatives of 0.4 target + 0.6 warped neighbour, Ce Liu's mix.
        mixed = torch.add(target_share, warped, alpha=0.6)
        _filter_axis(mixed, DERIVATIVE_TAPS, -1, out=grads[:, 0])
        _filter_axis(mixed, DERIVATIVE_TAPS, -2, out=grads[:, 1])
        increment = None
        for _ in range(params.inner_iterations):
            a11, a12, a22, b = _data_term(work, increment)
            current = flow if increment is None else flow + increment
            weights = _edge_weights(current, alpha)
            centre = weights.sum(1, keepdim=True)
            # Right-hand side: minus the energy gradient at the current flow, whose smoothness part is
            # alpha * L(w) = centre * w - sum_n weight_n * w_n.
            rhs = _neighbour_sum(F.pad(flow, (1, 1, 1, 1)), weights, b.addcmul_(centre, flow, value=-1))
            diag = centre.add_(INCREMENT_DAMPING * alpha)
            m11, m22 = a11 + diag, a22 + diag
            determinant = m11 * m22 - a12 * a12  # > 0: A is PSD and diag > 0
            inverse_diag = torch.cat([m22, m11], dim=1).div_(determinant)
            inverse_off = a12.div(determinant).neg_()
            system = _PackedSystem(rhs, inverse_diag, inverse_off, weights, params.sor_omega)
            increment = _solve_increment(system, increment, sor_iterations, flow.shape)
        flow = flow + increment
    return flow


@contextmanager
def _cpu_threads(count: int, device: torch.device) -> Iterator[None]:
    """Run with ``count`` intra-op CPU threads. torch's setting is the calling thread's OpenMP team size
    (and the default of threads that start using torch later): other running threads keep theirs."""
    previous = torch.get_num_threads()
    if count == 0 or count == previous or device.type != "cpu":
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def coarse_to_fine_flow(
    target: torch.Tensor, neighbours: torch.Tensor, params: CoarseToFineParams | None = None
) -> torch.Tensor:
    """Flow (N, 2, H, W) with neighbour(x + u, y + v) ~ target(x, y), all N pairs solved together
    (on CPU, in ``params.cpu_workers`` groups at once).

    ``target`` is (1, 3, H, W) (shared by all pairs) or (N, 3, H, W); ``neighbours`` is (N, 3, H, W);
    both float32 RGB in [0, 1] on the same device."""
    params = params or CoarseToFineParams()
    count, _, height, width = neighbours.shape
    workers = _worker_count(params, count, neighbours.device)
    with _cpu_threads(params.cpu_threads, neighbours.device):
        # Pairs with nothing to estimate get exactly zero flow: identical frames (nothing moved) and flat
        # targets (no structure to match). The solver would return zero there too, up to float rounding.
        flat_target = target.amax(dim=(1, 2, 3)) == target.amin(dim=(1, 2, 3))
        trivial = (neighbours == target).flatten(1).all(dim=1) | flat_target
        if bool(trivial.all()):
            return neighbours.new_zeros(count, 2, height, width)
        if workers == 1:
            flow = _coarse_to_fine(target, neighbours, params)
        else:
            flow = _solve_in_threads(target, neighbours, params, workers)
    return flow.masked_fill_(trivial.view(count, 1, 1, 1), 0.0)


def _worker_count(params: CoarseToFineParams, count: int, device: torch.device) -> int:
    if device.type != "cpu" or count < 2:
        return 1
    workers = params.cpu_workers or torch.get_num_threads()
    return max(1, min(workers, count))


_THREAD_POOLS: dict[int, ThreadPoolExecutor] = {}


def _solve_in_threads(
    target: torch.Tensor, neighbours: torch.Tensor, params: CoarseToFineParams, workers: int
) -> torch.Tensor:
    """Solve contiguous groups of pairs concurrently (torch ops release the GIL while they compute)."""
    pool = _THREAD_POOLS.get(workers)
    if pool is None:
        pool = _THREAD_POOLS.setdefault(workers, ThreadPoolExecutor(workers, thread_name_prefix="spectraframe-c2f"))
    # Autograd and inference modes are thread-local: carry the caller's into the workers.
    grad, inference = torch.is_grad_enabled(), torch.is_inference_mode_enabled()

    def solve(group: slice) -> torch.Tensor:
        # Thread settings are per thread too: a pool thread keeps whatever it first started with.
        with torch.set_grad_enabled(grad), torch.inference_mode(inference), \
                _cpu_threads(params.cpu_threads, neighbours.device):
            group_target = target if target.shape[0] == 1 else target[group]
            return _coarse_to_fine(group_target, neighbours[group], params)

    bounds = [round(i * neighbours.shape[0] / workers) for i in range(workers + 1)]
    futures = [pool.submit(solve, slice(start, stop)) for start, stop in pairwise(bounds)]
    return torch.cat([future.result() for future in futures])


def _coarse_to_fine(target: torch.Tensor, neighbours: torch.Tensor, params: CoarseToFineParams) -> torch.Tensor:
    count, _, height, width = neighbours.shape
    sizes = pyramid_sizes(height, width, params)
    target_pyramid = build_pyramid(target, sizes, params.ratio)
    neighbour_pyramid = build_pyramid(neighbours, sizes, params.ratio)
    flow = neighbours.new_zeros(count, 2, *sizes[-1])
    for level in range(len(sizes) - 1, -1, -1):
        level_h, level_w = sizes[level]
        if flow.shape[-2:] != (level_h, level_w):
            scale = torch.tensor([level_w / flow.shape[-1], level_h / flow.shape[-2]], device=flow.device)
            flow = _resize(flow, (level_h, level_w)) * scale.view(1, 2, 1, 1)
        flow = _solve_level(
            _features(target_pyramid[level]),
            _features(neighbour_pyramid[level]),
            flow,
            params,
            outer_iterations=params.outer_iterations + level * params.extra_outer_per_level,
            sor_iterations=params.sor_iterations + level * params.extra_sor_per_level,
        )
    return flow
