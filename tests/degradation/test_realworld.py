"""The real-world training degradation: its config, its single operations and the whole clip pipeline."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from helpers.media import moving_frames

from spectraframe.degradation import bicubic_degrade
from spectraframe.degradation.realworld import (
    RealWorldConfig,
    add_gaussian_noise,
    add_poisson_noise,
    jpeg_compress,
    realworld_degrade,
)
from spectraframe.errors import SpectraFrameError

# Every step off but the final resize (MATLAB bicubic): the pipeline must then be the clean protocol.
NOTHING_BUT_IMRESIZE = dict(blur_prob=0.0, resize_prob=[0, 0, 1], noise_prob=0.0, jpeg_prob=0.0,
                            second_order_prob=0.0, jpeg_prob2=0.0, final_resize_modes=["imresize"],
                            final_sinc_prob=0.0, codec_prob=0.0)


def _hr_clip(count: int = 3, size: int = 64) -> torch.Tensor:
    """A drifting texture, mostly grey: yuv420p keeps a quarter of the chroma, which random colours would lose."""
    frames = torch.from_numpy(np.stack(moving_frames(count, width=size, height=size, seed=2))).permute(0, 3, 1, 2)
    frames = frames.float() / 255
    return 0.8 * frames.mean(dim=1, keepdim=True) + 0.2 * frames


def test_published_defaults_are_valid_and_mistakes_are_listed() -> None:
    assert RealWorldConfig().problems() == []
    bad = RealWorldConfig(blur_prob=1.5, crf_range=[30, 20], codec_list=["h265"], kernel_prob=[1.0],
                          x264_preset="quick", kernel_range=[8, 8])
    problems = "\n".join(bad.problems())
    for expected in ("realworld.blur_prob is a probability", "realworld.crf_range must be [low, high]",
                     "realworld.codec_list takes one or more of libx264, mpeg4", "realworld.kernel_prob needs 6",
                     "realworld.x264_preset", "realworld.kernel_range holds no odd kernel size"):
        assert expected in problems


def test_the_pipeline_is_seeded_and_makes_the_lr_size_on_the_uint8_grid() -> None:
    hr = _hr_clip()
    config = RealWorldConfig()
    lr = realworld_degrade(hr, 4, config, np.random.default_rng(11))
    assert lr.shape == (3, 3, 16, 16) and lr.dtype == torch.float32
    assert torch.equal(lr, (lr * 255).round() / 255) and lr.min() >= 0 and lr.max() <= 1
    assert torch.equal(lr, realworld_degrade(hr, 4, config, np.random.default_rng(11)))
    assert not torch.equal(lr, realworld_degrade(hr, 4, config, np.random.default_rng(12)))


def test_with_every_step_off_it_is_the_clean_protocol_and_stays_aligned() -> None:
    hr = _hr_clip()
    clean = bicubic_degrade(hr, 4)
    plain = realworld_degrade(hr, 4, RealWorldConfig(**NOTHING_BUT_IMRESIZE), np.random.default_rng(0))
    assert torch.allclose(plain, clean, atol=1e-6)
    assert torch.equal(realworld_degrade(hr, 4, RealWorldConfig(clean_prob=1.0), np.random.default_rng(0)), clean)
    # Only the codec on: compressed, not shifted (the LR is closer to the clean LR than to it moved by one pixel).
    hr = _hr_clip(size=128)
    clean = bicubic_degrade(hr, 4)
    codec_only = RealWorldConfig(**{**NOTHING_BUT_IMRESIZE, "codec_prob": 1.0, "codec_list": ["libx264"],
                                    "codec_weights": [1.0], "crf_range": [23, 23]})
    lr = realworld_degrade(hr, 4, codec_only, np.random.default_rng(0))
    error = float(((lr - clean)[..., 1:] ** 2).mean())
    shifted_error = float(((lr[..., 1:] - clean[..., :-1]) ** 2).mean())
    assert 0 < error < shifted_error / 4


def test_a_static_clip_gets_the_same_degradation_on_every_frame() -> None:
    # Kernel, resize, JPEG quality are drawn once per clip; with the noise off, equal frames stay equal.
    still = _hr_clip(1).repeat(4, 1, 1, 1)
    config = RealWorldConfig(noise_prob=0.0, noise_prob2=0.0, codec_prob=0.0)
    for seed in range(4):
        lr = realworld_degrade(still, 4, config, np.random.default_rng(seed))
        assert all(torch.equal(lr[0], frame) for frame in lr[1:])


def test_noise_statistics() -> None:
    flat = torch.full((2, 3, 64, 64), 0.5, dtype=torch.float64)
    noise = add_gaussian_noise(flat, 0.02, generator=torch.Generator().manual_seed(0)) - flat
    assert float(noise.std()) == pytest.approx(0.02, rel=0.03) and abs(float(noise.mean())) < 1e-3
    gray = add_gaussian_noise(flat, 0.02, gray=True, generator=torch.Generator().manual_seed(0)) - flat
    assert torch.equal(gray[:, 0], gray[:, 2])
    # A constant image has 1 level, rounded up to 2: counts are Poisson(0.5 * 2 = 1), the noise
    # (counts / 2 - 0.5) * scale has mean 0 and variance scale^2 / 4.
    shot = add_poisson_noise(flat, 0.4, generator=torch.Generator().manual_seed(0)) - flat
    assert float(shot.var()) == pytest.approx(0.4**2 / 4, rel=0.05) and abs(float(shot.mean())) < 5e-3
    # Bright pixels of a many-level image: the normal approximation keeps the variance lambda / levels^2 * scale^2.
    ramp = torch.linspace(0, 1, 256, dtype=torch.float64).repeat(3, 256, 1)
    ramp = (ramp * 255).round() / 255
    bright = (add_poisson_noise(ramp, 1.0, generator=torch.Generator().manual_seed(1)) - ramp)[..., 128:]
    expected = float((ramp[..., 128:] * 256).mean()) / 256**2
    assert float(bright.var()) == pytest.approx(expected, rel=0.05)


def test_jpeg_changes_the_image_more_at_low_quality() -> None:
    image = _hr_clip(1)
    low, high = jpeg_compress(image, 10), jpeg_compress(image, 95)
    assert low.shape == image.shape
    assert float((low - image).abs().mean()) > float((high - image).abs().mean()) > 0


def test_without_pyav_only_the_codec_step_fails(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "av", None)
    hr = _hr_clip()
    lr = realworld_degrade(hr, 4, RealWorldConfig(codec_prob=0.0), np.random.default_rng(0))
    assert lr.shape == (3, 3, 16, 16)
    with pytest.raises(SpectraFrameError, match="needs PyAV"):
        realworld_degrade(hr, 4, RealWorldConfig(codec_prob=1.0), np.random.default_rng(0))
