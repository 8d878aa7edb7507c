"""The flow entry points: ``estimate_flow``, ``warp`` and ``warp_error``.

Convention everywhere: a flow (N, 2, H, W) holds, in LR pixels, channel 0 = u (horizontal, +x to the
right) and channel 1 = v (vertical, +y downwards) such that ``neighbour(x + u, y + v) ~ target(x, y)``;
so ``warp(neighbour, flow) ~ target``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from spectraframe.errors import SpectraFrameError
from spectraframe.flow.cache import FlowCache, content_hash
from spectraframe.flow.coarse2fine import CoarseToFineParams, coarse_to_fine_flow, warp_sampled
from spectraframe.flow.names import DEFAULT_FLOW_METHOD
from spectraframe.flow.opencv_flow import DISParams, FarnebackParams, dis_flow, farneback_flow

log = logging.getLogger(__name__)

WARP_ERROR_BORDER = 4


@dataclass(frozen=True)
class FlowMethod:
    """A flow backend: its parameter dataclass and its batched solver."""

    name: str
    params_type: type
    solve: Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor]
    description: str
    # Smallest side the solver handles: smaller frames are padded (edges repeated) and the flow cropped back.
    # OpenCV's DIS refuses sides under 12 px and crashes the process on some frames under 16 px high.
    min_side: int = 4


METHODS: dict[str, FlowMethod] = {
    "coarse2fine": FlowMethod(
        "coarse2fine", CoarseToFineParams, coarse_to_fine_flow,
        "our variational coarse-to-fine flow (Brox/Ce Liu), pure torch, CPU or CUDA",
    ),
    "dis": FlowMethod("dis", DISParams, dis_flow, "OpenCV DIS, CPU (preset ultrafast/fast/medium)", min_side=16),
    "farneback": FlowMethod("farneback", FarnebackParams, farneback_flow, "OpenCV Farneback, CPU"),
}  # names.FLOW_METHODS lists these keys for the CLI (tests/flow keeps them equal)


def resolve_params(method: str, params: dict[str, Any]) -> tuple[FlowMethod, Any]:
    """The backend of ``method`` and its parameter dataclass built from ``params``, checked."""
    if method not in METHODS:
        raise SpectraFrameError(f"unknown flow method {method!r}: choose one of {', '.join(METHODS)}")
    backend = METHODS[method]
    known = {field.name for field in dataclasses.fields(backend.params_type)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise SpectraFrameError(
            f"unknown parameter(s) {', '.join(unknown)} for flow method {method!r}; "
            f"valid: {', '.join(sorted(known))}"
        )
    return backend, backend.params_type(**params)


def as_float_images(images: torch.Tensor, name: str) -> torch.Tensor:
    """uint8 (0-255) or float ([0, 1]) RGB images -> float32 in [0, 1], checked to be finite and in range."""
    if not isinstance(images, torch.Tensor):
        raise SpectraFrameError(f"{name} must be a torch.Tensor (C, H, W) or (N, C, H, W), got {type(images).__name__}")
    if images.dtype == torch.uint8:
        return images.to(torch.float32) / 255.0
    if not images.is_floating_point():
        raise SpectraFrameError(f"{name} must be uint8 (0-255) or float in [0, 1], got dtype {images.dtype}")
    images = images.detach().to(torch.float32)
    if not bool(torch.isfinite(images).all()):
        raise SpectraFrameError(f"{name} contains NaN or Inf values")
    if images.numel() and (float(images.min()) < -1e-3 or float(images.max()) > 1.0 + 1e-3):
        raise SpectraFrameError(
            f"{name} has values in [{float(images.min()):.3g}, {float(images.max()):.3g}]; float images must be "
            "in [0, 1] (divide 0-255 data by 255, or pass uint8)"
        )
    return images.clamp(0.0, 1.0)


def check_pair_shapes(target: torch.Tensor, neighbours: torch.Tensor) -> None:
    """Raise a SpectraFrameError unless target is (3, H, W) or (N, 3, H, W) and neighbours (N, 3, H, W)."""
    if neighbours.ndim != 4 or neighbours.shape[1] != 3 or neighbours.shape[0] < 1:
        raise SpectraFrameError(f"neighbours must be (N, 3, H, W) RGB, got shape {tuple(neighbours.shape)}")
    count, _, height, width = neighbours.shape
    if target.ndim == 3:
        expected_ok = target.shape == (3, height, width)
    elif target.ndim == 4:
        expected_ok = target.shape == (count, 3, height, width)
    else:
        expected_ok = False
    if not expected_ok:
        raise SpectraFrameError(
            f"target must be (3, {height}, {width}) or ({count}, 3, {height}, {width}) to match neighbours "
            f"{tuple(neighbours.shape)}, got {tuple(target.shape)}"
        )
    if target.device != neighbours.device:
        raise SpectraFrameError(f"target is on {target.device} but neighbours on {neighbours.device}")
    if height < 2 or width < 2:
        raise SpectraFrameError(f"frames of {width}x{height} pixels are too small for optical flow")


def estimate_flow(
    target: torch.Tensor,
    neighbours: torch.Tensor,
    method: str = DEFAULT_FLOW_METHOD,
    cache: FlowCache | None = None,
    **params: Any,
) -> torch.Tensor:
    """Dense flow from ``target`` to each neighbour: (N, 2, H, W) float32 on the input device, in pixels.

    target: (3, H, W), shared by all pairs, or (N, 3, H, W), one per pair; neighbours: (N, 3, H, W).
    Both uint8 (0-255) or float in [0, 1], RGB. All pairs are solved in one batch. ``params`` are the
    fields of the method's parameter dataclass (``CoarseToFineParams``, ``DISParams``,
    ``FarnebackParams``). With a ``cache``, flows are stored as float16 and the returned flow is always
    the float16-rounded value (cached or fresh alike), so a cache hit is bit-identical to a recomputation.
    Identical or flat frames give zero flow; NaN/Inf never appear in the result.
    """
    backend, resolved = resolve_params(method, params)
    check_pair_shapes(target, neighbours)
    if cache is not None:
        return cached_flow(cache, target, neighbours, backend.name, resolved)
    return compute_flow(target, neighbours, backend.name, resolved)


def cached_flow(cache: FlowCache, target: torch.Tensor, neighbours: torch.Tensor, method: str,
                params: Any) -> torch.Tensor:
    """Flows for all pairs from `cache`, computing (in one batch) and storing only those it lacks."""
    count = neighbours.shape[0]
    shared_target = target.ndim == 3
    target_hashes = [content_hash(target)] * count if shared_target else [content_hash(t) for t in target]
    keys = [cache.key(target_hashes[i], content_hash(neighbours[i]), method, params) for i in range(count)]
    flows: list[torch.Tensor | None] = [cache.get(key) for key in keys]
    missing = [i for i, flow in enumerate(flows) if flow is None]
    cache.hits += count - len(missing)
    cache.misses += len(missing)
    if missing:
        index = torch.tensor(missing, device=neighbours.device)
        missing_targets = target if shared_target else target.index_select(0, index)
        fresh = compute_flow(missing_targets, neighbours.index_select(0, index), method, params)
        for i, flow in zip(missing, fresh.to(torch.float16).cpu(), strict=True):
            cache.put(keys[i], flow)
            flows[i] = flow
    return torch.stack(flows).to(device=neighbours.device, dtype=torch.float32)


def compute_flow(target: torch.Tensor, neighbours: torch.Tensor, method: str, params: Any) -> torch.Tensor:
    """Run one backend on checked inputs (no cache); ``params`` is the method's parameter dataclass."""
    backend = METHODS[method]
    target_f = as_float_images(target, "target")
    neighbours_f = as_float_images(neighbours, "neighbours")
    if target_f.ndim == 3:
        target_f = target_f.unsqueeze(0)
    # inference_mode skips autograd bookkeeping (a large share of the per-op cost of the solver); the
    # clone outside it gives callers an ordinary tensor they may use in autograd graphs.
    height, width = neighbours_f.shape[-2:]
    pad = (0, max(0, backend.min_side - width), 0, max(0, backend.min_side - height))
    with torch.inference_mode():
        if any(pad):  # tiny frames: edges repeated up to the solver's minimum, the flow cropped back
            target_f = torch.nn.functional.pad(target_f, pad, mode="replicate")
            neighbours_f = torch.nn.functional.pad(neighbours_f, pad, mode="replicate")
        flow = backend.solve(target_f, neighbours_f, params)[..., :height, :width]
    flow = flow.clone()
    if not bool(torch.isfinite(flow).all()):
        log.warning("flow method %s produced non-finite values; they are replaced by 0", method)
        flow = torch.nan_to_num(flow, nan=0.0, posinf=0.0, neginf=0.0)
    return flow


