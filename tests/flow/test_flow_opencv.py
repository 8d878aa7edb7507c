"""OpenCV backends: same convention (and sign) as coarse2fine, zero on identical frames, presets."""

from __future__ import annotations

import pytest
import torch

from spectraframe.errors import SpectraFrameError
from spectraframe.flow import estimate_flow, warp_error


@pytest.mark.parametrize(("method", "params"), [("dis", {"preset": "ultrafast"}), ("dis", {"preset": "fast"}),
                                                ("dis", {"preset": "medium"}), ("farneback", {})])
def test_same_convention_as_coarse2fine(shifted_pair, method: str, params: dict) -> None:
    target, neighbour = shifted_pair
    ours = estimate_flow(target, neighbour.unsqueeze(0))[0, :, 8:-8, 8:-8].mean(dim=(1, 2))
    theirs_flow = estimate_flow(target, neighbour.unsqueeze(0), method=method, **params)
    assert theirs_flow.shape == (1, 2, *target.shape[-2:]) and theirs_flow.dtype == torch.float32
    theirs = theirs_flow[0, :, 8:-8, 8:-8].mean(dim=(1, 2))
    assert torch.sign(theirs).tolist() == torch.sign(ours).tolist() == [1.0, 1.0]
    torch.testing.assert_close(theirs, torch.tensor([2.0, 1.0]), atol=0.35, rtol=0)
    assert warp_error(target, neighbour, theirs_flow) < warp_error(target, neighbour, torch.zeros_like(theirs_flow))


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_identical_and_flat_frames_give_zero(lr_clip: torch.Tensor, method: str) -> None:
    frame = lr_clip[3]
    assert torch.count_nonzero(estimate_flow(frame, frame.unsqueeze(0), method=method)) == 0
    flat = torch.full((3, 64, 112), 0.3)
    flow = estimate_flow(flat, lr_clip[2:4], method=method)
    assert torch.count_nonzero(flow) == 0


def test_batched_with_per_pair_targets(lr_clip: torch.Tensor) -> None:
    flows = estimate_flow(lr_clip[[3, 3]], lr_clip[[2, 4]], method="dis")
    singles = torch.cat([estimate_flow(lr_clip[3], lr_clip[i:i + 1], method="dis") for i in (2, 4)])
    assert torch.equal(flows, singles)


def test_unknown_preset_is_explained(lr_clip: torch.Tensor) -> None:
    with pytest.raises(SpectraFrameError, match="preset"):
        estimate_flow(lr_clip[3], lr_clip[2:3], method="dis", preset="slow")
