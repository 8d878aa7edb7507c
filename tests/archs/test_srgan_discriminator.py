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


def test_layer_geometry_strides_and_slopes() -> None:
    """What the key list and parameter count cannot see: strides, padding and the LeakyReLU slope."""
    d = Discriminator()
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    strides = [c.stride[0] for c in convs]
    assert strides == [1, 2, 1, 2, 1, 2, 1, 2, 1, 1]
    assert [c.kernel_size[0] for c in convs] == [3] * 8 + [1, 1]
    assert all(c.padding == (1, 1) for c in convs[:8])
    slopes = {m.negative_slope for m in d.modules() if isinstance(m, torch.nn.LeakyReLU)}
    assert slopes == {0.2}
    # 16x downsampling by the four stride-2 blocks before the global pooling
    features = d.net[:-4](torch.rand(1, 3, 64, 96))
    assert features.shape == (1, 512, 4, 6)


def test_gradients_reach_every_parameter() -> None:
    d = Discriminator()
    d(torch.rand(2, 3, 32, 32)).log().mean().backward()
    missing = [name for name, p in d.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing
