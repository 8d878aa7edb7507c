"""Our coarse-to-fine variational flow: convention, accuracy on a known motion, batching, degenerate input."""

from __future__ import annotations

import pytest
import torch

from spectraframe.errors import SpectraFrameError
from spectraframe.flow import CoarseToFineParams, estimate_flow, warp, warp_error
from spectraframe.flow.coarse2fine import _pack, _unpack, pyramid_sizes


def test_identical_frames_give_exactly_zero_flow(lr_clip: torch.Tensor) -> None:
    frame = lr_clip[3]
    flow = estimate_flow(frame, frame.unsqueeze(0).repeat(2, 1, 1, 1))
    assert flow.shape == (2, 2, 64, 112) and flow.dtype == torch.float32
    assert torch.count_nonzero(flow) == 0


def test_known_translation_is_recovered(shifted_pair) -> None:
    target, neighbour = shifted_pair
    flow = estimate_flow(target, neighbour.unsqueeze(0))[0]
    interior = flow[:, 6:-6, 6:-6]
    assert interior[0].mean().item() == pytest.approx(2.0, abs=0.05)
    assert interior[1].mean().item() == pytest.approx(1.0, abs=0.05)
    assert (interior - torch.tensor([2.0, 1.0]).view(2, 1, 1)).abs().median() < 0.1
    # warp(neighbour, flow) reproduces the target, far better than no motion compensation
    assert warp_error(target, neighbour.unsqueeze(0), flow.unsqueeze(0)) < 0.25 * warp_error(
        target, neighbour.unsqueeze(0), torch.zeros(1, 2, *target.shape[-2:])
    )


def test_real_pairs_beat_no_motion(lr_clip: torch.Tensor) -> None:
    target = lr_clip[3]
    neighbours = lr_clip[[0, 2, 4, 6]]
    flow = estimate_flow(target, neighbours, sor_iterations=15)
    assert flow.shape == (4, 2, 64, 112)
    assert warp_error(target, neighbours, flow) < 0.5 * warp_error(target, neighbours, torch.zeros_like(flow))


def test_batched_equals_one_by_one(lr_clip: torch.Tensor) -> None:
    target = lr_clip[3]
    neighbours = lr_clip[[0, 2, 6]]
    params = {"outer_iterations": 3, "sor_iterations": 10}
    batched = estimate_flow(target, neighbours, **params)
    single = torch.cat([estimate_flow(target, neighbours[i:i + 1], **params) for i in range(3)])
    torch.testing.assert_close(batched, single, atol=1e-4, rtol=0)
    # a per-pair target (N, 3, H, W) equals the shared one
    per_pair = estimate_flow(target.expand(3, -1, -1, -1), neighbours, **params)
    torch.testing.assert_close(per_pair, batched, atol=1e-4, rtol=0)


def test_thread_setting_does_not_change_the_result(lr_clip: torch.Tensor) -> None:
    params = {"outer_iterations": 2, "sor_iterations": 6}
    before = torch.get_num_threads()
    one = estimate_flow(lr_clip[3], lr_clip[4:6], cpu_threads=1, **params)
    assert torch.get_num_threads() == before  # restored
    torch_setting = estimate_flow(lr_clip[3], lr_clip[4:6], cpu_threads=0, **params)
    torch.testing.assert_close(one, torch_setting, atol=1e-5, rtol=0)


def test_worker_threads_give_bit_identical_flow(lr_clip: torch.Tensor) -> None:
    """cpu_workers splits the batch across threads; each pair is solved on its own, so nothing changes."""
    params = {"outer_iterations": 2, "sor_iterations": 6}
    neighbours = lr_clip[[0, 1, 2, 4, 5]]
    one = estimate_flow(lr_clip[3], neighbours, cpu_workers=1, **params)
    for workers in (2, 3, 8):
        assert torch.equal(estimate_flow(lr_clip[3], neighbours, cpu_workers=workers, **params), one)
    # per-pair targets are split along with their neighbours
    per_pair = estimate_flow(lr_clip[[3, 3, 3, 3, 3]], neighbours, cpu_workers=2, **params)
    assert torch.equal(per_pair, one)
    with pytest.raises(SpectraFrameError, match="cpu_workers"):
        estimate_flow(lr_clip[3], neighbours, cpu_workers=-1)


def test_uint8_and_float_inputs_agree(lr_clip: torch.Tensor) -> None:
    as_uint8 = (lr_clip * 255).round().to(torch.uint8)
    params = {"outer_iterations": 3, "sor_iterations": 10}
    from_float = estimate_flow(lr_clip[3], lr_clip[4:6], **params)
    from_uint8 = estimate_flow(as_uint8[3], as_uint8[4:6], **params)
    torch.testing.assert_close(from_uint8, from_float, atol=1e-5, rtol=0)


