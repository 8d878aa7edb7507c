"""The codec degradation: a clip through libx264 / mpeg4 as one sequence, and back."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from helpers.media import moving_frames

from spectraframe.degradation.codec import VideoCompression, compress_clip, compress_frames
from spectraframe.errors import SpectraFrameError


def _clip(count: int = 5, width: int = 48, height: int = 32) -> np.ndarray:
    return np.stack(moving_frames(count, width=width, height=height, seed=4))


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255**2 / mse)


@pytest.mark.parametrize("settings", [VideoCompression("libx264", crf=30), VideoCompression("mpeg4", bitrate=50_000)])
@pytest.mark.parametrize("size", [(48, 32), (47, 31)])  # odd sides are padded for yuv420p and cropped back
def test_round_trip_keeps_count_and_size_changes_the_frames_and_repeats(settings, size) -> None:
    frames = _clip(width=size[0], height=size[1])
    out = compress_frames(frames, settings)
    assert out.shape == frames.shape and out.dtype == np.uint8
    assert not np.array_equal(out, frames)
    assert _psnr(out, frames) > 20  # compressed, not scrambled: frame order and alignment kept
    assert np.array_equal(out, compress_frames(frames, settings))


def test_a_higher_crf_loses_more() -> None:
    frames = _clip()
    assert _psnr(compress_frames(frames, VideoCompression("libx264", crf=40)), frames) < \
        _psnr(compress_frames(frames, VideoCompression("libx264", crf=18)), frames)


def test_float_clips_come_back_on_the_uint8_grid() -> None:
    clip = torch.from_numpy(_clip()).permute(0, 3, 1, 2).float() / 255
    out = compress_clip(clip, VideoCompression("libx264", crf=23))
    assert out.shape == clip.shape and out.dtype == torch.float32
    assert torch.equal(out, (out * 255).round() / 255)


def test_bad_settings_and_missing_pyav_are_sentences(monkeypatch) -> None:
    with pytest.raises(SpectraFrameError, match="crf from 0"):
        VideoCompression("libx264", crf=60)
    with pytest.raises(SpectraFrameError, match="bitrate"):
        VideoCompression("mpeg4")
    with pytest.raises(SpectraFrameError, match="not one of the degradation codecs"):
        VideoCompression("libvpx", crf=20)
    monkeypatch.setitem(sys.modules, "av", None)  # `import av` now fails, as where PyAV is not installed
    with pytest.raises(SpectraFrameError, match="needs PyAV"):
        compress_frames(_clip(), VideoCompression("libx264", crf=23))
