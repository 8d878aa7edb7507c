"""tOF: zero when the output moves like the ground truth, about the missing motion when it is frozen."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from spectraframe.metrics.tof import tof_clip, tof_pairs


def _moving_clip(frames: int = 3, shift: int = 2, size=(64, 48)) -> torch.Tensor:
    """A smooth random texture translating right by `shift` pixels per frame, (T, 3, H, W) uint8."""
    rng = np.random.default_rng(3)
    start = 8 + frames * shift
    small = rng.integers(0, 256, ((size[1] + 16) // 4, (start + size[0] + 8) // 4, 3), dtype=np.uint8)
    texture = np.asarray(Image.fromarray(small).resize((small.shape[1] * 4, small.shape[0] * 4), Image.BICUBIC))
    clip = [texture[8 : 8 + size[1], start - t * shift : start - t * shift + size[0]] for t in range(frames)]
    return torch.from_numpy(np.stack(clip)).permute(0, 3, 1, 2).contiguous()


def test_identical_motion_gives_zero() -> None:
    clip = _moving_clip()
    assert tof_clip(clip, clip.clone()) == pytest.approx(0.0, abs=1e-6)


def test_frozen_output_scores_about_the_true_motion() -> None:
    truth = _moving_clip(frames=2, shift=2)
    frozen = truth[:1].repeat(2, 1, 1, 1)
    (value,) = tof_pairs(frozen, truth)
    assert 1.5 < value < 2.5  # the ground truth moves 2 px per frame, the output not at all


def test_bad_shapes_are_reported() -> None:
    clip = _moving_clip()
    with pytest.raises(ValueError, match="two frames"):
        tof_clip(clip[:1], clip[:1])
    with pytest.raises(ValueError, match="differ in shape"):
        tof_clip(clip, clip[:2])
