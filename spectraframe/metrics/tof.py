"""tOF temporal consistency (TecoGAN): how far the motion of the output departs from the true motion.

For each pair of consecutive frames (t-1, t), the optical flow from t-1 to t is estimated on the
output and on the ground truth with the flow engine (`spectraframe.flow.estimate_flow`, default
backend "coarse2fine"); tOF of the pair is the mean over pixels of the endpoint distance
|flow_output - flow_gt| (in HR pixels, as TecoGAN's `OF_diff` vector norm), and tOF of a clip the mean
over its pairs. Lower is better; 0 means the output moves exactly like the ground truth. Unlike
TecoGAN (Farneback on gray frames with a centre crop), the flow runs on full RGB frames.
"""

from __future__ import annotations

import torch
from torch import Tensor

from spectraframe.flow.api import DEFAULT_FLOW_METHOD


def _check_clip(frames: Tensor, name: str) -> None:
    if frames.ndim != 4 or frames.shape[1] != 3:
        raise ValueError(f"tOF expects {name} frames shaped (T, 3, H, W), got {tuple(frames.shape)}")


def tof_pairs(output: Tensor, target: Tensor, method: str = DEFAULT_FLOW_METHOD) -> list[float]:
    """tOF of each consecutive pair (t-1, t) of a clip; output and target are (T, 3, H, W)."""
    _check_clip(output, "output")
    _check_clip(target, "ground-truth")
    if output.shape != target.shape:
        raise ValueError(f"output {tuple(output.shape)} and ground truth {tuple(target.shape)} differ in shape")
    if output.shape[0] < 2:
        raise ValueError("tOF needs at least two frames")
    from spectraframe.flow import estimate_flow

    values = []
    for t in range(1, output.shape[0]):
        # One call per pair solves the output's and the ground truth's flow together.
        previous = torch.stack([output[t - 1], target[t - 1]])
        current = torch.stack([output[t], target[t]])
        flow_out, flow_gt = estimate_flow(previous, current, method=method).float()
        values.append(float((flow_out - flow_gt).pow(2).sum(dim=0).sqrt().mean()))
    return values


def tof_clip(output: Tensor, target: Tensor, method: str = DEFAULT_FLOW_METHOD) -> float:
    """Mean tOF over the consecutive pairs of a clip."""
    values = tof_pairs(output, target, method)
    return sum(values) / len(values)
