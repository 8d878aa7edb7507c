"""FlowCache: hits are bit-identical to recomputation, keys follow content and parameters, size is bounded."""

from __future__ import annotations

from pathlib import Path

import torch

from spectraframe.flow import FlowCache, estimate_flow

FAST = {"outer_iterations": 2, "sor_iterations": 5}


def test_hit_is_bit_identical_to_recomputation(tmp_path: Path, lr_clip: torch.Tensor) -> None:
    target, neighbours = lr_clip[3], lr_clip[[1, 5]]
    cache = FlowCache(tmp_path / "flows")
    fresh = estimate_flow(target, neighbours, cache=cache, **FAST)
    assert cache.misses == 2 and cache.hits == 0 and len(cache) == 2
    # the returned flow is the float16-rounded one, so it equals what a hit gives back
    assert torch.equal(fresh, fresh.half().float())
    uncached = estimate_flow(target, neighbours, **FAST)
    assert torch.equal(fresh, uncached.half().float())
    again = estimate_flow(target, neighbours, cache=FlowCache(tmp_path / "flows"), **FAST)
    assert torch.equal(again, fresh)
    # a partly cached batch computes only the missing pair, and keeps the order
    mixed_cache = FlowCache(tmp_path / "flows")
    mixed = estimate_flow(target, lr_clip[[5, 0, 1]], cache=mixed_cache, **FAST)
    assert mixed_cache.hits == 2 and mixed_cache.misses == 1
    assert torch.equal(mixed[0], fresh[1]) and torch.equal(mixed[2], fresh[0])


def test_key_depends_on_content_method_and_parameters(tmp_path: Path, lr_clip: torch.Tensor) -> None:
    cache = FlowCache(tmp_path)
    target, neighbour = lr_clip[3], lr_clip[4:5]
    estimate_flow(target, neighbour, cache=cache, **FAST)
    estimate_flow(target, neighbour, cache=cache, outer_iterations=3, sor_iterations=5)
    estimate_flow(target, neighbour, method="dis", cache=cache)
    estimate_flow(lr_clip[2], neighbour, cache=cache, **FAST)
    assert cache.misses == 4 and cache.hits == 0 and len(cache) == 4
    estimate_flow(target.clone(), neighbour.clone(), cache=cache, **FAST)
    assert cache.hits == 1
    # the worker count never changes the result, so it is not part of the key
    estimate_flow(target, neighbour, cache=cache, cpu_workers=3, **FAST)
    assert cache.hits == 2



def test_eviction_keeps_the_cache_under_its_limit(tmp_path: Path, lr_clip: torch.Tensor) -> None:
    entry_bytes = 2 * 64 * 112 * 2 + 128  # float16 flow + .npy header
    cache = FlowCache(tmp_path, max_bytes=3 * entry_bytes)
    target = lr_clip[3]
    for index in (0, 1, 2, 4, 5, 6):
        estimate_flow(target, lr_clip[index:index + 1], method="farneback", cache=cache)
        assert cache.size_bytes() <= 3 * entry_bytes
    assert 1 <= len(cache) <= 3
    # the most recent entry survived, the oldest did not
    latest = FlowCache(tmp_path, max_bytes=3 * entry_bytes)
    estimate_flow(target, lr_clip[6:7], method="farneback", cache=latest)
    estimate_flow(target, lr_clip[0:1], method="farneback", cache=latest)
    assert latest.hits == 1 and latest.misses == 1


def test_unreadable_entry_is_recomputed(tmp_path: Path, lr_clip: torch.Tensor) -> None:
    cache = FlowCache(tmp_path)
    first = estimate_flow(lr_clip[3], lr_clip[4:5], method="dis", cache=cache)
    for path in tmp_path.glob("*/*.npy"):
        path.write_bytes(b"garbage")
    again = estimate_flow(lr_clip[3], lr_clip[4:5], method="dis", cache=FlowCache(tmp_path))
    assert torch.equal(first, again)


def test_processes_sharing_a_cache_share_its_size_limit(tmp_path: Path, lr_clip: torch.Tensor) -> None:
    # Each FlowCache counted only its own writes: N data-loader workers let the cache grow to N x max_bytes.
    entry_bytes = 2 * 64 * 112 * 2 + 128
    workers = [FlowCache(tmp_path, max_bytes=3 * entry_bytes) for _ in range(3)]
    target = lr_clip[3]
    for step, index in enumerate((0, 1, 2, 4, 5, 6)):
        estimate_flow(target, lr_clip[index:index + 1], method="farneback", cache=workers[step % 3])
        assert workers[0].size_bytes() <= 3 * entry_bytes


def test_opening_a_cache_does_not_walk_its_files(tmp_path: Path, lr_clip: torch.Tensor, monkeypatch) -> None:
    # The paper preset's cache holds ~1.4 M files; validation opened it (and walked them all) every time.
    estimate_flow(lr_clip[3], lr_clip[4:5], method="farneback", cache=FlowCache(tmp_path))

    def walk(self):
        raise AssertionError("the cache walked its files")

    monkeypatch.setattr(FlowCache, "_entries", walk)
    cache = FlowCache(tmp_path)
    estimate_flow(lr_clip[3], lr_clip[4:5], method="farneback", cache=cache)
    estimate_flow(lr_clip[3], lr_clip[5:6], method="farneback", cache=cache)
    assert cache.hits == 1 and cache.misses == 1
