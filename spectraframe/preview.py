"""`spectraframe preview`: one frame of a person's own clip, bicubic | the model, before committing to the long run.

The frame is made by the `Upscaler` that `upscale` would run, with the same settings, over the few frames around it
(a trimmed section: its neighbours are the ones the whole run gives it), so the picture is what the run will
make. Timing those frames gives the estimate for the whole clip on this machine.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spectraframe.comparison import bicubic_comparison
from spectraframe.errors import SpectraFrameError
from spectraframe.io.images import list_frames, read_image, write_image
from spectraframe.paths import Output, check_outputs
from spectraframe.upscale.pipeline import Upscaler, UpscaleResult
from spectraframe.upscale.sources import FrameSource
from spectraframe.upscale.trim import Trim, format_time


@dataclass
class PreviewResult:
    picture: Path
    frame: int  # index in the clip
    seconds: float  # where the frame is shown, from the first frame
    clip_frames: int
    seconds_per_frame: float  # the pipeline's rate on this machine, after its first frame

    @property
    def estimate(self) -> float:
        """Seconds the whole clip would take at this rate."""
        return self.seconds_per_frame * self.clip_frames


def section_around(source: FrameSource, at: float, back: int, ahead: int) -> tuple[Trim, int]:
    """The section from `back` frames before the frame shown at `at` seconds to `ahead` frames after it (fewer at
    the clip's ends), and that frame's index in the clip. Times are by the frame rate."""
    info = source.info
    if at * info.fps >= info.frame_count:
        length = info.frame_count / info.fps
        raise SpectraFrameError(f"--at {format_time(at)} is past the end of {source.path}, which lasts about "
                                f"{format_time(float(length))}")
    index = int(at * info.fps + 1e-6)
    first, last = max(0, index - back), min(info.frame_count - 1, index + ahead)
    # Half a frame interval before the first frame: rounding in the times never drops it.
    start = max(0.0, float((first - 0.5) / info.fps))
    return Trim(start, float((last - first + 1) / info.fps)), index


def preview(upscaler: Upscaler, clip: Path, at: float, picture: Path, *, label: str = "SpectraFrame",
            overwrite: bool = False) -> PreviewResult:
    """Write the comparison picture of the frame at `at` seconds of `clip` to `picture` (a PNG), made by `upscaler`
    (whose options' `trim` is replaced), and time it."""
    check_outputs([Output(picture, "file")], [clip], overwrite=overwrite)
    whole = FrameSource(clip, folder_fps=upscaler.options.fps)
    # The frame and its neighbours: the frames `upscale` would give it (at least three, for the timing).
    trim, index = section_around(whole, at, max(1, upscaler.reach_back), max(1, upscaler.reach_ahead))
    upscaler.options.trim = trim
    section = FrameSource(clip, folder_fps=upscaler.options.fps, trim=trim)
    position = min(max(0, index - section.first_frame), section.info.frame_count - 1)
    times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="spectraframe-preview-") as folder:
        result = upscaler.run(clip, Path(folder) / "frames", on_frame=lambda _: times.append(time.perf_counter()))
        upscaled = read_image(list_frames(result.output)[position])
    low = _frame(section, position)
    _, comparison = bicubic_comparison(low, upscaled, label)
    write_image(picture, comparison)
    return PreviewResult(picture, index, float(index / whole.info.fps), whole.info.frame_count,
                         _seconds_per_frame(times, result))


def _frame(source: FrameSource, index: int) -> np.ndarray:
    for frame in source.frames():
        if frame.index == index:
            return frame.image
    raise SpectraFrameError(f"{source.path}: frame {index} of the section could not be read")


def _seconds_per_frame(times: list[float], result: UpscaleResult) -> float:
    """The rate once running (the first frame also pays for start-up), else the whole run's."""
    if len(times) >= 3:
        return (times[-1] - times[0]) / (len(times) - 1)
    return result.seconds / max(1, result.frames)
