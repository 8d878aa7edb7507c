"""Blur kernels of the real-world degradation (as Real-ESRGAN / BasicSR's `degradations.py`), and their convolution.

Every kernel is a (k, k) float64 numpy array with odd k that sums to 1:
- Gaussian, isotropic or anisotropic (two sigmas and a rotation);
- generalised Gaussian, exp(-0.5 (x^T S^-1 x)^beta): beta < 1 heavier tails, beta > 1 a flatter top;
- plateau, 1 / (1 + (x^T S^-1 x)^beta): a flat top with slowly falling tails;
- sinc (circular low-pass, `circular_lowpass_kernel`): the ringing and overshoot of a sharp low-pass filter.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

KERNEL_TYPES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")


def _grid(size: int) -> np.ndarray:
    """(size, size, 2) coordinates (x, y) of each tap, centred on the middle tap."""
    ax = np.arange(size, dtype=np.float64) - (size - 1) / 2
    xx, yy = np.meshgrid(ax, ax)
    return np.stack([xx, yy], axis=-1)


def sigma_matrix(sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    """The covariance of a Gaussian with standard deviations sigma_x, sigma_y along axes rotated by theta."""
    rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    return rotation @ np.diag([sigma_x**2, sigma_y**2]) @ rotation.T


def _mahalanobis2(size: int, sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    grid = _grid(size)
    inverse = np.linalg.inv(sigma_matrix(sigma_x, sigma_y, theta))
    return np.sum((grid @ inverse) * grid, axis=-1)


def _normalised(kernel: np.ndarray) -> np.ndarray:
    return kernel / kernel.sum()


def gaussian_kernel(size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0) -> np.ndarray:
    """Bivariate Gaussian (isotropic when sigma_y is None)."""
    d2 = _mahalanobis2(size, sigma_x, sigma_x if sigma_y is None else sigma_y, theta)
    return _normalised(np.exp(-0.5 * d2))


def generalized_gaussian_kernel(size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0,
                                beta: float = 1.0) -> np.ndarray:
    """exp(-0.5 * d2^beta): beta = 1 is the Gaussian."""
    d2 = _mahalanobis2(size, sigma_x, sigma_x if sigma_y is None else sigma_y, theta)
    return _normalised(np.exp(-0.5 * np.power(d2, beta)))


def plateau_kernel(size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0,
                   beta: float = 1.0) -> np.ndarray:
    """1 / (1 + d2^beta)."""
    d2 = _mahalanobis2(size, sigma_x, sigma_x if sigma_y is None else sigma_y, theta)
    return _normalised(1.0 / (np.power(d2, beta) + 1.0))


def circular_lowpass_kernel(cutoff: float, size: int) -> np.ndarray:
    """2-D sinc: the ideal circular low-pass filter of angular cutoff `cutoff` (radians per pixel, up to pi)."""
    r = np.sqrt(np.sum(_grid(size) ** 2, axis=-1))
    j1 = torch.special.bessel_j1(torch.from_numpy(cutoff * r)).numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        kernel = cutoff * j1 / (2 * np.pi * r)
    centre = (size - 1) // 2
    kernel[centre, centre] = cutoff**2 / (4 * np.pi)  # the limit at r = 0
    return _normalised(kernel)


def random_kernel(rng: np.random.Generator, size: int, kernel_type: str, sigma_range: list[float],
                  betag_range: list[float], betap_range: list[float]) -> np.ndarray:
    """One kernel of `kernel_type` (KERNEL_TYPES) with its parameters drawn as Real-ESRGAN draws them: sigmas
    uniform in sigma_range, a uniform rotation for the anisotropic ones, beta below or above 1 with equal odds."""
    if kernel_type not in KERNEL_TYPES:
        raise ValueError(f"unknown kernel type {kernel_type!r}: choose from {', '.join(KERNEL_TYPES)}")
    sigma_x = rng.uniform(*sigma_range)
    sigma_y, theta = (rng.uniform(*sigma_range), rng.uniform(-math.pi, math.pi)) \
        if kernel_type.endswith("aniso") else (sigma_x, 0.0)
    if kernel_type in ("iso", "aniso"):
        return gaussian_kernel(size, sigma_x, sigma_y, theta)
    beta_range = betag_range if kernel_type.startswith("generalized") else betap_range
    beta = rng.uniform(beta_range[0], 1.0) if rng.uniform() < 0.5 else rng.uniform(1.0, beta_range[1])
    if kernel_type.startswith("generalized"):
        return generalized_gaussian_kernel(size, sigma_x, sigma_y, theta, beta)
    return plateau_kernel(size, sigma_x, sigma_y, theta, beta)


def _fft_size(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n: FFT lengths with large prime factors are several times slower."""
    best = 1 << (n - 1).bit_length()
    power3 = 1
    while power3 < best:
        power5 = power3
        while power5 < best:
            candidate = power5
            while candidate < n:
                candidate *= 2
            best = min(best, candidate)
            power5 *= 5
        power3 *= 3
    return best


def filter2d(images: torch.Tensor, kernel: np.ndarray) -> torch.Tensor:
    """Every (H, W) plane of `images` (..., H, W) convolved with `kernel`, borders reflected (replicated where the
    image is smaller than the kernel's radius). Through the FFT: a 21x21 kernel costs no more than a 3x3 one."""
    size = kernel.shape[-1]
    pad = size // 2
    height, width = images.shape[-2:]
    planes = images.reshape(-1, 1, height, width)
    mode = "reflect" if pad < min(height, width) else "replicate"
    planes = F.pad(planes, (pad, pad, pad, pad), mode=mode)[:, 0]
    padded = tuple(_fft_size(n) for n in planes.shape[-2:])
    weight = torch.from_numpy(np.ascontiguousarray(kernel)).to(device=images.device, dtype=images.dtype)
    # Circular convolution of the padded planes: outputs from index size - 1 on never wrap around.
    spectrum = torch.fft.rfft2(planes, s=padded) * torch.fft.rfft2(weight, s=padded)
    out = torch.fft.irfft2(spectrum, s=padded)[:, size - 1 : size - 1 + height, size - 1 : size - 1 + width]
    return out.reshape(images.shape).contiguous()
