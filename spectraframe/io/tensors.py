"""Conversions between uint8 image arrays (H, W, 3) and float tensors (3, H, W) in [0, 1]."""

from __future__ import annotations

import numpy as np
import torch


def to_tensor(image: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(H, W, 3) uint8 RGB array -> (3, H, W) float tensor in [0, 1]."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"to_tensor expects an (H, W, 3) uint8 array, got {image.shape} {image.dtype}")
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).to(dtype) / 255.0


def round_to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [0, 1] (any shape) -> uint8 on the CPU, rounded to nearest and clamped: what every output
    is before it is scored or written. The product is taken in float64, where x * 255 of a float32 is exact."""
    return (images.detach().to(torch.float64) * 255.0).round().clamp(0, 255).to(torch.uint8).cpu()


def to_uint8(tensor: torch.Tensor) -> np.ndarray:
    """(3, H, W) float tensor in [0, 1] -> (H, W, 3) uint8 array, rounded to nearest and clamped."""
    if tensor.ndim != 3 or tensor.shape[0] != 3:
        raise ValueError(f"to_uint8 expects a (3, H, W) tensor, got shape {tuple(tensor.shape)}")
    return np.ascontiguousarray(round_to_uint8(tensor).permute(1, 2, 0).numpy())


def quantize(images: torch.Tensor) -> torch.Tensor:
    """Round float images in [0, 1] to the uint8 grid (k / 255), clamping, keeping dtype and device."""
    return (images * 255.0).round().clamp(0, 255) / 255.0
