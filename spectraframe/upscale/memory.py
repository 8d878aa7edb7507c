"""How much context a tile needs and how large tiles may be for a memory budget.

Receptive radius: how far (in LR pixels) an input pixel can influence an output pixel. It depends only
on the geometry of the network (scale, frame count, stages, residual blocks), not on its widths or
weights, so it is measured exactly by propagating the support of one pixel through a one-channel copy.

Peak memory of one forward pass: measured on the meta device (no memory, no compute) by tracking the
bytes of every live tensor, then scaled by a factor calibrated against the real resident memory.
"""

from __future__ import annotations

import functools
import math
import re
import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

from spectraframe.archs.rbpn import RBPN, RBPNConfig
from spectraframe.cli_numbers import typed
from spectraframe.errors import SpectraFrameError

# Beyond this many LR pixels the influence of a pixel on the output is below 1e-5 of the output's range
# (measured on the paper preset: perturbing the input changes outputs 24 px away by ~1e-5 relative, 16 px
# away by ~4e-3). The exact radius (85 px for the paper preset) would make tiles mostly context.
EFFECTIVE_RADIUS_CAP = 24
# Real resident memory of a forward pass / live-tensor peak on the meta device: oneDNN workspaces and
# allocator slack (measured 1.6 on the paper preset at 64x64 LR); rounded up for safety.
MEMORY_SLACK = 1.8
# What the process needs besides the network pass: weights, decoder, encoder look-ahead, frame buffers.
BASE_OVERHEAD_BYTES = 600 * 2**20


class _Support(TorchDispatchMode):
    """Turns a forward pass into support propagation: every result becomes 1 where it is non-zero.

    With all weights 1, biases 0 and non-negative inputs nothing can cancel, except subtractions, which
    are turned into additions; binarising after every op keeps values from under- or overflowing.
    """

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in (torch.ops.aten.sub.Tensor, torch.ops.aten.rsub.Tensor):
            func, kwargs = torch.ops.aten.add.Tensor, {}
        out = func(*args, **(kwargs or {}))
        return tree_map(
            lambda t: (t != 0).to(t.dtype) if isinstance(t, torch.Tensor) and t.is_floating_point() else t, out
        )


@functools.lru_cache(maxsize=32)
def receptive_radius(config: RBPNConfig, limit: int | None = None) -> int:
    """Exact receptive radius of the generator in LR pixels (one side); with `limit`, min(radius, limit).

    Measured by propagating the support of one input pixel through a one-channel copy of the network
    (widths do not change the footprint). One row suffices: every layer's footprint is square.
    """
    geometry = RBPNConfig.from_dict({**config.to_dict(), "base_filter": 1, "feat": 1, "residual": False})
    scale, n = geometry.scale, geometry.num_frames - 1
    width = 2 * limit + 3 if limit is not None else 129
    while True:
        model = RBPN(geometry)
        centre = width // 2
        inputs = [torch.zeros(1, 3, 1, width), torch.zeros(1, n, 3, 1, width), torch.zeros(1, n, 2, 1, width)]
        with torch.no_grad():
            for name, param in model.named_parameters():
                param.fill_(0.0 if name.endswith("bias") else 1.0)
            for tensor in inputs:
                tensor[..., centre] = 1.0
            with _Support():
                out = model(*inputs)
        columns = torch.nonzero(out[0].sum((0, 1))).flatten()
        reach = max(centre * scale - columns.min().item(), columns.max().item() - ((centre + 1) * scale - 1))
        radius = math.ceil(reach / scale)
        if radius < centre:
            return radius
        if limit is not None:
            return limit
        width = 2 * width + 1


def default_tile_overlap(config: RBPNConfig) -> int:
    """Context per tile side so that tiled output equals untiled (3/4 of it must cover the radius)."""
    radius = receptive_radius(config, limit=EFFECTIVE_RADIUS_CAP)
    return math.ceil(radius * 4 / 3)


