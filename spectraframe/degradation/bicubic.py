"""Degradations of the video-SR benchmark protocol: MATLAB-compatible bicubic `imresize` and BD blur.

`imresize` reproduces MATLAB's `imresize(x, scale, 'bicubic')`: cubic kernel a = -0.5, the kernel
widened by 1/scale when shrinking (antialiasing), symmetric edge padding, the dimension with the
smaller scale resized first. Each axis is one dense (out, in) matrix in which the padding is already
folded, so resizing is two matmuls: batched, differentiable, any scale, CPU or CUDA. No rounding
happens between the two passes (MATLAB rounds uint8 inputs after each pass; float inputs, as here,
are not rounded) and none at the end: `bicubic_degrade(quantize=True)` rounds to the uint8 grid.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from spectraframe.errors import SpectraFrameError
from spectraframe.io.tensors import quantize as quantize_uint8_grid

# BD degradation (DUF/TDAN convention): 13x13 Gaussian, sigma 1.6, reflect padding, sample from pixel 0.
BD_KERNEL_SIZE = 13


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys cubic convolution kernel with a = -0.5 (MATLAB's `cubic`)."""
    absx = np.abs(x)
    absx2 = absx**2
    absx3 = absx**3
    return (1.5 * absx3 - 2.5 * absx2 + 1) * (absx <= 1) + (-0.5 * absx3 + 2.5 * absx2 - 4 * absx + 2) * (
        (absx > 1) & (absx <= 2)
    )


@lru_cache(maxsize=64)
def resize_matrix(in_length: int, out_length: int, scale: float, antialiasing: bool = True) -> np.ndarray:
    """The (out_length, in_length) float64 matrix of MATLAB's `contributions` along one axis.

    Symmetric padding is folded in: a tap that falls outside the input adds its weight to the mirrored
    pixel (MATLAB's `aux = [1:in, in:-1:1]` index table).
    """
    kernel_width = 4.0
    shrinking_with_aa = scale < 1 and antialiasing
    if shrinking_with_aa:
        kernel_width = kernel_width / scale
    x = np.arange(1, out_length + 1, dtype=np.float64)
    # Output pixel centres mapped into input coordinates (1-based, as in MATLAB).
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - kernel_width / 2)
    taps = int(math.ceil(kernel_width)) + 2
    indices = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]
    distance = u[:, None] - indices
    weights = scale * _cubic(scale * distance) if shrinking_with_aa else _cubic(distance)
    weights = weights / weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    source = mirror[np.mod(indices.astype(np.int64) - 1, 2 * in_length)]
    matrix = np.zeros((out_length, in_length), dtype=np.float64)
    rows = np.broadcast_to(np.arange(out_length)[:, None], source.shape)
    np.add.at(matrix, (rows, source), weights)
    matrix.setflags(write=False)
    return matrix


