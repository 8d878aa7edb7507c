"""Running a trained generator: flows for each target frame's neighbours, then RBPN.

The building block shared by `eval`, training validation and the streaming `upscale` pipeline.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch
from torch import Tensor
from tqdm import tqdm

from spectraframe.archs.rbpn import RBPN
from spectraframe.data.windows import neighbour_indices
from spectraframe.flow import estimate_flow


def autocast_context(device: torch.device, dtype: torch.dtype | None):
    """Autocast for bf16/fp16 inference; a no-op for fp32 (dtype None or float32)."""
    if dtype is None or dtype == torch.float32:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


@torch.inference_mode()
def super_resolve_frame(
    model: RBPN,
    target: Tensor,
    neighbours: Tensor,
    *,
    flow_method: str = "coarse2fine",
    flows: Tensor | None = None,
    autocast_dtype: torch.dtype | None = None,
    flow_cache=None,
) -> Tensor:
    """One HR frame from LR frames in [0, 1]: target (3,h,w), neighbours (N,3,h,w) in RBPN order.

    Flows (N,2,h,w) from the target to each neighbour are estimated in one batch unless given.
    Returns (3, h*s, w*s) clamped to [0, 1], float32, on the model's device.
    """
    device = next(model.parameters()).device
    target = target.to(device, torch.float32)
    neighbours = neighbours.to(device, torch.float32)
    if flows is None:
        flows = estimate_flow(target, neighbours, method=flow_method, cache=flow_cache)
    with autocast_context(device, autocast_dtype):
        out = model(target[None], neighbours[None], flows.to(device, torch.float32)[None])
    return out[0].float().clamp_(0.0, 1.0)


def super_resolve_clip(
    model: RBPN,
    lr_frames: Tensor,
    *,
    flow_method: str = "coarse2fine",
    autocast_dtype: torch.dtype | None = None,
    progress: bool = False,
    flow_cache=None,
) -> Tensor:
    """Every frame of an in-memory clip (T,3,h,w) in [0, 1] -> (T,3,H,W) on the CPU.

    Neighbours beyond the clip's ends replicate the nearest frame.
    """
    num_frames = model.config.num_frames
    outputs = []
    for t in tqdm(range(lr_frames.shape[0]), desc="super-resolving", unit="frame", disable=not progress):
        indices = neighbour_indices(t, lr_frames.shape[0], num_frames)
        hr = super_resolve_frame(
            model,
            lr_frames[t],
            lr_frames[indices],
            flow_method=flow_method,
            autocast_dtype=autocast_dtype,
            flow_cache=flow_cache,
        )
        outputs.append(hr.cpu())
    return torch.stack(outputs)
