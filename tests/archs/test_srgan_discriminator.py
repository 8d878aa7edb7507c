"""SRGAN discriminator: parameter count, published key names, output."""

from __future__ import annotations

from pathlib import Path

import torch

from spectraframe.archs.rbpn import count_parameters
from spectraframe.archs.srgan_discriminator import Discriminator


def test_parameter_count() -> None:
    assert count_parameters(Discriminator()) == 5_215_425


def test_state_dict_matches_published_checkpoint(shared_dir: Path) -> None:
    expected = []
    for line in (shared_dir / "reference" / "srgan_discriminator_checkpoint_keys.txt").read_text().splitlines():
        name, shape = line.split(" ", 1)
        expected.append((name, tuple(int(v) for v in shape.strip("()").split(",") if v.strip())))
    assert [(k, tuple(v.shape)) for k, v in Discriminator().state_dict().items()] == expected


def test_one_probability_per_image_any_size() -> None:
    d = Discriminator().eval()
    for h, w in [(32, 32), (48, 80)]:
        scores = d(torch.rand(3, 3, h, w))
        assert scores.shape == (3,)
        assert ((scores > 0) & (scores < 1)).all()
