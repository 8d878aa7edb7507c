"""Scene cuts, from the change between consecutive frames measured on small grayscale copies.

RBPN reads each frame with its neighbours; across a cut the "neighbours" show another scene and the flow is
meaningless, so neither a training clip nor an upscaling window may cross one. Two rules, one per use:

**Offline** (`offline_cuts`, for `spectraframe prepare`, which has measured the whole video first): a frame starts a
shot when its difference to the previous frame is above a floor and far above the median difference of the frames
around it on both sides, so fast shots do not hide cuts and calm ones do not invent them.

**Causal** (`SceneCutDetector`, for the upscale stream, which decides frame by frame): a cut between frames t-1 and t
is declared when both hold:
* the mean absolute luma difference (on a small copy, 0-255) jumps: above MIN_DIFFERENCE and above
  JUMP_FACTOR times the median of the recent differences inside the current scene (motion makes
  differences large but steady; a cut is an outlier against them);
* the luma histograms differ (total variation distance above MIN_HISTOGRAM_DISTANCE), so fast motion or
  a flash inside one scene, which keeps the histogram, is not a cut.
"""

from __future__ import annotations

from collections import deque

import cv2
import numpy as np

MIN_DIFFERENCE = 12.0
JUMP_FACTOR = 3.0
MIN_HISTOGRAM_DISTANCE = 0.25
HISTORY = 12
THUMB_WIDTH = 64
HISTOGRAM_BINS = 32


def thumbnail(image: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """A small float32 luma copy of an (H, W, 3) uint8 RGB frame, the input of the statistics: `size` (width,
    height) exactly, or by default at most THUMB_WIDTH wide with the aspect kept."""
    if size is not None:
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        return cv2.resize(gray, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    height, width = image.shape[:2]
    if width > THUMB_WIDTH:
        size = (THUMB_WIDTH, max(1, round(height * THUMB_WIDTH / width)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)


def frame_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two thumbnails (0-255)."""
    return float(np.abs(a - b).mean())


def offline_cuts(differences: list[float], ratio: float, above: float, context: int) -> list[bool]:
    """For each frame, given every frame's difference to the previous one (inf for a first frame), whether it starts
    a shot: infinite, or above `above` and above `ratio` times the median of the finite differences of the `context`
    frames on each side."""
    starts = []
    for position, difference in enumerate(differences):
        nearby = [d for d in differences[max(0, position - context) : position]
                  + differences[position + 1 : position + context + 1] if np.isfinite(d)]
        local = float(np.median(nearby)) if nearby else 0.0
        starts.append(not np.isfinite(difference) or difference > max(above, ratio * local))
    return starts


def histogram(luma: np.ndarray) -> np.ndarray:
    counts, _ = np.histogram(luma, bins=HISTOGRAM_BINS, range=(0.0, 256.0))
    return counts / max(1, counts.sum())


class SceneCutDetector:
    """Feed frames in order with `is_cut(frame)`: True when the frame starts a new scene.

    The decision for frame t depends only on frames up to t, so a resumed run that replays the same
    frames takes the same decisions.
    """

    def __init__(self) -> None:
        self._previous: tuple[np.ndarray, np.ndarray] | None = None
        self._recent: deque[float] = deque(maxlen=HISTORY)

    def is_cut(self, image: np.ndarray) -> bool:
        luma = thumbnail(image)
        hist = histogram(luma)
        previous, self._previous = self._previous, (luma, hist)
        if previous is None:
            return False
        difference = frame_difference(luma, previous[0])
        distance = 0.5 * float(np.abs(hist - previous[1]).sum())
        typical = float(np.median(self._recent)) if self._recent else 0.0
        cut = difference > max(MIN_DIFFERENCE, JUMP_FACTOR * typical) and distance > MIN_HISTOGRAM_DISTANCE
        if cut:
            self._recent.clear()
        else:
            self._recent.append(difference)
        return cut


def detect_cuts(frames) -> list[int]:
    """Indices of the frames that start a new scene (0 excluded), for an iterable of RGB frames."""
    detector = SceneCutDetector()
    return [i for i, frame in enumerate(frames) if detector.is_cut(frame) and i > 0]
