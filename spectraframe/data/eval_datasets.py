"""Evaluation sets on disk: folders of frames (Vid4, SPMCS, REDS, our corpus) and Vimeo-90K-T.

Layouts
- "folders": every clip is a folder of frames, `ROOT/<clip>/*.png|jpg`, in sorted file-name order;
  with a list file, its lines are clip paths relative to ROOT (nested paths allowed, e.g.
  `davis2016_val/blackswan_00`); without one, every folder under ROOT that holds frames is a clip.
  All frames are scored.
- "vimeo": Vimeo-90K-T, `ROOT/sequences/XXXXX/YYYY/im1..im7.png`; list lines are `XXXXX/YYYY`
  (`sep_testlist.txt` in ROOT is used when no list is given). Only the centre frame im4 is scored;
  the other six are its neighbours.
- "auto" (default): "vimeo" when ROOT has a `sequences` folder, else "folders".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spectraframe.errors import SpectraFrameError
from spectraframe.io.images import IMAGE_SUFFIXES, list_frames, read_frames
from spectraframe.paths import require_file

LAYOUTS = ("auto", "folders", "vimeo")
VIMEO_FRAMES = [f"im{i}.png" for i in range(1, 8)]
VIMEO_TEST_LIST = "sep_testlist.txt"


@dataclass
class EvalClip:
    """One clip of an evaluation set: its name (path relative to ROOT), frame files, scored frames."""

    name: str
    frame_paths: list[Path]
    scored: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.scored:
            self.scored = list(range(len(self.frame_paths)))

    def read(self) -> np.ndarray:
        """All frames as a (T, H, W, 3) uint8 array (same size checked, grayscale/RGBA converted)."""
        return np.stack(read_frames(self.frame_paths))


@dataclass
class MemoryClip:
    """A clip already in memory, (T, H, W, 3) uint8 frames, scored like an `EvalClip` (the resident training
    source's held-out clips)."""

    name: str
    frames: np.ndarray
    scored: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.scored = self.scored or list(range(len(self.frames)))
        self.frame_paths = [Path(f"{t + 1:05d}.png") for t in range(len(self.frames))]

    def read(self) -> np.ndarray:
        return self.frames


def read_list_file(list_file: str | Path) -> list[str]:
    """Non-empty, non-comment lines of a clip list file."""
    list_file = require_file(list_file, "list file")
    entries = [line.strip() for line in list_file.read_text().splitlines()]
    entries = [e for e in entries if e and not e.startswith("#")]
    if not entries:
        raise SpectraFrameError(f"list file {list_file} names no clips")
    return entries


def _check_entries_exist(base: Path, entries: list[str], list_file: str | Path) -> None:
    missing = [e for e in entries if not (base / e).is_dir()]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise SpectraFrameError(
            f"{len(missing)} of {len(entries)} entries of {list_file} are not folders under {base}: {shown}. "
            "List entries are clip paths relative to the dataset root."
        )


def _has_frames(folder: Path) -> bool:
    return any(p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir())


def _discover_clip_folders(root: Path, exclude: Path | None = None) -> list[Path]:
    """Every folder under root (root included) that directly holds frames; empty leaf folders are errors.

    `exclude`: a folder to leave out with everything under it (eval's own --save-frames output)."""
    clips = []
    skip = exclude.resolve() if exclude is not None else None
    for folder in sorted([root, *(p for p in root.rglob("*") if p.is_dir())]):
        if skip is not None and folder.resolve().is_relative_to(skip):
            continue
        if _has_frames(folder):
            clips.append(folder)
        elif not any(folder.iterdir()):
            raise SpectraFrameError(
                f"clip folder {folder} is empty: expected image files ({', '.join(IMAGE_SUFFIXES)})"
            )
    if not clips:
        raise SpectraFrameError(f"no frames found under {root}: expected ROOT/<clip>/*.png|jpg")
    return clips


def _folder_clips(root: Path, list_file: str | Path | None, exclude: Path | None = None) -> list[EvalClip]:
    if list_file is not None:
        entries = read_list_file(list_file)
        _check_entries_exist(root, entries, list_file)
        folders = [(entry, root / entry) for entry in entries]
    else:
        folders = [(f.relative_to(root).as_posix() if f != root else root.name, f)
                   for f in _discover_clip_folders(root, exclude)]
    return [EvalClip(name=name, frame_paths=list_frames(folder)) for name, folder in folders]


def _vimeo_clips(root: Path, list_file: str | Path | None) -> list[EvalClip]:
    sequences = root / "sequences"
    if not sequences.is_dir():
        raise SpectraFrameError(f"Vimeo-90K layout expects {sequences}/XXXXX/YYYY/im1..im7.png")
    if list_file is None and (root / VIMEO_TEST_LIST).is_file():
        list_file = root / VIMEO_TEST_LIST
    if list_file is not None:
        entries = read_list_file(list_file)
        _check_entries_exist(sequences, entries, list_file)
    else:
        entries = sorted(p.relative_to(sequences).as_posix() for p in sequences.glob("*/*") if p.is_dir())
        if not entries:
            raise SpectraFrameError(f"no septuplets in {sequences}: expected XXXXX/YYYY/im1..im7.png")
    clips = []
    for entry in entries:
        paths = [sequences / entry / name for name in VIMEO_FRAMES]
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            raise SpectraFrameError(f"septuplet {sequences / entry} lacks {', '.join(missing)} (expected im1..im7.png)")
        clips.append(EvalClip(name=entry, frame_paths=paths, scored=[3]))
    return clips


def load_eval_clips(root: str | Path, list_file: str | Path | None = None, layout: str = "auto",
                    exclude: str | Path | None = None) -> list[EvalClip]:
    """The clips of an evaluation set (frames are read later, clip by clip, with `EvalClip.read`).

    `exclude`: a folder that discovery skips (eval's comparison pictures may be written inside ROOT)."""
    root = Path(root)
    if layout not in LAYOUTS:
        raise SpectraFrameError(f"unknown dataset layout {layout!r}: choose one of {', '.join(LAYOUTS)}")
    if not root.is_dir():
        raise SpectraFrameError(f"dataset folder not found: {root}")
    if not any(root.iterdir()):
        raise SpectraFrameError(f"dataset folder {root} is empty: expected ROOT/<clip>/*.png|jpg")
    if layout == "auto":
        layout = "vimeo" if (root / "sequences").is_dir() else "folders"
    if layout == "vimeo":
        return _vimeo_clips(root, list_file)
    return _folder_clips(root, list_file, Path(exclude) if exclude is not None else None)
