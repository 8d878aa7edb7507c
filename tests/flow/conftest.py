"""Real LR frames for the flow tests: a Vimeo-90K septuplet downscaled 4x by area averaging."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from spectraframe.io.images import read_image

CLIP = "vimeo_septuplet/sequences/00002/0008"


@pytest.fixture(scope="session")
def lr_clip(train_corpus: Path) -> torch.Tensor:
    """The 7 frames of a real clip as (7, 3, 64, 112) float32 in [0, 1], on the uint8 grid."""
    frames = [read_image(train_corpus / CLIP / f"im{i}.png") for i in range(1, 8)]
    stacked = torch.stack([torch.from_numpy(f.copy()).permute(2, 0, 1) for f in frames]).float() / 255.0
    small = F.avg_pool2d(stacked, 4)
    return (small * 255).round() / 255


@pytest.fixture(scope="session")
def shifted_pair(lr_clip: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(target, neighbour) crops of one real frame with neighbour(x + 2, y + 1) = target(x, y)."""
    frame = lr_clip[3]
    target = frame[:, 4:60, 4:100]
    neighbour = frame[:, 3:59, 2:98]
    return target, neighbour