@pytest.mark.parametrize("value", [0.0, 0.5, 1.0])
def test_flat_frames_give_zero_flow_without_nan(lr_clip: torch.Tensor, value: float) -> None:
    flat = torch.full((3, 64, 112), value)
    other_flat = torch.full((1, 3, 64, 112), 1.0 - value)
    real = lr_clip[2:3]
    for target, neighbours in ((flat, other_flat), (flat, real), (lr_clip[3], flat.unsqueeze(0))):
        flow = estimate_flow(target, neighbours, outer_iterations=2, sor_iterations=5)
        assert torch.isfinite(flow).all()
    flow = estimate_flow(flat, other_flat)
    assert torch.count_nonzero(flow) == 0


def test_odd_and_tiny_sizes(lr_clip: torch.Tensor) -> None:
    for height, width in ((63, 111), (9, 13), (5, 40)):
        frames = lr_clip[2:5, :, :height, :width]
        flow = estimate_flow(frames[1], frames[[0, 2]], outer_iterations=2, sor_iterations=5)
        assert flow.shape == (2, 2, height, width) and torch.isfinite(flow).all()


def test_pyramid_follows_ratio_and_min_width() -> None:
    sizes = pyramid_sizes(180, 320, CoarseToFineParams())
    assert sizes[0] == (180, 320) and len(sizes) == 9  # as Ce Liu's log(20/320)/log(0.75)
    assert sizes[1] == (135, 240) and sizes[-1][1] >= 20
    assert pyramid_sizes(10, 16, CoarseToFineParams()) == [(10, 16)]


def test_checkerboard_packing_round_trips() -> None:
    images = torch.randn(2, 3, 6, 8)
    red, black = _pack(images)
    assert red.shape == (2, 3, 6, 4)
    assert red[0, 0, 1, 0] == images[0, 0, 1, 1] and black[0, 0, 1, 0] == images[0, 0, 1, 0]
    assert torch.equal(_unpack(red, black), images)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_warp_follows_the_convention(shifted_pair, mode: str) -> None:
    target, neighbour = shifted_pair
    flow = torch.tensor([2.0, 1.0]).view(2, 1, 1).expand(2, *target.shape[-2:])
    warped = warp(neighbour, flow, mode=mode)
    assert warped.shape == target.shape
    torch.testing.assert_close(warped[:, :-2, :-3], target[:, :-2, :-3])
    half_pixel = torch.full_like(flow, 0.5)  # between pixels the modes interpolate differently
    assert torch.equal(warp(neighbour, half_pixel, mode=mode), warp(neighbour, half_pixel)) == (mode == "bilinear")
    assert warp_error(target, neighbour, flow) < 1e-4


def test_bad_inputs_are_explained(lr_clip: torch.Tensor) -> None:
    with pytest.raises(SpectraFrameError, match="unknown flow method"):
        estimate_flow(lr_clip[0], lr_clip[1:2], method="raft")
    with pytest.raises(SpectraFrameError, match="unknown parameter"):
        estimate_flow(lr_clip[0], lr_clip[1:2], smoothness=3)
    with pytest.raises(SpectraFrameError, match="ratio"):
        estimate_flow(lr_clip[0], lr_clip[1:2], ratio=1.5)
    with pytest.raises(SpectraFrameError, match="target must be"):
        estimate_flow(lr_clip[0, :, :32], lr_clip[1:2])
    with pytest.raises(SpectraFrameError, match=r"\[0, 1\]"):
        estimate_flow(lr_clip[0] * 255, lr_clip[1:2] * 255)
    with pytest.raises(SpectraFrameError, match="NaN"):
        estimate_flow(torch.full((3, 8, 8), float("nan")), torch.zeros(1, 3, 8, 8))


def test_scripted_sweeps_match_python(lr_clip: torch.Tensor) -> None:
    from spectraframe.flow import coarse2fine

    scripted = coarse2fine._sweep_runner()
    params = CoarseToFineParams(outer_iterations=2, sor_iterations=6)
    try:
        coarse2fine._SCRIPTED_SWEEPS[:] = [coarse2fine._sweeps]
        eager = coarse2fine.coarse_to_fine_flow(lr_clip[3:4], lr_clip[4:6], params)
    finally:
        coarse2fine._SCRIPTED_SWEEPS[:] = [scripted]
    compiled = coarse2fine.coarse_to_fine_flow(lr_clip[3:4], lr_clip[4:6], params)
    torch.testing.assert_close(compiled, eager, atol=1e-6, rtol=0)
