"""Running a trained generator: flows for each target frame's neighbours, then RBPN.

The building block shared by `eval`, training validation and the streaming `upscale` pipeline. Large
frames run in overlapping tiles (flows are always estimated on the whole frame, then cropped per tile).
The generator is anything that meets `spectraframe.generator.Generator`: RBPN, the fast inference copy
(`spectraframe.accelerate.FastGenerator`) or the ONNX runner (`spectraframe.export.OnnxGenerator`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor
from tqdm import tqdm

from spectraframe.accelerate import autocast_context
from spectraframe.data.windows import neighbour_indices
from spectraframe.flow import estimate_flow
from spectraframe.flow.api import DEFAULT_FLOW_METHOD
from spectraframe.generator import Generator, generator_device

__all__ = ["autocast_context", "super_resolve_batch", "super_resolve_clip", "super_resolve_frame",
           "super_resolve_tiled", "tile_spans"]


@torch.inference_mode()
def super_resolve_frame(
    model: Generator,
    target: Tensor,
    neighbours: Tensor,
    *,
    flow_method: str = DEFAULT_FLOW_METHOD,
    flows: Tensor | None = None,
    autocast_dtype: torch.dtype | None = None,
    flow_cache=None,
    tile: int | None = None,
    tile_overlap: int = 0,
) -> Tensor:
    """One HR frame from LR frames in [0, 1]: target (3,h,w), neighbours (N,3,h,w) in RBPN order.

    Flows (N,2,h,w) from the target to each neighbour are estimated in one batch unless given.
    `tile` (LR pixels) runs the network on overlapping tiles of at most that core size, each seeing
    `tile_overlap` extra LR pixels of context per side (see `super_resolve_tiled`).
    Returns (3, h*s, w*s) clamped to [0, 1], float32, on the model's device.
    """
    device = generator_device(model)
    target = target.to(device, torch.float32)
    neighbours = neighbours.to(device, torch.float32)
    if flows is None:
        flows = estimate_flow(target, neighbours, method=flow_method, cache=flow_cache)
    flows = flows.to(device, torch.float32)
    if tile and (target.shape[-2] > tile or target.shape[-1] > tile):
        return super_resolve_tiled(
            model, target, neighbours, flows, tile=tile, overlap=tile_overlap, autocast_dtype=autocast_dtype
        )
    with autocast_context(device, autocast_dtype):
        out = model(target[None], neighbours[None], flows[None])
    return out[0].float().clamp_(0.0, 1.0)


def tile_spans(length: int, tile: int) -> list[tuple[int, int]]:
    """Split [0, length) into near-equal core spans of at most `tile` pixels."""
    count = max(1, math.ceil(length / tile))
    edges = [round(i * length / count) for i in range(count + 1)]
    return list(zip(edges[:-1], edges[1:], strict=True))


def _axis_weights(length_hr: int, scale: int, start: int, stop: int, lr_length: int, half_band: float) -> Tensor:
    """Blend weight along one axis (HR pixels) of the tile whose core is [start, stop) in LR pixels.

    1 inside the core, linear ramps of width 2*half_band (LR pixels) centred on each inner seam, so the
    weights of neighbouring tiles sum to one; image borders get no ramp.
    """
    weight = torch.ones(length_hr, dtype=torch.float64)
    if half_band == 0:  # no overlap: the crop is the core, used whole
        return weight.to(torch.float32)
    centres = (torch.arange(length_hr, dtype=torch.float64) + 0.5) / scale  # HR pixel centres in LR units
    if start > 0:
        weight = torch.minimum(weight, ((centres - (start - half_band)) / (2 * half_band)).clamp(0, 1))
    if stop < lr_length:
        weight = torch.minimum(weight, (((stop + half_band) - centres) / (2 * half_band)).clamp(0, 1))
    return weight.to(torch.float32)


@torch.inference_mode()
def super_resolve_tiled(
    model: Generator,
    target: Tensor,
    neighbours: Tensor,
    flows: Tensor,
    *,
    tile: int,
    overlap: int,
    autocast_dtype: torch.dtype | None = None,
) -> Tensor:
    """The network on overlapping tiles, blended: equal to the untiled output when the overlap is enough.

    Each tile's core (at most `tile` LR pixels a side) is cropped with `overlap` LR pixels of context per
    side. Neighbouring tiles cross-fade over a band of overlap/2 LR pixels centred on their seam, so a
    tile's output is only used at least 3/4 * overlap away from its crop edge: with
    3/4 * overlap >= the network's receptive radius (see `spectraframe.upscale.memory`), tiled output
    equals untiled output up to float rounding; with less, the cross-fade hides the seams.
    """
    if tile < 1 or overlap < 0:
        raise ValueError(f"tile must be >= 1 and overlap >= 0, got tile={tile}, overlap={overlap}")
    if tile < overlap / 2:
        raise ValueError(f"tile ({tile}) must be at least half the overlap ({overlap}) so blend bands do not meet")
    device = target.device
    scale = model.config.scale
    _, h, w = target.shape
    half_band = overlap / 4
    out = torch.zeros(3, h * scale, w * scale, device=device)
    total = torch.zeros(1, h * scale, w * scale, device=device)
    for y0, y1 in tile_spans(h, tile):
        for x0, x1 in tile_spans(w, tile):
            cy0, cy1 = max(0, y0 - overlap), min(h, y1 + overlap)
            cx0, cx1 = max(0, x0 - overlap), min(w, x1 + overlap)
            crop = (slice(cy0, cy1), slice(cx0, cx1))
            with autocast_context(device, autocast_dtype):
                hr = model(target[None, :, *crop], neighbours[None, :, :, *crop], flows[None, :, :, *crop])
            hr = hr[0].float().clamp_(0.0, 1.0)
            wy = _axis_weights((cy1 - cy0) * scale, scale, y0 - cy0, y1 - cy0, h - cy0, half_band)
            wx = _axis_weights((cx1 - cx0) * scale, scale, x0 - cx0, x1 - cx0, w - cx0, half_band)
            weight = (wy[:, None] * wx[None, :]).to(device)
            region = (slice(cy0 * scale, cy1 * scale), slice(cx0 * scale, cx1 * scale))
            out[:, region[0], region[1]] += hr * weight
            total[:, region[0], region[1]] += weight
    return out.div_(total.clamp_min_(1e-12))


@torch.inference_mode()
def super_resolve_batch(
    model: Generator,
    targets: Tensor,
    neighbours: Tensor,
    *,
    flow_method: str = DEFAULT_FLOW_METHOD,
    flows: Tensor | None = None,
    autocast_dtype: torch.dtype | None = None,
    flow_cache=None,
) -> Tensor:
    """Several HR frames in one network pass: targets (B,3,h,w), neighbours (B,N,3,h,w) -> (B,3,H,W) in [0, 1].

    The flows of all B*N pairs are estimated in one batch unless given as (B,N,2,h,w).
    """
    device = generator_device(model)
    b, n = neighbours.shape[:2]
    targets = targets.to(device, torch.float32)
    neighbours = neighbours.to(device, torch.float32)
    if flows is None:
        pair_targets = targets.unsqueeze(1).expand(b, n, *targets.shape[1:]).reshape(b * n, *targets.shape[1:])
        flows = estimate_flow(pair_targets, neighbours.reshape(b * n, *neighbours.shape[2:]), method=flow_method,
                              cache=flow_cache).reshape(b, n, 2, *targets.shape[-2:])
    with autocast_context(device, autocast_dtype):
        out = model(targets, neighbours, flows.to(device, torch.float32))
    return out.float().clamp_(0.0, 1.0)


def super_resolve_clip(
    model: Generator,
    lr_frames: Tensor,
    *,
    flow_method: str = DEFAULT_FLOW_METHOD,
    autocast_dtype: torch.dtype | None = None,
    progress: bool = False,
    flow_cache=None,
    batch_size: int = 1,
    targets: Sequence[int] | None = None,
) -> Tensor:
    """Every frame of an in-memory clip (T,3,h,w) in [0, 1] -> (T,3,H,W) on the CPU; with `targets`, only
    those frames (len(targets),3,H,W), still with the whole clip as their neighbours.

    Neighbours beyond the clip's ends replicate the nearest frame. `batch_size` target frames (and their
    flows) go through the network together: fewer, larger passes, which GPUs in particular run faster.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    num_frames = model.config.num_frames
    count = lr_frames.shape[0]
    wanted = list(range(count)) if targets is None else list(targets)
    outputs = []
    with tqdm(total=len(wanted), desc="super-resolving", unit="frame", disable=not progress) as bar:
        for start in range(0, len(wanted), batch_size):
            batch = wanted[start : start + batch_size]
            windows = torch.stack([lr_frames[neighbour_indices(t, count, num_frames)] for t in batch])
            hr = super_resolve_batch(model, lr_frames[batch], windows, flow_method=flow_method,
                                     autocast_dtype=autocast_dtype, flow_cache=flow_cache)
            outputs.append(hr.cpu())
            bar.update(len(batch))
    return torch.cat(outputs)
