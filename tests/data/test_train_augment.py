"""Augmentation: one crop and one symmetry for every frame, flows transformed as recomputing them would."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from spectraframe.data.augment import ALL_SYMMETRIES, Crop, Symmetry, random_crop, random_symmetry
from spectraframe.degradation import imresize
from spectraframe.flow.coarse2fine import coarse_to_fine_flow
from spectraframe.io.images import list_frames, read_frames
from spectraframe.io.tensors import to_tensor


def _pair(train_corpus, clip: str) -> torch.Tensor:
    frames = read_frames(list_frames(train_corpus / clip)[2:4])
    pair = torch.stack([to_tensor(f) for f in frames])
    return imresize(pair, size=(56, 56)).clamp(0, 1)


@pytest.mark.parametrize("clip", ["vimeo_septuplet/sequences/00001/0003", "davis2016_val/car-shadow_01"])
def test_transformed_flow_matches_flow_recomputed_on_transformed_frames(train_corpus, clip):
    pair = _pair(train_corpus, clip)
    flow = coarse_to_fine_flow(pair[:1], pair[1:])
    assert flow.abs().mean() > 0.3, "the clip must move for this test to mean anything"
    targets = torch.cat([s.images(pair[:1]) for s in ALL_SYMMETRIES])
    neighbours = torch.cat([s.images(pair[1:]) for s in ALL_SYMMETRIES])
    recomputed = coarse_to_fine_flow(targets, neighbours)
    inner = (slice(None), slice(None), slice(6, -6), slice(6, -6))  # borders are ill-posed for any flow
    for i, symmetry in enumerate(ALL_SYMMETRIES):
        transformed = symmetry.flows(flow)
        moved_only = symmetry.images(flow)  # pixels moved but vectors untouched: wrong unless identity
        error = (transformed - recomputed[i : i + 1])[inner].abs().mean()
        assert error < 0.15, f"{symmetry}: transformed flow differs from the recomputed one by {error:.3f} px"
        if symmetry != Symmetry():
            wrong = (moved_only - recomputed[i : i + 1])[inner].abs().mean()
            assert wrong > 3 * error, f"{symmetry}: the test cannot tell right from wrong vectors"


def test_symmetry_moves_pixels_like_the_frames():
    image = torch.arange(2 * 4 * 6, dtype=torch.float32).view(1, 2, 4, 6)
    for symmetry in ALL_SYMMETRIES:
        # A constant flow field's pixels are irrelevant: check vectors (u, v) = (1, 2) map as documented.
        flows = torch.stack([torch.full((4, 6), 1.0), torch.full((4, 6), 2.0)])[None]
        u, v = symmetry.flows(flows)[0, :, 0, 0].tolist()
        eu, ev = 1.0, 2.0
        if symmetry.hflip:
            eu = -eu
        if symmetry.vflip:
            ev = -ev
        if symmetry.rot90:
            eu, ev = ev, -eu
        assert (u, v) == (eu, ev)
        # Flow pixels move exactly as image pixels do; a rotation also swaps the two components.
        moved = symmetry.images(image)
        if symmetry.rot90:
            moved = moved.flip(1)
        assert torch.equal(symmetry.flows(image).abs(), moved.abs())


def test_all_symmetries_are_the_eight_and_each_is_undone():
    assert set(ALL_SYMMETRIES) == {Symmetry(h, v, r) for h, v, r in itertools.product([False, True], repeat=3)}
    image = torch.rand(2, 3, 5, 7, generator=torch.Generator().manual_seed(0))  # not square: a rotation shows
    for symmetry in ALL_SYMMETRIES:
        assert torch.equal(symmetry.invert_images(symmetry.images(image)), image), symmetry


def test_crop_selects_the_same_region_in_lr_and_hr():
    hr = torch.arange(16 * 24, dtype=torch.float32).view(1, 16, 24)
    lr = hr[:, ::4, ::4]
    crop = Crop(y=1, x=2, size=2)
    assert torch.equal(crop.hr(hr, 4)[:, ::4, ::4], crop.lr(lr))


def test_random_crop_stays_inside_and_rejects_small_frames():
    rng = np.random.default_rng(0)
    for _ in range(50):
        c = random_crop(10, 13, 4, rng)
        assert 0 <= c.y <= 6 and 0 <= c.x <= 9
    with pytest.raises(ValueError, match="smaller than"):
        random_crop(3, 20, 4, rng)


def test_random_symmetry_respects_switches_and_draws_all_eight():
    rng = np.random.default_rng(1)
    seen = {random_symmetry(rng) for _ in range(200)}
    assert len(seen) == 8
    assert {random_symmetry(rng, False, False, False) for _ in range(20)} == {Symmetry()}