class _LiveBytes(TorchDispatchMode):
    """Tracks the bytes of live tensor storages during a pass; `peak` is the maximum reached."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._seen: set[int] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in tree_flatten(out)[0]:
            if not isinstance(tensor, torch.Tensor):
                continue
            storage = tensor.untyped_storage()
            key = id(storage)
            if key in self._seen:
                continue
            self._seen.add(key)
            size = storage.nbytes()
            self.live += size
            self.peak = max(self.peak, self.live)
            weakref.finalize(storage, self._release, key, size)
        return out

    def _release(self, key: int, size: int) -> None:
        self.live -= size
        self._seen.discard(key)


@functools.lru_cache(maxsize=256)
def forward_peak_bytes(config: RBPNConfig, height: int, width: int, half_precision: bool = False) -> int:
    """Estimated peak memory of one generator pass on an LR tile (activations only, weights excluded)."""
    with torch.device("meta"):
        model = RBPN(RBPNConfig.from_dict({**config.to_dict(), "residual": False}))
        n = config.num_frames - 1
        target = torch.empty(1, 3, height, width)
        neighbours = torch.empty(1, n, 3, height, width)
        flows = torch.empty(1, n, 2, height, width)
    tracker = _LiveBytes()
    with torch.inference_mode(), tracker:
        model(target, neighbours, flows)
    # bf16/fp16 autocast halves most activations; the fp32 output and casts keep part of the cost.
    factor = 0.6 if half_precision else 1.0
    return int(tracker.peak * factor * MEMORY_SLACK)


def parse_memory(text: str) -> int:
    """'4G', '512M', '1.5GiB', '2000000000' -> bytes."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)(i?B)?\s*", text, flags=re.IGNORECASE)
    if not match:
        raise SpectraFrameError(f"memory size must look like 4G, 512M or 1.5GiB, got {text!r}")
    number, unit = float(match.group(1)), match.group(2).upper()
    size = number * 1024 ** ("KMGT".index(unit) + 1) if unit else number
    if size > 2**60:  # also the digits that make an infinite float
        raise SpectraFrameError(f"memory size {typed(text)} is more than any computer has: write it like 4G or 512M")
    size = int(size)
    if size <= 0:
        raise SpectraFrameError(f"memory size must be more than 0 bytes, got {text!r} (leave it out for the default: "
                                "half the available memory)")
    return size


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), None elsewhere."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def default_memory_budget() -> int:
    """Half the memory available now (4 GiB when the system does not say)."""
    available = available_memory()
    return available // 2 if available else 4 * 2**30


def tile_for_budget(
    config: RBPNConfig, lr_height: int, lr_width: int, budget: int, overlap: int, *, half_precision: bool = False,
    weights_bytes: int = 0,
) -> int | None:
    """Largest tile core (LR pixels) whose pass fits `budget` bytes; None when the whole frame fits.

    Raises SpectraFrameError when not even a small tile fits, saying how much the smallest needs.
    """
    spare = budget - BASE_OVERHEAD_BYTES - weights_bytes
    frame_cost = forward_peak_bytes(config, lr_height, lr_width, half_precision)
    if frame_cost <= spare:
        return None
    # Cost grows with the padded tile area: find the largest square core that fits by bisection.
    smallest = max(8, math.ceil(overlap / 2))
    lo, hi = smallest, max(lr_height, lr_width)

    def cost(core: int) -> int:
        side_h = min(lr_height, core + 2 * overlap)
        side_w = min(lr_width, core + 2 * overlap)
        return forward_peak_bytes(config, side_h, side_w, half_precision)

    if cost(lo) > spare:
        need = cost(lo) + BASE_OVERHEAD_BYTES + weights_bytes
        raise SpectraFrameError(
            f"--max-memory {budget / 2**30:.2f} GiB is too small: even {lo}x{lo} tiles with {overlap} px overlap "
            f"need about {need / 2**30:.2f} GiB; raise --max-memory, lower --tile-overlap or use --precision bf16"
        )
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if cost(mid) <= spare:
            lo = mid
        else:
            hi = mid - 1
    return lo