def warp(image: torch.Tensor, flow: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Backward-warp ``image`` (C, H, W) or (N, C, H, W) with ``flow`` (2, H, W) or (N, 2, H, W):
    out(x, y) = image(x + u, y + v), bilinear (or grid_sample's other ``mode``s: "bicubic", "nearest"), borders
    replicated. ``warp(neighbour, flow) ~ target``.

    The result is float in the input's scale (uint8 input gives float 0-255 values)."""
    squeeze = image.ndim == 3
    images = image.unsqueeze(0) if squeeze else image
    flows = flow.unsqueeze(0) if flow.ndim == 3 else flow
    if images.ndim != 4 or flows.ndim != 4 or flows.shape[1] != 2:
        raise SpectraFrameError(f"warp expects image (N, C, H, W) and flow (N, 2, H, W), got "
                                f"{tuple(image.shape)} and {tuple(flow.shape)}")
    if images.shape[-2:] != flows.shape[-2:]:
        raise SpectraFrameError(f"image is {tuple(images.shape[-2:])} but flow is {tuple(flows.shape[-2:])}")
    if images.shape[0] != flows.shape[0]:
        if images.shape[0] == 1:
            images = images.expand(flows.shape[0], -1, -1, -1)
        elif flows.shape[0] == 1:
            flows = flows.expand(images.shape[0], -1, -1, -1)
        else:
            raise SpectraFrameError(f"warp got {images.shape[0]} images but {flows.shape[0]} flows")
    if not images.is_floating_point():
        images = images.to(torch.float32)
    warped, _ = warp_sampled(images, flows.to(images.dtype), mode)
    return warped.squeeze(0) if squeeze and warped.shape[0] == 1 else warped


def warp_error(target: torch.Tensor, neighbour: torch.Tensor, flow: torch.Tensor) -> float:
    """Mean absolute RGB difference between ``target`` and ``warp(neighbour, flow)`` on the 0-255 scale,
    a 4-pixel border excluded; over all pairs when batched (target may be shared, (3, H, W))."""
    target_f = as_float_images(target, "target")
    neighbour_f = as_float_images(neighbour, "neighbour")
    warped = warp(neighbour_f, flow)
    if warped.ndim == 3:
        warped = warped.unsqueeze(0)
    if target_f.ndim == 3:
        target_f = target_f.unsqueeze(0)
    height, width = warped.shape[-2:]
    border = WARP_ERROR_BORDER if min(height, width) > 2 * WARP_ERROR_BORDER else 0
    crop = (slice(None), slice(None), slice(border, height - border), slice(border, width - border))
    return float(((warped - target_f).abs()[crop]).mean() * 255.0)
