"""PSNR/SSIM of the benchmark protocol against closed forms and an independent SSIM."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.signal import convolve2d

from spectraframe.metrics.psnr_ssim import clip_mean, mean_of_clip_means, psnr, psnr_ssim, rgb_to_y, ssim


def _random_image(seed: int, shape=(40, 48, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_rgb_to_y_bt601_range() -> None:
    black = torch.zeros(3, 2, 2, dtype=torch.float64)
    white = torch.full((3, 2, 2), 255.0, dtype=torch.float64)
    assert torch.allclose(rgb_to_y(black), torch.full((1, 2, 2), 16.0, dtype=torch.float64))
    assert torch.allclose(rgb_to_y(white), torch.full((1, 2, 2), 235.0, dtype=torch.float64))


def test_psnr_closed_form_on_y_and_rgb() -> None:
    a = _random_image(0)
    a = np.clip(a, 0, 254).astype(np.uint8)
    b = a + 1  # every channel up by one level
    # Y moves by (65.481 + 128.553 + 24.966) / 255 = 219 / 255.
    assert psnr(b, a) == pytest.approx(20 * math.log10(255 / (219 / 255)), abs=1e-9)
    assert psnr(b, a, channel="rgb") == pytest.approx(20 * math.log10(255), abs=1e-9)
    assert psnr(a, a) == math.inf


def test_numpy_and_tensor_inputs_agree_and_batches_return_tensors() -> None:
    a, b = _random_image(1), _random_image(2)
    ta = torch.from_numpy(a).permute(2, 0, 1).float() / 255
    tb = torch.from_numpy(b).permute(2, 0, 1).float() / 255
    assert psnr(a, b) == pytest.approx(psnr(ta, tb), abs=1e-4)
    assert ssim(a, b) == pytest.approx(ssim(ta, tb), abs=1e-6)
    batch_p, batch_s = psnr_ssim(torch.stack([ta, ta]), torch.stack([tb, ta]))
    assert batch_p.shape == (2,) and batch_p[1] == math.inf
    assert batch_s[0].item() == pytest.approx(ssim(a, b), abs=1e-6) and batch_s[1].item() == pytest.approx(1.0)


def _reference_ssim(x: np.ndarray, y: np.ndarray) -> float:
    """Wang et al. SSIM, 11x11 Gaussian sigma 1.5, 'valid', written with scipy's 2-D convolution."""
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5**2))
    window = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def f(img: np.ndarray) -> np.ndarray:
        return convolve2d(img, window, mode="valid")

    mx, my = f(x), f(y)
    vx, vy, cxy = f(x * x) - mx**2, f(y * y) - my**2, f(x * y) - mx * my
    return float(np.mean(((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))))


def test_ssim_matches_independent_reference_y_rgb_and_border() -> None:
    a = _random_image(3)
    b = np.clip(a.astype(int) + np.random.default_rng(4).integers(-20, 21, a.shape), 0, 255).astype(np.uint8)
    w = np.array([65.481, 128.553, 24.966]) / 255
    ya, yb = 16 + a.astype(np.float64) @ w, 16 + b.astype(np.float64) @ w
    assert ssim(a, b) == pytest.approx(_reference_ssim(ya, yb), abs=1e-10)
    assert ssim(a, b, border=4) == pytest.approx(_reference_ssim(ya[4:-4, 4:-4], yb[4:-4, 4:-4]), abs=1e-10)
    rgb = np.mean([_reference_ssim(a[..., c].astype(float), b[..., c].astype(float)) for c in range(3)])
    assert ssim(a, b, channel="rgb") == pytest.approx(rgb, abs=1e-10)
    assert ssim(a, a) == pytest.approx(1.0)


def test_bad_inputs_are_reported() -> None:
    a = _random_image(5)
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(a, a[:-1])
    with pytest.raises(ValueError, match="channel"):
        psnr(a, a, channel="lab")
    with pytest.raises(ValueError, match="uint8"):
        psnr(a.astype(np.float32), a)


def test_aggregation_is_mean_of_clip_means() -> None:
    per_clip = {"long": [30.0] * 9 + [20.0], "short": [40.0]}
    assert clip_mean(per_clip["long"]) == pytest.approx(29.0)
    assert mean_of_clip_means(per_clip) == pytest.approx((29.0 + 40.0) / 2)
    with pytest.raises(ValueError):
        mean_of_clip_means({})
