"""Tiles: the receptive field, tiled == untiled, tile size from a memory budget."""

from __future__ import annotations

import pytest
import torch
from helpers.media import moving_frames
from helpers.models import TINY, tiny_model

from spectraframe.archs.rbpn import PRESETS
from spectraframe.errors import SpectraFrameError
from spectraframe.inference import super_resolve_frame, tile_spans
from spectraframe.io.tensors import to_tensor
from spectraframe.upscale.memory import (
    default_tile_overlap,
    forward_peak_bytes,
    parse_memory,
    receptive_radius,
    tile_for_budget,
)


def test_receptive_radius_matches_the_architecture():
    # Hand count for TINY (x2, one stage, no residual blocks): feat0 3x3 (1) + two recurrent steps of
    # up-projection (3) + res_feat2 3x3 on HR (1 HR px -> 1) + res_feat3 6x6/2 conv (1) ... = 10 LR px.
    assert receptive_radius(TINY) == 10
    assert receptive_radius(PRESETS["paper"]) == 85
    assert receptive_radius(PRESETS["paper"], limit=24) == 24
    assert default_tile_overlap(TINY) == 14  # 3/4 of it covers the radius


def _inputs(width=45, height=31, frames=3):
    images = [to_tensor(f) for f in moving_frames(frames, width=width, height=height)]
    target = images[1]
    neighbours = torch.stack([images[0], images[2]])
    flows = torch.randn(2, 2, height, width) * 0.5
    return target, neighbours, flows


@pytest.mark.parametrize("tile", [7, 12, 20])
def test_tiled_equals_untiled_within_1e4(tile):
    model = tiny_model()
    target, neighbours, flows = _inputs()
    whole = super_resolve_frame(model, target, neighbours, flows=flows)
    assert float(whole.std()) > 0.02 and float(((whole > 0) & (whole < 1)).float().mean()) > 0.9  # not saturated
    tiled = super_resolve_frame(model, target, neighbours, flows=flows, tile=tile,
                                tile_overlap=default_tile_overlap(model.config))
    assert tiled.shape == whole.shape == (3, 62, 90)
    assert float((tiled - whole).abs().max()) < 1e-4


def test_too_little_overlap_shows_seams():
    model = tiny_model()
    target, neighbours, flows = _inputs()
    whole = super_resolve_frame(model, target, neighbours, flows=flows)
    tiled = super_resolve_frame(model, target, neighbours, flows=flows, tile=12, tile_overlap=2)
    assert float((tiled - whole).abs().max()) > 1e-3


def test_tile_spans_cover_the_frame():
    assert tile_spans(45, 12) == [(0, 11), (11, 22), (22, 34), (34, 45)]
    assert tile_spans(10, 64) == [(0, 10)]


def test_tile_from_memory_budget():
    paper = PRESETS["paper"]
    assert tile_for_budget(TINY, 24, 32, parse_memory("4G"), 14) is None  # the whole frame fits
    small = tile_for_budget(paper, 576, 768, parse_memory("2G"), 32)
    large = tile_for_budget(paper, 576, 768, parse_memory("8G"), 32)
    assert small is not None and large is not None and 8 <= small < large
    assert forward_peak_bytes(paper, small + 64, small + 64) <= parse_memory("2G")
    with pytest.raises(SpectraFrameError, match="too small"):
        tile_for_budget(paper, 576, 768, parse_memory("700M"), 32)


def test_parse_memory():
    assert parse_memory("4G") == 4 * 2**30
    assert parse_memory("512m") == 512 * 2**20
    assert parse_memory("1.5GiB") == int(1.5 * 2**30)
    with pytest.raises(SpectraFrameError, match="4G"):
        parse_memory("lots")
