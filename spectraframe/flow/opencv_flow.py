"""Fast CPU flow from OpenCV: DIS (Kroeger et al. 2016) and Farneback (2003).

Both run on 8-bit grayscale numpy images, one pair at a time; the results are returned as one
(N, 2, H, W) float32 tensor in our convention, neighbour(x + u, y + v) ~ target(x, y), which is also
OpenCV's ``calc(prev=target, next=neighbour)`` convention.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from spectraframe.errors import SpectraFrameError

DIS_PRESETS = ("ultrafast", "fast", "medium")


@dataclass(frozen=True)
class DISParams:
    """OpenCV DIS optical flow; ``preset`` is one of ultrafast, fast, medium (OpenCV's own presets)."""

    preset: str = "medium"

    def __post_init__(self) -> None:
        if self.preset not in DIS_PRESETS:
            raise SpectraFrameError(f"unknown DIS preset {self.preset!r}: choose one of {', '.join(DIS_PRESETS)}")


@dataclass(frozen=True)
class FarnebackParams:
    """OpenCV Farneback polynomial-expansion flow (the values commonly used with OpenCV)."""

    pyramid_scale: float = 0.5
    levels: int = 3
    window_size: int = 15
    iterations: int = 3
    poly_n: int = 5
    poly_sigma: float = 1.2

    def __post_init__(self) -> None:
        if not 0 < self.pyramid_scale < 1:
            raise SpectraFrameError(f"farneback pyramid_scale must be in (0, 1), got {self.pyramid_scale}")
        if self.levels < 1 or self.window_size < 1 or self.iterations < 1:
            raise SpectraFrameError("farneback levels, window_size and iterations must be >= 1")
        if self.poly_n not in (5, 7):
            raise SpectraFrameError(f"farneback poly_n must be 5 or 7, got {self.poly_n}")


def _gray_uint8(images: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) float RGB in [0, 1] -> (B, H, W) uint8 luma (ITU-R 601, as cv2.COLOR_RGB2GRAY)."""
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    gray = (images * weights).sum(dim=1) * 255.0
    return np.ascontiguousarray(gray.round().clamp(0, 255).to(torch.uint8).cpu().numpy())


def _pairwise(target: torch.Tensor, neighbours: torch.Tensor, solve) -> torch.Tensor:
    target_gray = _gray_uint8(target)
    neighbour_gray = _gray_uint8(neighbours)
    flows = []
    for index in range(neighbour_gray.shape[0]):
        prev = target_gray[index if target_gray.shape[0] > 1 else 0]
        nxt = neighbour_gray[index]
        if np.array_equal(prev, nxt) or prev.min() == prev.max():
            # Nothing moved, or the target has no structure to track: the flow is zero by definition
            # (DIS would otherwise return its patch initialisation noise).
            flows.append(np.zeros((*prev.shape, 2), dtype=np.float32))
        else:
            flows.append(solve(prev, nxt))
    stacked = torch.from_numpy(np.stack(flows)).permute(0, 3, 1, 2).contiguous()
    return torch.nan_to_num(stacked, nan=0.0, posinf=0.0, neginf=0.0).to(neighbours.device)


def dis_flow(target: torch.Tensor, neighbours: torch.Tensor, params: DISParams | None = None) -> torch.Tensor:
    """DIS flow for every pair; target (1 or N, 3, H, W), neighbours (N, 3, H, W), float RGB in [0, 1]."""
    import cv2

    params = params or DISParams()
    preset = {
        "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
        "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
        "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
    }[params.preset]
    solver = cv2.DISOpticalFlow_create(preset)
    return _pairwise(target, neighbours, lambda prev, nxt: solver.calc(prev, nxt, None))


def farneback_flow(
    target: torch.Tensor, neighbours: torch.Tensor, params: FarnebackParams | None = None
) -> torch.Tensor:
    """Farneback flow for every pair; same inputs as :func:`dis_flow`."""
    import cv2

    params = params or FarnebackParams()

    def solve(prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        return cv2.calcOpticalFlowFarneback(
            prev, nxt, None, params.pyramid_scale, params.levels, params.window_size, params.iterations,
            params.poly_n, params.poly_sigma, 0,
        )

    return _pairwise(target, neighbours, solve)
