"""MATLAB-compatible imresize and BD degradation against independent references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from spectraframe.degradation import (
    bicubic_degrade,
    bicubic_upsample,
    blur_degrade,
    degrade,
    gaussian_kernel_1d,
    imresize,
    modcrop,
)
from spectraframe.errors import SpectraFrameError

# ---- an independent reference: the classic loop-based port of MATLAB's imresize ----


def _reference_cubic(x: float) -> float:
    ax = abs(x)
    if ax <= 1:
        return 1.5 * ax**3 - 2.5 * ax**2 + 1
    if ax <= 2:
        return -0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2
    return 0.0


def _reference_contributions(in_len: int, out_len: int, scale: float) -> tuple[list[list[int]], list[list[float]]]:
    """MATLAB `contributions` with explicit loops: 0-based source indices and normalised weights per output."""
    width = 4.0 / scale if scale < 1 else 4.0
    all_indices, all_weights = [], []
    for x in range(1, out_len + 1):
        u = x / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - width / 2)
        indices, weights = [], []
        for p in range(int(math.ceil(width)) + 2):
            j = left + p
            w = scale * _reference_cubic(scale * (u - j)) if scale < 1 else _reference_cubic(u - j)
            # Symmetric padding: 1-based j outside [1, in_len] mirrors back (edge pixel repeated).
            k = j - 1
            period = 2 * in_len
            k = k % period
            if k >= in_len:
                k = period - 1 - k
            indices.append(k)
            weights.append(w)
        total = sum(weights)
        all_indices.append(indices)
        all_weights.append([w / total for w in weights])
    return all_indices, all_weights


def _reference_imresize(image: np.ndarray, scale: float) -> np.ndarray:
    """(H, W) float64 image, resized rows first, then columns, as MATLAB does for equal scales."""
    h, w = image.shape
    out_h, out_w = math.ceil(h * scale), math.ceil(w * scale)
    idx, wts = _reference_contributions(h, out_h, scale)
    rows = np.zeros((out_h, w))
    for i in range(out_h):
        for k, wt in zip(idx[i], wts[i], strict=True):
            rows[i] += wt * image[k]
    idx, wts = _reference_contributions(w, out_w, scale)
    out = np.zeros((out_h, out_w))
    for j in range(out_w):
        for k, wt in zip(idx[j], wts[j], strict=True):
            out[:, j] += wt * rows[:, k]
    return out


@pytest.mark.parametrize(("shape", "scale"), [((24, 32), 0.25), ((9, 7), 4.0), ((20, 17), 0.37), ((11, 13), 1.7)])
def test_imresize_matches_loop_reference(shape: tuple[int, int], scale: float) -> None:
    rng = np.random.default_rng(0)
    image = rng.random(shape)
    ours = imresize(torch.from_numpy(image)[None, None], scale=scale)[0, 0].numpy()
    expected = _reference_imresize(image, scale)
    assert ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, atol=1e-12)


def test_imresize_constant_stays_constant() -> None:
    image = torch.full((2, 3, 20, 28), 0.3, dtype=torch.float64)
    for scale in (0.25, 0.5, 1 / 3, 2.0, 4.0, 0.7):
        out = imresize(image, scale=scale)
        assert torch.allclose(out, torch.full_like(out, 0.3), atol=1e-12), scale


def test_imresize_downscaled_ramp_follows_the_mapped_centres() -> None:
    # Cubic convolution reproduces linear functions: away from the mirrored borders, output pixel x
    # (1-based) of a ramp j -> j is the input coordinate it maps to, x / s + (1 - 1/s) / 2.
    width = 64
    ramp = torch.arange(1, width + 1, dtype=torch.float64).repeat(8, 1)
    out = imresize(ramp, scale=0.25)
    assert out.shape == (2, 16)
    x = torch.arange(1, 17, dtype=torch.float64)
    expected = 4 * x - 1.5
    assert torch.allclose(out[0, 3:-3], expected[3:-3], atol=1e-10)
    # At the edges the mirrored padding bends the ramp, so the outputs leave the line there.
    assert not torch.isclose(out[0, 0], expected[0])


def test_imresize_commutes_with_flips() -> None:
    # The sampling grid and the symmetric padding are both mirror-symmetric.
    image = torch.rand(1, 3, 20, 28, dtype=torch.float64)
    for scale in (0.25, 4.0, 0.5):
        flipped = imresize(image.flip(-1, -2), scale=scale)
        assert torch.allclose(flipped, imresize(image, scale=scale).flip(-1, -2), atol=1e-12)


def test_imresize_batch_and_size_argument() -> None:
    images = torch.rand(3, 3, 16, 24, dtype=torch.float64)
    batch = imresize(images, scale=0.5)
    single = torch.stack([imresize(img, scale=0.5) for img in images])
    assert torch.allclose(batch, single)
    by_size = imresize(images, size=(8, 12))
    assert torch.allclose(batch, by_size)
    # Different per-axis scales: the smaller one is resized first, as MATLAB does.
    assert imresize(images, size=(4, 48)).shape == (3, 3, 4, 48)


def test_imresize_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match="float"):
        imresize(torch.zeros(3, 8, 8, dtype=torch.uint8), scale=0.5)
    with pytest.raises(ValueError, match="exactly one"):
        imresize(torch.zeros(3, 8, 8), scale=0.5, size=(4, 4))
    with pytest.raises(ValueError, match="positive"):
        imresize(torch.zeros(3, 8, 8), scale=-1)


def test_modcrop_numpy_and_tensor() -> None:
    assert modcrop(np.zeros((481, 854, 3), np.uint8), 4).shape == (480, 852, 3)
    assert modcrop(torch.zeros(2, 3, 481, 854), 4).shape == (2, 3, 480, 852)


def test_bicubic_degrade_quantizes_and_round_trips_shape() -> None:
    hr = torch.rand(2, 3, 32, 48)
    lr = bicubic_degrade(hr, 4)
    assert lr.shape == (2, 3, 8, 12)
    assert torch.allclose(lr * 255, (lr * 255).round(), atol=1e-4)
    assert lr.min() >= 0 and lr.max() <= 1
    assert bicubic_upsample(lr, 4).shape == hr.shape
    with pytest.raises(SpectraFrameError, match="modcrop"):
        bicubic_degrade(torch.rand(3, 33, 48), 4)


def test_blur_degrade_matches_scipy_gaussian_and_samples_from_pixel_zero() -> None:
    kernel = gaussian_kernel_1d()
    assert kernel.shape == (13,) and abs(kernel.sum() - 1) < 1e-12
    rng = np.random.default_rng(1)
    image = rng.random((40, 36))
    # scipy's "mirror" mode is reflect without repeating the edge, like the DUF/TDAN tf.pad REFLECT.
    blurred = ndimage.gaussian_filter(image, sigma=1.6, mode="mirror", truncate=6 / 1.6)
    expected = blurred[0::4, 0::4]
    ours = blur_degrade(torch.from_numpy(image)[None, None], 4, quantize=False)[0, 0].numpy()
    np.testing.assert_allclose(ours, expected, atol=1e-12)


def test_degrade_dispatch_and_unknown_kind() -> None:
    hr = torch.rand(1, 3, 32, 32)
    assert torch.equal(degrade(hr, 4, "bi"), bicubic_degrade(hr, 4))
    assert torch.equal(degrade(hr, 4, "bd"), blur_degrade(hr, 4))
    with pytest.raises(SpectraFrameError, match="unknown degradation"):
        degrade(hr, 4, "nearest")
