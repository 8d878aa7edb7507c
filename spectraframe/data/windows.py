"""Which frames feed the reconstruction of frame t: RBPN's neighbour order, with edge replication."""

from __future__ import annotations

from spectraframe.errors import SpectraFrameError


def neighbour_indices(t: int, length: int, num_frames: int) -> list[int]:
    """Indices of the neighbours of frame `t` in a clip of `length` frames, for a `num_frames` window.

    RBPN order: t-k, ..., t-1, t+1, ..., t+k with k = num_frames // 2 (the target itself excluded).
    Beyond the clip's ends the nearest frame is replicated: indices are clamped to [0, length - 1], so
    frame 0 of a 7-frame window gets neighbours [0, 0, 0, 1, 2, 3].
    """
    if num_frames < 1 or num_frames % 2 == 0:
        raise ValueError(f"num_frames must be odd and >= 1 (target plus k frames each side), got {num_frames}")
    if length < 1:
        raise ValueError(f"a clip needs at least one frame, got length {length}")
    if not 0 <= t < length:
        raise ValueError(f"frame index {t} is outside a clip of {length} frames")
    k = num_frames // 2
    offsets = [*range(-k, 0), *range(1, k + 1)]
    return [min(max(t + offset, 0), length - 1) for offset in offsets]


def require_odd_window(num_frames: int, source: str) -> None:
    """Refuse a model whose window has no centre frame (the target needs k neighbours on each side)."""
    if num_frames % 2 == 0:
        raise SpectraFrameError(
            f"{source} is a {num_frames}-frame model; super-resolving a video needs an odd count (the target "
            f"plus the same number of neighbours on each side), such as {num_frames - 1} or {num_frames + 1}"
        )


def scene_window(t: int, num_frames: int, *, scene_start: int, next_cut: int | None, known: int,
                 ended: bool) -> list[int]:
    """The neighbours of frame `t` of a video being decoded, kept inside t's scene.

    `scene_start`: the first frame of t's scene; `next_cut`: the first cut after t among the frames seen within
    the window's reach (None: none); `known`: how many frames are decoded; `ended`: whether that is all of them.
    The scene ends at `next_cut`, else at the video's end when it has ended, else just past the window's reach.
    Within the scene, `neighbour_indices` replicates its edge frames.
    """
    reach = num_frames // 2
    end = next_cut if next_cut is not None else (known if ended else t + reach + 1)
    return [scene_start + i for i in neighbour_indices(t - scene_start, end - scene_start, num_frames)]
