"""Turn a user's own videos into a training set the way Vimeo-90K was made.

For each video: decode once to measure the change between consecutive frames on small grayscale
thumbnails (mean absolute difference, 0..255), drop exact or near duplicates (repeated frames from
frame-rate conversion), split at scene cuts (a difference far above that of the nearby frames), cut each shot
into non-overlapping clips of `clip_length` frames, skip clips that barely move, then decode again and
write the chosen frames, optionally downscaled (INTER_AREA shrinking removes most codec artefacts).

Output: DIR/<video>/<NNNN>/im1.png .. imN.png (the Vimeo septuplet naming), and train.txt / val.txt /
test.txt listing `<video>/<NNNN>` entries, split by source video so no video lands in two splits (a split
that gets no video has no list), plus prepare.json with what was kept and skipped per video.

A video that cannot be read is skipped with a warning (and reported); only a set without any usable video
fails. Everything is written into a hidden sibling folder that is renamed to DIR at the end, so a failure
leaves no half-written DIR behind and the same command can simply be run again.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from spectraframe.cli_numbers import real
from spectraframe.data.scenes import frame_difference, offline_cuts, thumbnail
from spectraframe.errors import SpectraFrameError
from spectraframe.io.images import write_image
from spectraframe.io.video import VIDEO_SUFFIXES, read_video_frames
from spectraframe.paths import Output, check_outputs

log = logging.getLogger(__name__)

THUMBNAIL_SIZE = (128, 72)  # width, height of the grayscale frames the differences are measured on
SPLIT_NAMES = ("train", "val", "test")


@dataclass(frozen=True)
class PrepareOptions:
    clip_length: int = 7
    short_side: int | None = None  # downscale so the short side is this many pixels (never enlarges)
    max_clips_per_video: int = 0  # 0: every clip found; else that many, spread over the video
    gap: int = 0  # frames skipped between consecutive clips of a shot (more variety, fewer clips)
    duplicate_below: float = 0.1  # a frame this close to the previous kept one is a duplicate
    cut_ratio: float = 4.0  # a cut: difference > cut_ratio x the median difference of nearby frames ...
    cut_above: float = 25.0  # ... and > this
    cut_context: int = 7  # "nearby": this many frame pairs on each side
    static_below: float = 0.3  # clips whose mean difference is below this are skipped as static
    split: tuple[float, float, float] = (80.0, 10.0, 10.0)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.clip_length < 2:
            raise SpectraFrameError(f"clip length must be at least 2 frames, got {self.clip_length}")
        if self.short_side is not None and self.short_side < 16:
            raise SpectraFrameError(f"--short-side must be at least 16 pixels, got {self.short_side}")
        if len(self.split) != 3 or any(v < 0 for v in self.split) or sum(self.split) <= 0:
            raise SpectraFrameError(f"split must be three non-negative shares like 80/10/10, got {self.split}")
        if self.max_clips_per_video < 0:
            raise SpectraFrameError(f"--max-clips must be 0 (every clip) or a number of clips, got "
                                    f"{self.max_clips_per_video}")
        if self.gap < 0:
            raise SpectraFrameError(f"--gap is a number of frames skipped between clips: 0 or more, got {self.gap}")


@dataclass
class VideoPlan:
    """What one video contributes: kept frame indices per clip, and the counts behind the choice."""

    name: str
    path: str
    frames: int = 0
    duplicates: int = 0
    cuts: int = 0
    static_clips: int = 0
    clips: list[list[int]] = field(default_factory=list)
    split: str = ""
    error: str = ""  # why the video was skipped (it could not be read); empty for a video that was used


def parse_split(text: str) -> tuple[float, float, float]:
    parts = text.split("/")
    try:
        values = tuple(real(0, 10**6).parse(p) for p in parts)
    except ValueError as exc:
        raise SpectraFrameError(f"--split must look like 80/10/10 (three shares from 0 to 1000000), got {text!r}") \
            from exc
    if len(values) != 3:
        raise SpectraFrameError(f"--split needs three shares (train/val/test) like 80/10/10, got {text!r}")
    return values  # type: ignore[return-value]


def find_videos(inputs: list[str | Path]) -> list[Path]:
    """Video files given directly or found (recursively) in given folders."""
    videos: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
            if not found:
                raise SpectraFrameError(f"no video files ({', '.join(VIDEO_SUFFIXES)}) in folder {path}")
            videos += found
        elif path.is_file():
            videos.append(path)
        else:
            raise SpectraFrameError(f"video not found: {path}")
    if not videos:
        raise SpectraFrameError("no videos given")
    return videos


def measure(path: Path, options: PrepareOptions) -> tuple[list[int], list[float], int]:
    """Pass 1: (kept frame indices, difference of each kept frame to the previous kept one, frame count)."""
    kept: list[int] = []
    differences: list[float] = []
    previous = None
    count = 0
    for index, frame in enumerate(read_video_frames(path)):
        count += 1
        thumb = thumbnail(frame, THUMBNAIL_SIZE)
        if previous is None:
            kept.append(index)
            differences.append(float("inf"))  # the first frame starts a shot
            previous = thumb
            continue
        difference = frame_difference(thumb, previous)
        if difference < options.duplicate_below:
            continue
        kept.append(index)
        differences.append(difference)
        previous = thumb
    return kept, differences, count


def plan_clips(kept: list[int], differences: list[float], options: PrepareOptions) -> tuple[list[list[int]], int, int]:
    """Clips of consecutive kept frames that never cross a cut. Returns (clips, cuts, static clips skipped)."""
    shots: list[list[int]] = []
    cuts = 0
    starts = offline_cuts(differences, options.cut_ratio, options.cut_above, options.cut_context)
    for position, (difference, start) in enumerate(zip(differences, starts, strict=True)):
        if start:
            cuts += int(np.isfinite(difference))
            shots.append([])
        shots[-1].append(position)
    clips, static = [], 0
    length, step = options.clip_length, options.clip_length + options.gap
    for shot in shots:
        for start in range(0, len(shot) - length + 1, step):
            window = shot[start : start + length]
            motion = float(np.mean([differences[p] for p in window[1:]]))
            if motion < options.static_below:
                static += 1
                continue
            clips.append([kept[p] for p in window])
    if options.max_clips_per_video and len(clips) > options.max_clips_per_video:
        chosen = np.linspace(0, len(clips) - 1, options.max_clips_per_video).round().astype(int)
        clips = [clips[i] for i in sorted(set(chosen.tolist()))]
    return clips, cuts, static


def _resize(frame: np.ndarray, short_side: int | None) -> np.ndarray:
    if short_side is None:
        return frame
    height, width = frame.shape[:2]
    factor = short_side / min(height, width)
    if factor >= 1:
        return frame
    # Multiples of 4 so x2 and x4 training crops need no further trimming.
    new_w = max(4, int(round(width * factor / 4)) * 4)
    new_h = max(4, int(round(height * factor / 4)) * 4)
    return cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_AREA)


def write_clips(plan: VideoPlan, out_dir: Path, options: PrepareOptions,
                on_clip: Callable[[], object] | None = None) -> list[str]:
    """Pass 2: decode again and write the planned clips; returns their list entries.

    `on_clip` is called each time a clip's last frame is written (a progress bar's update)."""
    wanted = {index: (c, i) for c, clip in enumerate(plan.clips) for i, index in enumerate(clip)}
    last = max(wanted) if wanted else -1
    for index, frame in enumerate(read_video_frames(plan.path, count=last + 1)):
        if index in wanted:
            clip, position = wanted[index]
            write_image(out_dir / plan.name / f"{clip + 1:04d}" / f"im{position + 1}.png",
                        _resize(frame, options.short_side))
            if on_clip is not None and position == len(plan.clips[clip]) - 1:
                on_clip()
    return [f"{plan.name}/{c + 1:04d}" for c in range(len(plan.clips))]


def assign_splits(names: list[str], shares: tuple[float, float, float], seed: int) -> dict[str, str]:
    """Video -> split, by a seeded shuffle and largest-remainder counts; train gets at least one video."""
    order = sorted(names)
    np.random.default_rng(seed).shuffle(order)
    total = sum(shares)
    exact = [len(order) * s / total for s in shares]
    counts = [int(e) for e in exact]
    for i in sorted(range(3), key=lambda i: exact[i] - counts[i], reverse=True)[: len(order) - sum(counts)]:
        counts[i] += 1
    if counts[0] == 0 and len(order) > 0:
        donor = max(range(1, 3), key=lambda i: counts[i])
        counts[donor] -= 1
        counts[0] += 1
    assignment, start = {}, 0
    for split, count in zip(SPLIT_NAMES, counts, strict=True):
        for name in order[start : start + count]:
            assignment[name] = split
        start += count
    return assignment


def _unique_names(videos: list[Path]) -> list[str]:
    names, seen = [], {}
    for video in videos:
        stem = video.stem.replace(" ", "_") or "video"
        seen[stem] = seen.get(stem, 0) + 1
        names.append(stem if seen[stem] == 1 else f"{stem}_{seen[stem]}")
    return names


def written_lists(plans: list[VideoPlan]) -> list[str]:
    """The list files a finished `prepare_dataset` wrote: one per split that received clips."""
    return [f"{split}.txt" for split in SPLIT_NAMES if any(p.split == split and p.clips for p in plans)]


def _skip(plan: VideoPlan, error: SpectraFrameError) -> None:
    log.warning("skipping %s: %s", plan.path, error)
    plan.error, plan.clips, plan.split = str(error), [], ""


def _publish(staging: Path, out_dir: Path) -> None:
    """Move the finished set to its final name (an empty folder already there is replaced)."""
    if out_dir.is_dir():
        out_dir.rmdir()  # empty: checked at the start; fails loudly if something was put there meanwhile
    staging.rename(out_dir)


def _plan_videos(paths: list[Path], options: PrepareOptions, progress: bool) -> list[VideoPlan]:
    """Pass 1: each video measured and its clips planned (an unreadable one skipped, with its error)."""
    from tqdm import tqdm

    plans = []
    for path, name in zip(tqdm(paths, desc="measuring", unit="video", disable=not progress),
                          _unique_names(paths), strict=True):
        plan = VideoPlan(name=name, path=str(path))
        plans.append(plan)
        try:
            kept, differences, count = measure(path, options)
        except SpectraFrameError as exc:
            _skip(plan, exc)
            continue
        plan.clips, plan.cuts, plan.static_clips = plan_clips(kept, differences, options)
        plan.frames, plan.duplicates = count, count - len(kept)
        if not plan.clips:
            log.warning("%s: no usable %d-frame clip (%d frames, %d cuts, %d static clips)",
                        path, options.clip_length, count, plan.cuts, plan.static_clips)
    return plans


def prepare_dataset(videos: list[str | Path], out_dir: str | Path, options: PrepareOptions | None = None,
                    progress: bool = True) -> list[VideoPlan]:
    """Build a training set in `out_dir` from video files (or folders of them). Returns the per-video plans,
    unreadable videos included (with `error` set and no clips)."""
    from tqdm import tqdm

    options = options or PrepareOptions()
    paths = find_videos(list(videos))
    out_dir = Path(out_dir)
    # A new or empty folder only (there is no --overwrite), never one holding the videos.
    check_outputs([Output(out_dir, "folder", "output folder", empty_ok=True)], paths, overwrite=None)
    plans = _plan_videos(paths, options, progress)
    useful = [p for p in plans if p.clips]
    if not useful:
        unreadable = sum(1 for p in plans if p.error)
        why = f" ({unreadable} could not be read)" if unreadable else ""
        raise SpectraFrameError(
            f"none of the {len(plans)} videos{why} gave a {options.clip_length}-frame clip without a cut or "
            "with enough motion; see the warnings above"
        )
    splits = assign_splits([p.name for p in useful], options.split, options.seed)
    # Written into a hidden sibling, renamed at the end: a failure leaves no partial out_dir to block a rerun.
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.partial-{secrets.token_hex(4)}"
    staging.mkdir()  # mkdir, not mkdtemp: the folder gets the usual permissions, not owner-only
    try:
        entries: dict[str, list[str]] = {name: [] for name in SPLIT_NAMES}
        with tqdm(total=sum(len(p.clips) for p in useful), desc="writing", unit="clip",
                  disable=not progress) as bar:
            for plan in useful:
                bar.set_postfix_str(plan.name, refresh=False)
                done = bar.n
                try:
                    lines = write_clips(plan, staging, options, on_clip=bar.update)
                except SpectraFrameError as exc:  # it decoded in pass 1 but breaks now (e.g. changed on disk)
                    shutil.rmtree(staging / plan.name, ignore_errors=True)
                    bar.update(len(plan.clips) - (bar.n - done))
                    _skip(plan, exc)
                    continue
                plan.split = splits[plan.name]
                entries[plan.split] += lines
        if not any(entries.values()):
            raise SpectraFrameError("no clip could be written: every video failed, see the warnings above")
        for split, lines in entries.items():
            if lines:
                (staging / f"{split}.txt").write_text("\n".join(lines) + "\n")
            elif options.split[SPLIT_NAMES.index(split)] > 0:
                log.warning("the %s split is empty: %d videos with clips are too few for shares %s",
                            split, sum(1 for p in plans if p.clips), "/".join(f"{s:g}" for s in options.split))
        report = {"options": asdict(options), "videos": [asdict(p) | {"clips": len(p.clips)} for p in plans]}
        (staging / "prepare.json").write_text(json.dumps(report, indent=1))
        _publish(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return plans
