"""Reading video files with PyAV: probing and decoding to RGB frames, with clear errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from spectraframe.errors import SpectraFrameError

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".y4m")


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int
    height: int
    fps: Fraction
    frame_count: int  # from the container; 0 when it does not say
    duration: float  # seconds, 0.0 when unknown
    codec: str
    pix_fmt: str
    audio_streams: int
    subtitle_streams: int

    @property
    def bit_depth_note(self) -> str | None:
        fmt = self.pix_fmt or ""
        if any(tag in fmt for tag in ("10", "12", "16")):
            return f"{fmt} (more than 8 bits per sample) is converted to 8-bit RGB"
        if fmt.startswith(("yuva", "rgba", "bgra", "argb", "abgr", "gbrap", "ya")):
            return f"{fmt} has an alpha channel, which is dropped"
        if fmt.startswith("gray"):
            return f"{fmt} is grayscale and is converted to RGB"
        return None


def _open(path: Path) -> av.container.InputContainer:
    if not path.is_file():
        raise SpectraFrameError(f"video file not found: {path}")
    try:
        return av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise SpectraFrameError(f"cannot open video {path}: {exc}. Is it a complete video file?") from exc


def probe_video(path: str | Path) -> VideoInfo:
    """Stream facts of a video file. A file without a video stream is an error."""
    path = Path(path)
    with _open(path) as container:
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["no streams"]
            raise SpectraFrameError(f"{path} has no video stream (it has: {', '.join(kinds)})")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        duration = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else 0.0
        if not duration and container.duration:
            duration = container.duration / av.time_base
        return VideoInfo(
            path=path,
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            fps=Fraction(rate) if rate else Fraction(0),
            frame_count=int(stream.frames or 0),
            duration=duration,
            codec=stream.codec_context.name,
            pix_fmt=stream.codec_context.pix_fmt or "",
            audio_streams=len(container.streams.audio),
            subtitle_streams=len(container.streams.subtitles),
        )


def read_video_frames(path: str | Path, start: int = 0, count: int | None = None) -> Iterator[np.ndarray]:
    """Decode frames as (H, W, 3) uint8 RGB, one at a time (memory does not grow with the video).

    `start` skips that many decoded frames; `count` stops after that many. A video that decodes to no
    frame at all, or breaks mid-way, raises SpectraFrameError naming the frame.
    """
    path = Path(path)
    info = probe_video(path)
    note = info.bit_depth_note
    if note:
        log.warning("%s: %s", path, note)
    decoded = 0
    yielded = 0
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                if decoded >= start:
                    if count is not None and yielded >= count:
                        return
                    yield frame.to_ndarray(format="rgb24")
                    yielded += 1
                decoded += 1
        except av.error.FFmpegError as exc:
            raise SpectraFrameError(f"{path}: decoding failed after frame {decoded}: {exc}") from exc
    if decoded == 0:
        raise SpectraFrameError(f"{path} contains no decodable video frame")
