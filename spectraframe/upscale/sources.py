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
from spectraframe.io.video import DecodedFrame, decode_video, main_video_stream, probe_video, scan_video
from spectraframe.paths import check_path_length
from spectraframe.upscale.trim import Trim, format_time

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
    # With a trim: (start, end) of the section in the input's own clock, seconds; end None: to the end.
    section: tuple[float, float | None] | None = None


def decode_from(path: Path, pts: list[int], first: int) -> Iterator[DecodedFrame] | None:
    """Frames `first`, `first + 1`, ... of a video whose frames have the distinct timestamps `pts` (display order),
    decoded from the key frame before frame `first` instead of from the start; None when the seek does not land
    exactly there (the caller then decodes from the start). Frames are numbered as a decode from the start would."""
    import av

    container = av.open(str(path))
    try:
        stream = main_video_stream(container)
        stream.thread_type = "AUTO"  # as decode_video: threading changes the speed, not the frames
        container.seek(pts[first], backward=True, any_frame=False, stream=stream)
        frames = container.decode(stream)
        frame = next((f for f in frames if f.pts is None or f.pts >= pts[first]), None)
    except (av.error.FFmpegError, OSError) as exc:
        log.debug("%s: seeking to frame %d failed (%s); decoding from the start", path, first, exc)
        container.close()
        return None
    if frame is None or frame.pts != pts[first]:
        container.close()
        return None
    return _frames_after_seek(path, container, frames, frame, first, Fraction(stream.time_base))


def _frames_after_seek(path: Path, container, frames, frame, first: int, time_base: Fraction,
                       ) -> Iterator[DecodedFrame]:
    import av

    index = first
    try:
        while frame is not None:
            yield DecodedFrame(index, frame.to_ndarray(format="rgb24"), frame.pts, time_base)
            index += 1
            frame = next(frames, None)
    except av.error.FFmpegError as exc:
        raise SpectraFrameError(f"{path}: decoding failed after frame {index}: {exc}") from exc
    finally:
        container.close()


