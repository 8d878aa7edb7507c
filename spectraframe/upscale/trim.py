"""A section of the input (`upscale --start T --duration D`, `preview --at T`): times as ffmpeg's `-ss`/`-t` take them,
and which frames they select. No torch, no decoding: parsing runs with the command line."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from fractions import Fraction

_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d*)?)$")


def parse_time(text: str) -> float:
    """Seconds from `90`, `1.5`, `01:30` or `00:01:30.5` (ffmpeg's forms); a ValueError saying what is expected."""
    value = str(text).strip()
    match = _CLOCK.match(value)
    if match:
        hours, minutes, seconds = match.groups()
        if int(minutes) >= 60 or float(seconds) >= 60:
            raise ValueError(f"{text!r}: minutes and seconds of HH:MM:SS go up to 59")
        return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"{text!r} is not a time: write seconds (90, 1.5) or HH:MM:SS (00:01:30)") from None
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(f"{text!r}: a time must be 0 seconds or more")
    return seconds


def time_argument(text: str) -> float:
    """argparse `type=` for times: the parser's own error on a bad value."""
    try:
        return parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def format_time(seconds: float) -> str:
    """`75.5` -> `00:01:15.50`, for messages."""
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours:02d}:{minutes:02d}:{secs:05.2f}"


@dataclass(frozen=True)
class Trim:
    """The section [start, start + duration) in seconds from the first frame; duration None: to the end."""

    start: float = 0.0
    duration: float | None = None

    def __post_init__(self) -> None:
        if self.duration is not None and self.duration <= 0:
            raise ValueError(f"the duration must be more than 0 seconds, got {self.duration:g}")

    @property
    def whole(self) -> bool:
        return self.start == 0 and self.duration is None

    def selects(self, seconds: float) -> bool:
        """Whether a frame shown `seconds` after the first one is in the section."""
        return self.start <= seconds + 1e-9 and (self.duration is None or seconds + 1e-9 < self.start + self.duration)

    def frame_range(self, times: list[float]) -> tuple[int, int]:
        """(first, count) of the frames in the section, given every frame's time from the first one (sorted)."""
        chosen = [i for i, t in enumerate(times) if self.selects(t)]
        return (chosen[0], len(chosen)) if chosen else (len(times), 0)

    def frames_at(self, fps: Fraction, frame_count: int) -> tuple[int, int]:
        """(first, count) for frames at a constant rate (frame folders)."""
        return self.frame_range([float(i / fps) for i in range(frame_count)])

    def to_dict(self) -> dict:
        return {"start": self.start, "duration": self.duration}
