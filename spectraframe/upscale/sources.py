"""Inputs of the upscale pipeline: a video file or a folder of frames, streamed frame by frame."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from spectraframe.errors import SpectraFrameError
from spectraframe.io.images import list_frames, read_image
from spectraframe.io.video import DecodedFrame, decode_video, probe_video, scan_video
from spectraframe.paths import check_path_length

log = logging.getLogger(__name__)

DEFAULT_FOLDER_FPS = Fraction(25)
# Time-base units per frame interval that leave room to give repeated timestamps one unit each.
REPEAT_ROOM = 100
# The flow pyramid and the network's strided projections need a few pixels to work with.
MIN_SIDE = 8


@dataclass
class SourceInfo:
    path: Path
    kind: str  # "video" or "frames"
    width: int
    height: int
    frame_count: int
    fps: Fraction
    time_base: Fraction  # of the timestamps `frames()` yields
    variable_frame_rate: bool = False
    frame_names: list[str] | None = None  # stems of the input files (frame folders)
    notes: list[str] = field(default_factory=list)  # conversions and substitutions the user should know


class FrameSource:
    """`info` is known before decoding starts (everything is checked up front); `frames()` streams."""

    def __init__(self, path: str | Path, *, folder_fps: Fraction | None = None):
        self.path = Path(path)
        check_path_length(self.path, "input")
        if self.path.is_dir():
            self._frame_paths = list_frames(self.path)
            first = read_image(self._frame_paths[0])
            fps = Fraction(folder_fps) if folder_fps else DEFAULT_FOLDER_FPS
            self.info = SourceInfo(
                self.path, "frames", first.shape[1], first.shape[0], len(self._frame_paths), fps, 1 / fps,
                frame_names=[p.stem for p in self._frame_paths],
            )
            if not folder_fps:
                self.info.notes.append(f"frame folder: no frame rate known, {fps} fps used (set it with --fps)")
        elif self.path.exists():
            video = probe_video(self.path)
            scan = scan_video(self.path)
            fps = video.fps if video.fps > 0 else DEFAULT_FOLDER_FPS
            self._synthesize = not scan.timestamps_complete
            # Frames sharing a timestamp get one tick more than the previous frame, every other frame keeps its
            # own: the time base is refined until a frame interval has room for such ticks.
            self._refine = 1
            if scan.repeated_timestamps and not self._synthesize and 0 < scan.min_step < REPEAT_ROOM:
                self._refine = math.ceil(REPEAT_ROOM / scan.min_step)
            time_base = 1 / fps if self._synthesize else scan.time_base / self._refine
            self.info = SourceInfo(
                self.path, "video", video.width, video.height, scan.frame_count, fps, time_base,
                variable_frame_rate=scan.variable_frame_rate,
            )
            self.info.notes.extend(scan.notes)
            if video.stream_note:
                self.info.notes.append(video.stream_note)
            if video.bit_depth_note:
                self.info.notes.append(video.bit_depth_note)
            if scan.repeated_timestamps and not self._synthesize:
                tick = float(time_base) * 1000
                self.info.notes.append(
                    f"{scan.repeated_timestamps} frame(s) repeat the timestamp of the frame before: each is shown "
                    f"{tick:.3g} ms after that frame, every other frame keeps its own timestamp"
                )
            if self._synthesize:
                self.info.notes.append(f"the container has no timestamps for some frames: {fps} fps is assumed")
            if scan.variable_frame_rate:
                self.info.notes.append(
                    f"variable frame rate (frame intervals {scan.min_interval * 1000:.1f}-"
                    f"{scan.max_interval * 1000:.1f} ms): each frame keeps its own timestamp"
                )
        else:
            raise SpectraFrameError(f"input not found: {self.path}")
        if min(self.info.width, self.info.height) < MIN_SIDE:
            raise SpectraFrameError(
                f"{self.path}: frames of {self.info.width}x{self.info.height} are too small to upscale "
                f"(at least {MIN_SIDE} pixels a side)"
            )

    def frames(self) -> Iterator[DecodedFrame]:
        """Every frame in order with a strictly increasing timestamp in `info.time_base` units."""
        info = self.info
        if info.kind == "frames":
            for index, path in enumerate(self._frame_paths):
                yield self._checked(DecodedFrame(index, read_image(path), index, info.time_base), str(path))
            return
        step = max(1, round(1 / (info.fps * info.time_base)))  # one frame interval in time-base units
        last: int | None = None
        count = 0
        for frame in decode_video(self.path, warn_conversions=False):
            if self._synthesize:
                pts = frame.index * step
            elif frame.pts is None:  # a frame the decoder gave no timestamp: one interval after the one before
                pts = (last if last is not None else -step) + step
            else:
                pts = frame.pts * self._refine
            if last is not None and pts <= last:
                pts = last + 1  # a repeated timestamp: one tick after the frame before, later frames untouched
            last = pts
            frame.pts, frame.time_base = pts, info.time_base
            count += 1
            yield self._checked(frame, f"{self.path} frame {frame.index}")
        if count < info.frame_count:
            raise SpectraFrameError(
                f"{self.path}: only {count} of {info.frame_count} frames could be decoded (corrupt data?)"
            )

    def _checked(self, frame: DecodedFrame, where: str) -> DecodedFrame:
        height, width = frame.image.shape[:2]
        if (width, height) != (self.info.width, self.info.height):
            raise SpectraFrameError(
                f"{where} is {width}x{height} but the first frame is {self.info.width}x{self.info.height}: "
                "all frames of one input must have the same size"
            )
        return frame