class FrameSource:
    """`info` is known before decoding starts (everything is checked up front); `frames()` streams.

    With a `trim`, only the frames of that section: indices from 0 and timestamps from 0 at its first frame;
    `info.section` says where the section lies in the input (for cutting its audio and subtitles alike)."""

    def __init__(self, path: str | Path, *, folder_fps: Fraction | None = None, trim: Trim | None = None):
        self.path = Path(path)
        check_path_length(self.path, "input")
        self.first_frame = 0  # index in the input of the first frame (of the section, with a trim)
        if self.path.is_dir():
            self._open_frames(folder_fps)
        elif self.path.exists():
            self._open_video()
        else:
            raise SpectraFrameError(f"input not found: {self.path}")
        if min(self.info.width, self.info.height) < MIN_SIDE:
            raise SpectraFrameError(
                f"{self.path}: frames of {self.info.width}x{self.info.height} are too small to upscale "
                f"(at least {MIN_SIDE} pixels a side)"
            )
        if trim is not None and not trim.whole:
            self._apply_trim(trim)

    def _open_frames(self, folder_fps: Fraction | None) -> None:
        self._frame_paths = list_frames(self.path)
        first = read_image(self._frame_paths[0])
        fps = Fraction(folder_fps) if folder_fps else DEFAULT_FOLDER_FPS
        self.info = SourceInfo(
            self.path, "frames", first.shape[1], first.shape[0], len(self._frame_paths), fps, 1 / fps,
            frame_names=[p.stem for p in self._frame_paths],
        )
        if not folder_fps:
            self.info.notes.append(f"frame folder: no frame rate known, {fps} fps used (set it with --fps)")

    def _open_video(self) -> None:
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
        self._pts: list[int] = []  # every frame's timestamp in display order, when a trim needed them
        self._scan = scan
        self.info = info = SourceInfo(
            self.path, "video", video.width, video.height, scan.frame_count, fps, time_base,
            variable_frame_rate=scan.variable_frame_rate,
        )
        info.notes.extend(scan.notes)
        info.notes.extend(note for note in (video.stream_note, video.bit_depth_note) if note)
        if scan.repeated_timestamps and not self._synthesize:
            tick = float(time_base) * 1000
            info.notes.append(
                f"{scan.repeated_timestamps} frame(s) repeat the timestamp of the frame before: each is shown "
                f"{tick:.3g} ms after that frame, every other frame keeps its own timestamp"
            )
        if self._synthesize:
            info.notes.append(f"the container has no timestamps for some frames: {fps} fps is assumed")
        if scan.variable_frame_rate:
            info.notes.append(
                f"variable frame rate (frame intervals {scan.min_interval * 1000:.1f}-"
                f"{scan.max_interval * 1000:.1f} ms): each frame keeps its own timestamp"
            )

    def _apply_trim(self, trim: Trim) -> None:
        """Keep the frames of `trim`'s section: its place in the input (seconds) goes to `info.section`."""
        info = self.info
        if info.kind == "video" and not self._synthesize:
            self._pts, time_base = list(self._scan.pts), self._scan.time_base
            times = [float(p * time_base) for p in self._pts]
            zero = times[0]
        else:
            times, zero = [float(i / info.fps) for i in range(info.frame_count)], 0.0
        first, count = trim.frame_range([t - zero for t in times])
        if count == 0:
            length = times[-1] - zero + 1 / float(info.fps)
            raise SpectraFrameError(f"{self.path}: --start {format_time(trim.start)} is past the end of the clip, "
                                    f"which lasts {format_time(length)}")
        self.first_frame = first
        info.frame_count = count
        end = times[first + count] if first + count < len(times) else None
        info.section = (times[first], end)
        if info.kind == "frames":
            self._frame_paths = self._frame_paths[first:first + count]
            info.frame_names = info.frame_names[first:first + count]

    @property
    def frame_paths(self) -> list[Path]:
        """The image files of a frame folder, in frame order (empty for a video)."""
        return list(getattr(self, "_frame_paths", []))

    def frames(self) -> Iterator[DecodedFrame]:
        """Every frame (of the section) in order with a strictly increasing timestamp in `info.time_base` units."""
        info = self.info
        if info.kind == "frames":
            for index, path in enumerate(self._frame_paths):
                yield self._checked(DecodedFrame(index, read_image(path), index, info.time_base), str(path))
            return
        step = max(1, round(1 / (info.fps * info.time_base)))  # one frame interval in time-base units
        last: int | None = None
        origin: int | None = None  # the timestamp of the section's first frame: the output starts there
        count = 0
        for frame in self._decoded():
            if self._synthesize:
                pts = frame.index * step
            elif frame.pts is None:  # a frame the decoder gave no timestamp: one interval after the one before
                pts = (last if last is not None else -step) + step
            else:
                pts = frame.pts * self._refine
            if last is not None and pts <= last:
                pts = last + 1  # a repeated timestamp: one tick after the frame before, later frames untouched
            last = pts
            if frame.index < self.first_frame:
                continue
            if count == info.frame_count:
                break
            origin = pts if origin is None else origin
            frame.index -= self.first_frame
            frame.pts, frame.time_base = (pts - origin if info.section else pts), info.time_base
            count += 1
            yield self._checked(frame, f"{self.path} frame {frame.index + self.first_frame}")
        if count < info.frame_count:
            raise SpectraFrameError(
                f"{self.path}: only {count} of {info.frame_count} frames could be decoded (corrupt data?)"
            )

    def _decoded(self) -> Iterator[DecodedFrame]:
        """The input's frames, from the section's first one on when a seek gets there exactly: timestamps all
        present and distinct (otherwise the numbering and the timestamp fixes need every frame from the start)."""
        seekable = self.first_frame > 0 and not self._synthesize and self._refine == 1 and \
            len(set(self._pts)) == len(self._pts) == self._scan.frame_count
        frames = decode_from(self.path, self._pts, self.first_frame) if seekable else None
        return frames if frames is not None else decode_video(self.path, warn_conversions=False)

    def _checked(self, frame: DecodedFrame, where: str) -> DecodedFrame:
        height, width = frame.image.shape[:2]
        if (width, height) != (self.info.width, self.info.height):
            raise SpectraFrameError(
                f"{where} is {width}x{height} but the first frame is {self.info.width}x{self.info.height}: "
                "all frames of one input must have the same size"
            )
        return frame
