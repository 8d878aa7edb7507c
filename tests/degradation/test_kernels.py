"""Blur kernels of the real-world degradation, and their FFT convolution, against direct references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from spectraframe.degradation import gaussian_kernel_1d
from spectraframe.degradation.kernels import (
    KERNEL_TYPES,
    circular_lowpass_kernel,
    filter2d,
    gaussian_kernel,
    generalized_gaussian_kernel,
    plateau_kernel,
    random_kernel,
)


@pytest.mark.parametrize("kernel_type", KERNEL_TYPES)
def test_random_kernels_sum_to_one_are_point_symmetric_and_repeat_for_a_seed(kernel_type: str) -> None:
    for size in (7, 21):
        kernel = random_kernel(np.random.default_rng(3), size, kernel_type, [0.2, 3.0], [0.5, 4.0], [1.0, 2.0])
        assert kernel.shape == (size, size)
        assert abs(kernel.sum() - 1) < 1e-12 and kernel.min() >= 0
        np.testing.assert_allclose(kernel, kernel[::-1, ::-1], atol=1e-15)
        again = random_kernel(np.random.default_rng(3), size, kernel_type, [0.2, 3.0], [0.5, 4.0], [1.0, 2.0])
        assert np.array_equal(kernel, again)
        assert np.unravel_index(kernel.argmax(), kernel.shape) == (size // 2, size // 2)


def test_isotropic_gaussian_is_the_outer_product_of_the_bd_kernel() -> None:
    one_d = gaussian_kernel_1d(13, 1.6)
    np.testing.assert_allclose(gaussian_kernel(13, 1.6), np.outer(one_d, one_d), atol=1e-15)
    # beta = 1 makes the generalised Gaussian the Gaussian.
    np.testing.assert_allclose(generalized_gaussian_kernel(13, 1.6, 0.8, 0.3, beta=1.0),
                               gaussian_kernel(13, 1.6, 0.8, 0.3), atol=1e-15)


def test_anisotropic_kernel_is_stretched_along_its_rotation() -> None:
    wide = gaussian_kernel(21, 3.0, 0.5, 0.0)  # long along x
    assert wide[10, 14] > wide[14, 10] * 100
    turned = gaussian_kernel(21, 3.0, 0.5, math.pi / 2)
    np.testing.assert_allclose(turned, wide.T, atol=1e-12)


def test_plateau_kernel_has_heavier_tails_than_the_gaussian() -> None:
    assert plateau_kernel(21, 2.0, beta=1.0)[10, 0] > gaussian_kernel(21, 2.0)[10, 0] * 10


def test_sinc_kernel_sums_to_one_and_rings() -> None:
    kernel = circular_lowpass_kernel(math.pi / 3, 21)
    assert abs(kernel.sum() - 1) < 1e-12 and kernel.min() < 0  # negative lobes: the ringing it adds
    np.testing.assert_allclose(kernel, kernel.T, atol=1e-15)
    assert kernel[10, 10] == kernel.max()


def test_filter2d_matches_direct_convolution_with_mirrored_borders() -> None:
    rng = np.random.default_rng(0)
    image = rng.random((2, 3, 29, 40))
    kernel = gaussian_kernel(9, 2.0, 0.7, 0.6)
    ours = filter2d(torch.from_numpy(image), kernel).numpy()
    expected = np.stack([[ndimage.convolve(plane, kernel, mode="mirror") for plane in frame] for frame in image])
    np.testing.assert_allclose(ours, expected, atol=1e-10)
    flat = torch.full((1, 3, 12, 12), 0.4, dtype=torch.float64)
    # A kernel wider than the image falls back to repeating the edge; a constant stays constant either way.
    assert torch.allclose(filter2d(flat, gaussian_kernel(21, 3.0)), flat, atol=1e-12)
