"""Frame files: reading with clear errors, conversion to RGB, folder listing."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from spectraframe.errors import SpectraFrameError
from spectraframe.paths import require_file

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def to_rgb_uint8(image: Image.Image, source: str = "image") -> np.ndarray:
    """Convert a PIL image of any mode to an (H, W, 3) uint8 array, saying what was converted (once per folder)."""
    mode = image.mode
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        _report_conversion(source, f"has an alpha channel ({mode}); it is dropped and the colours are kept as they "
                                   "are (not composited on a background)")
        image = image.convert("RGBA").convert("RGB")
    elif mode in ("L", "1"):
        _report_conversion(source, f"is grayscale ({mode}); it is converted to RGB by repeating the channel")
        image = image.convert("RGB")
    elif mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        depth = "floating-point" if mode == "F" else "16-bit"
        _report_conversion(source, f"is {depth} grayscale ({mode}); it is scaled to 8 bits and repeated to RGB")
        array = np.asarray(image).astype(np.float64)
        peak = 65535.0 if mode.startswith("I") else max(float(array.max()), 1.0)
        gray = np.clip(np.round(array / peak * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    elif mode == "P":
        image = image.convert("RGB")  # an opaque palette image: lossless, nothing to report
    elif mode != "RGB":
        _report_conversion(source, f"is in mode {mode}; it is converted to RGB")
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


# (folder, conversion) pairs already reported: a 41-frame RGBA clip gets one warning, not 41.
_reported_conversions: set[tuple[str, str]] = set()


def _report_conversion(source: str, what: str) -> None:
    folder = str(Path(source).parent)
    if (folder, what) in _reported_conversions:
        log.debug("%s %s", source, what)
        return
    _reported_conversions.add((folder, what))
    log.warning("%s %s; other frames of %s like it are converted the same way without a further warning",
                source, what, folder)


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB. Grayscale and alpha inputs are converted with a warning."""
    path = require_file(path, "image file")
    try:
        with Image.open(path) as image:
            image.load()
            return to_rgb_uint8(image, source=str(path))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise SpectraFrameError(f"cannot read image {path}: {exc}. Is it a complete PNG/JPEG file?") from exc


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Write an (H, W, 3) uint8 RGB array; the folder is created if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"write_image expects (H, W, 3) uint8, got {image.shape} {image.dtype}")
    Image.fromarray(image).save(path)


_DIGITS = re.compile(r"([0-9]+)")


def natural_key(name: str) -> tuple:
    """Sort key comparing digit runs as numbers: 2.png before 10.png (plain string order puts 10 first).

    re.split with a group alternates text and digits, so positions always hold the same type. The name
    itself breaks ties between equal numbers written differently (1.png, 01.png).
    """
    parts = _DIGITS.split(name)
    return (tuple(int(part) if i % 2 else part for i, part in enumerate(parts)), name)


def list_frames(folder: str | Path) -> list[Path]:
    """The image files of a folder in temporal order (natural sort: 1, 2, 10). An empty folder is an error."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SpectraFrameError(f"frame folder not found: {folder}")
    frames = sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                    key=lambda p: natural_key(p.name))
    if not frames:
        raise SpectraFrameError(
            f"no frames in {folder}: expected image files ({', '.join(IMAGE_SUFFIXES)})"
        )
    return frames


def read_frames(paths: Sequence[str | Path]) -> list[np.ndarray]:
    """Read the frames of one clip, checking that they all have the same size."""
    frames = [read_image(p) for p in paths]
    first_shape = frames[0].shape
    for path, frame in zip(paths, frames, strict=True):
        if frame.shape != first_shape:
            raise SpectraFrameError(
                f"frames of one clip differ in size: {paths[0]} is {first_shape[1]}x{first_shape[0]}, "
                f"{path} is {frame.shape[1]}x{frame.shape[0]}"
            )
    return frames