@lru_cache(maxsize=64)
def _resize_matrix_tensor(
    in_length: int, out_length: int, scale: float, antialiasing: bool, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    matrix = torch.from_numpy(resize_matrix(in_length, out_length, scale, antialiasing).copy())
    return matrix.to(device=device, dtype=dtype)


def _resize_axis(images: torch.Tensor, axis: int, out_length: int, scale: float, antialiasing: bool) -> torch.Tensor:
    in_length = images.shape[axis]
    matrix = _resize_matrix_tensor(in_length, out_length, float(scale), antialiasing, images.dtype, images.device)
    if axis == -2:
        return torch.matmul(matrix, images)
    return torch.matmul(images, matrix.T)


def imresize(
    images: torch.Tensor,
    scale: float | None = None,
    size: tuple[int, int] | None = None,
    antialiasing: bool = True,
) -> torch.Tensor:
    """MATLAB `imresize(..., 'bicubic')` of float images shaped (..., H, W), e.g. (C,H,W) or (N,C,H,W).

    Give `scale` (output size = ceil(input * scale), as MATLAB) or `size` = (out_h, out_w) (the scale
    of each axis is then out / in). Values are not clamped: bicubic overshoots, callers round/clamp.
    """
    if not torch.is_floating_point(images):
        raise TypeError(f"imresize expects a float tensor, got {images.dtype}: convert with .float() / 255")
    if images.ndim < 2:
        raise ValueError(f"imresize expects (..., H, W), got shape {tuple(images.shape)}")
    in_h, in_w = images.shape[-2:]
    if (scale is None) == (size is None):
        raise ValueError("imresize needs exactly one of scale or size")
    if scale is not None:
        if scale <= 0:
            raise ValueError(f"imresize scale must be positive, got {scale}")
        out_h, out_w = math.ceil(in_h * scale), math.ceil(in_w * scale)
        scale_h = scale_w = float(scale)
    else:
        out_h, out_w = int(size[0]), int(size[1])
        if out_h <= 0 or out_w <= 0:
            raise ValueError(f"imresize size must be positive, got {size}")
        scale_h, scale_w = out_h / in_h, out_w / in_w
    # MATLAB resizes the axis with the smaller scale first (rows first on ties).
    passes = [(-2, out_h, scale_h), (-1, out_w, scale_w)]
    if scale_w < scale_h:
        passes.reverse()
    for axis, out_length, axis_scale in passes:
        images = _resize_axis(images, axis, out_length, axis_scale, antialiasing)
    return images


def modcrop(image, scale: int):
    """Crop the bottom/right so height and width are multiples of `scale`.

    numpy arrays are (H, W) or (H, W, C); tensors are (..., H, W).
    """
    if isinstance(image, np.ndarray):
        h, w = image.shape[:2]
        return image[: h - h % scale, : w - w % scale, ...]
    h, w = image.shape[-2:]
    return image[..., : h - h % scale, : w - w % scale]


def _check_divisible(hr: torch.Tensor, scale: int) -> None:
    h, w = hr.shape[-2:]
    if h % scale or w % scale:
        raise SpectraFrameError(
            f"HR size {w}x{h} is not a multiple of the scale {scale}: crop it first with modcrop(hr, {scale})"
        )


def bicubic_degrade(hr: torch.Tensor, scale: int, quantize: bool = True) -> torch.Tensor:
    """LR = imresize(HR, 1/scale) (the BI protocol), rounded to the uint8 grid when `quantize`.

    `hr` is float in [0, 1], shaped (..., H, W) with H and W multiples of `scale`.
    """
    _check_divisible(hr, scale)
    lr = imresize(hr, scale=1.0 / scale)
    return quantize_uint8_grid(lr) if quantize else lr


def gaussian_kernel_1d(size: int = BD_KERNEL_SIZE, sigma: float = 1.6) -> np.ndarray:
    """The normalised 1-D Gaussian whose outer product is the BD blur kernel (float64)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def blur_degrade(hr: torch.Tensor, scale: int = 4, sigma: float = 1.6, quantize: bool = True) -> torch.Tensor:
    """BD degradation: 13x13 Gaussian blur (sigma 1.6), then keep every `scale`-th pixel from pixel 0.

    Follows DUF/TDAN: the 13x13 kernel is the sampled, normalised Gaussian (= scipy's gaussian_filter
    of an impulse), the border is reflect-padded by 6 (no edge repeat), the subsample starts at row/col
    0. `hr` is float in [0, 1], shaped (..., H, W) with H and W multiples of `scale`.
    """
    _check_divisible(hr, scale)
    if not torch.is_floating_point(hr):
        raise TypeError(f"blur_degrade expects a float tensor, got {hr.dtype}")
    lead_shape = hr.shape[:-2]
    h, w = hr.shape[-2:]
    pad = BD_KERNEL_SIZE // 2
    if min(h, w) <= pad:
        raise SpectraFrameError(f"frame {w}x{h} is too small for the {BD_KERNEL_SIZE}x{BD_KERNEL_SIZE} BD blur")
    g = torch.from_numpy(gaussian_kernel_1d(BD_KERNEL_SIZE, sigma)).to(device=hr.device, dtype=hr.dtype)
    planes = hr.reshape(-1, 1, h, w)
    planes = F.pad(planes, (pad, pad, pad, pad), mode="reflect")
    # Separable: blur+subsample rows, then columns.
    planes = F.conv2d(planes, g.view(1, 1, -1, 1), stride=(scale, 1))
    planes = F.conv2d(planes, g.view(1, 1, 1, -1), stride=(1, scale))
    lr = planes.reshape(*lead_shape, *planes.shape[-2:])
    return quantize_uint8_grid(lr) if quantize else lr


DEGRADATIONS = ("bi", "bd")


def degrade(hr: torch.Tensor, scale: int, kind: str = "bi", quantize: bool = True) -> torch.Tensor:
    """Make the LR input from HR in [0, 1]: kind "bi" (bicubic imresize) or "bd" (Gaussian blur + subsample)."""
    if kind == "bi":
        return bicubic_degrade(hr, scale, quantize=quantize)
    if kind == "bd":
        return blur_degrade(hr, scale, quantize=quantize)
    raise SpectraFrameError(f"unknown degradation {kind!r}: choose one of {', '.join(DEGRADATIONS)}")


def bicubic_upsample(lr: torch.Tensor, scale: float) -> torch.Tensor:
    """MATLAB bicubic enlargement by `scale` (the bicubic baseline and the generator's residual)."""
    return imresize(lr, scale=scale)
