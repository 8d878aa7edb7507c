"""Video files with PyAV: probing, a fast demux scan, decoding to RGB frames with their timestamps, and
the encoder settings used to write them back. Every user-facing problem is a SpectraFrameError."""

from __future__ import annotations

import bisect
import contextlib
import functools
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from spectraframe.errors import SpectraFrameError
from spectraframe.io.formats import VIDEO_SUFFIXES  # noqa: F401  (importable from here, as it always was)
from spectraframe.paths import require_file

log = logging.getLogger(__name__)

# Output container per file extension (FFmpeg muxer names).
OUTPUT_FORMATS = {
    ".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi", ".nut": "nut",
}
# Friendly codec names -> FFmpeg encoders.
CODEC_ALIASES = {
    "h264": "libx264", "x264": "libx264", "avc": "libx264",
    "h265": "libx265", "hevc": "libx265", "x265": "libx265",
    "vp9": "libvpx-vp9", "av1": "libsvtav1", "prores": "prores_ks",
}
# Encoders with a constant-quality (CRF) option, and its range: outside it they clamp without a word.
CRF_RANGES = {"libx264": (0, 51), "libx265": (0, 51), "libvpx-vp9": (0, 63), "libsvtav1": (0, 63)}
CRF_ENCODERS = set(CRF_RANGES)
# A frame-interval spread above this fraction of the median interval counts as variable frame rate.
VFR_TOLERANCE = 0.02


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
    stream_note: str | None = None  # which of several video streams is read, when there are several

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
    require_file(path, "video file")
    try:
        return av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise SpectraFrameError(f"cannot open video {path}: {exc}. Is it a complete video file?") from exc


_STILL = av.stream.Disposition.attached_pic | av.stream.Disposition.still_image | \
    av.stream.Disposition.timed_thumbnails


def main_video_stream(container: av.container.InputContainer) -> av.VideoStream:
    """The video stream to upscale: not a cover picture or thumbnail track, then the most frames, then the longest.

    Files may carry a 1-frame cover (an attached picture) or a thumbnail track before the real video;
    taking the first video stream would upscale that and drop the video. Every reader uses this choice.
    Matroska announces no frame count and a cover track there may claim a longer duration than a short clip
    (one frame shown for a second), so frames are counted from the packets when the header does not say.
    """
    streams = list(container.streams.video)
    moving = [s for s in streams if not int(s.disposition) & int(_STILL)] or streams
    if len(moving) == 1:
        return moving[0]
    counts = _frame_counts(container)
    return max(moving, key=lambda s: (counts[s.index], _stream_duration(s) or 0.0, -s.index))


def _frame_counts(container: av.container.InputContainer) -> dict[int, int]:
    """Frames of each video stream: the header's count, or (when a header does not say) the packets counted."""
    streams = container.streams.video
    if all(s.frames for s in streams):
        return {s.index: int(s.frames) for s in streams}
    path = Path(container.name)
    stat = path.stat()
    return dict(_counted_packets(str(path), stat.st_size, stat.st_mtime_ns))


@functools.lru_cache(maxsize=8)
def _counted_packets(path: str, size: int, mtime_ns: int) -> tuple[tuple[int, int], ...]:
    """(stream index, packets) of every video stream, from one demux pass (no decoding); cached by the file's size
    and time, since every reader of a file makes the same choice."""
    counts: dict[int, int] = {}
    try:
        with av.open(path) as container:
            counts = {s.index: 0 for s in container.streams.video}
            for packet in container.demux(*container.streams.video):
                if packet.size:
                    counts[packet.stream.index] += 1
    except av.error.FFmpegError:
        pass  # a broken file: the counts so far choose, and the reader reports the break where it finds it
    return tuple(counts.items())


def _stream_note(container: av.container.InputContainer, stream: av.VideoStream) -> str | None:
    if len(container.streams.video) < 2:
        return None
    counts = _frame_counts(container)

    def described(s: av.VideoStream) -> str:
        frames = f", {counts[s.index]} frame{'s' if counts[s.index] != 1 else ''}"
        return f"#{s.index} ({s.codec_context.width}x{s.codec_context.height}{frames})"

    others = ", ".join(described(s) for s in container.streams.video if s is not stream)
    return (f"the file has {len(container.streams.video)} video streams: the main one, {described(stream)}, is "
            f"read; {others} (cover picture, thumbnails or a shorter stream) is left out")


def probe_video(path: str | Path) -> VideoInfo:
    """Stream facts of a video file. A file without a video stream is an error."""
    path = Path(path)
    with _open(path) as container:
        if not container.streams:
            raise SpectraFrameError(f"{path} contains no stream at all (an empty or zero-frame video file)")
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams})
            raise SpectraFrameError(f"{path} has no video stream (it has: {', '.join(kinds)})")
        stream = main_video_stream(container)
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
            stream_note=_stream_note(container, stream),
        )


# --- scanning: packets only, no decoding ---------------------------------------------------------


@dataclass(frozen=True)
class VideoScan:
    """What one demux pass over the video packets tells (fast: nothing is decoded)."""

    frame_count: int  # packets that carry a frame
    time_base: Fraction
    timestamps_complete: bool  # every packet has a presentation timestamp
    variable_frame_rate: bool
    min_interval: float  # seconds between consecutive frames (sorted presentation times)
    max_interval: float
    notes: tuple[str, ...] = ()  # doubts the user should hear about (e.g. a possibly truncated file)
    repeated_timestamps: int = 0  # frames whose presentation timestamp another frame already has
    min_step: int = 0  # smallest gap between distinct timestamps, in time-base units (0: fewer than two)
    pts: tuple[int, ...] = ()  # the packets' presentation timestamps in display order (sorted)


def scan_video(path: str | Path) -> VideoScan:
    """Count the frames and check the timestamps of the first video stream.

    Raises SpectraFrameError for a video without frames, a file that breaks while demuxing, or one that
    holds fewer frames than its header announces or ends clearly before its stream's duration (a truncated
    download or copy: Matroska and streamed files announce no frame count, only durations).
    """
    path = Path(path)
    info = probe_video(path)
    pts: list[int] = []
    last_end: int | None = None  # latest pts + duration among packets that give a duration
    count = 0
    with _open(path) as container:
        stream = main_video_stream(container)
        time_base = Fraction(stream.time_base) if stream.time_base else Fraction(1, 1)
        stream_duration = _stream_duration(stream)
        container_duration = container.duration / av.time_base if container.duration else None
        try:
            for packet in container.demux(stream):
                if packet.size == 0:  # the flush packet at the end
                    continue
                count += 1
                if packet.pts is not None:
                    pts.append(packet.pts)
                    if packet.duration:
                        last_end = max(last_end or 0, packet.pts + packet.duration)
        except av.error.FFmpegError as exc:
            raise SpectraFrameError(
                f"{path}: the file breaks after {count} video packets ({exc}); it looks truncated or corrupt"
            ) from exc
    if count == 0:
        raise SpectraFrameError(f"{path} has no readable video frame (empty or truncated file)")
    if info.frame_count and count < info.frame_count:
        raise SpectraFrameError(
            f"{path} is truncated: its header announces {info.frame_count} frames but only {count} are in the file"
        )
    unique = np.unique(np.asarray(pts, dtype=np.int64))
    repeated = len(pts) - len(unique)
    min_step = int(np.diff(unique).min()) if len(unique) > 1 else 0
    intervals = np.diff(unique) * float(time_base) if len(pts) > 2 else None
    complete = len(pts) == count
    median = float(np.median(intervals)) if intervals is not None and len(intervals) else 0.0
    notes: tuple[str, ...] = ()
    if pts:
        interval = median or (1 / float(info.fps) if info.fps else 0.0)
        # The span of the frames read, counting the last frame's own interval (durations cover it too), or
        # the packets' own durations when longer (a still frame held for seconds at the end).
        frames_end = float((max(pts) - min(pts)) * time_base) + interval
        if last_end is not None:
            frames_end = max(frames_end, float((last_end - min(pts)) * time_base))
        notes = _check_frames_end(path, frames_end, interval, count, stream_duration, container_duration)
    if intervals is None or len(intervals) == 0:
        return VideoScan(count, time_base, complete, False, 0.0, 0.0, notes, repeated, min_step, tuple(sorted(pts)))
    lo, hi = float(intervals.min()), float(intervals.max())
    variable = median > 0 and (hi - lo) > VFR_TOLERANCE * median
    return VideoScan(count, time_base, complete, bool(variable), lo, hi, notes, repeated, min_step, tuple(sorted(pts)))


def _stream_duration(stream: av.VideoStream) -> float | None:
    """Seconds the video stream lasts by its header, or None: Matroska keeps it in a DURATION tag instead."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    for key, value in (stream.metadata or {}).items():
        if key.upper().startswith("DURATION"):  # 'DURATION' or 'DURATION-eng': '00:00:06.000000000'
            try:
                hours, minutes, seconds = value.split(":")
                return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
            except ValueError:
                return None
    return None


def _check_frames_end(path: Path, frames_end: float, interval: float, count: int, stream_duration: float | None,
                      container_duration: float | None) -> tuple[str, ...]:
    """Fail when the frames stop clearly before the video stream's duration; a note when only the container's is known.

    The container's duration covers every track (an audio track may run longer), so it only gives a warning.
    The slack (half a second, or three frames of a slow video) absorbs rounding and encoder delay.
    """
    slack = max(0.5, 3 * interval)
    if stream_duration is not None and stream_duration > 0:
        if stream_duration - frames_end > slack:
            raise SpectraFrameError(
                f"{path} is truncated: its video frames end at {frames_end:.2f} s ({count} frames) but the video "
                f"stream lasts {stream_duration:.2f} s; re-download or re-copy the file"
            )
        return ()
    if container_duration is not None and container_duration - frames_end > slack:
        return (f"the video frames end at {frames_end:.2f} s but the file lasts {container_duration:.2f} s: it may "
                "be truncated (or another track, such as audio, runs longer)",)
    return ()


# --- decoding ------------------------------------------------------------------------------------


@dataclass
class DecodedFrame:
    index: int
    image: np.ndarray  # (H, W, 3) uint8 RGB
    pts: int | None  # presentation time in `time_base` units, None when the container has none
    time_base: Fraction
    key_frame: bool = False
    decoded_pts: int | None = None  # the decoder's own timestamp, kept when a caller re-times `pts`


def decode_video(path: str | Path, *, warn_conversions: bool = True) -> Iterator[DecodedFrame]:
    """Decode every frame as RGB with its timestamp, one at a time (memory does not grow with the video).

    Grayscale, alpha and more-than-8-bit inputs are converted to 8-bit RGB, with one warning saying so.
    """
    path = Path(path)
    info = probe_video(path)
    note = info.bit_depth_note
    if note and warn_conversions:
        log.warning("%s: %s", path, note)
    decoded = 0
    with _open(path) as container:
        stream = main_video_stream(container)
        stream.thread_type = "AUTO"
        time_base = Fraction(stream.time_base) if stream.time_base else Fraction(1, 1)
        try:
            for frame in container.decode(stream):
                image = frame.to_ndarray(format="rgb24")
                yield DecodedFrame(decoded, image, frame.pts, time_base, frame.key_frame, frame.pts)
                decoded += 1
        except av.error.FFmpegError as exc:
            raise SpectraFrameError(f"{path}: decoding failed after frame {decoded}: {exc}") from exc
    if decoded == 0:
        raise SpectraFrameError(f"{path} has no readable video frame (empty or truncated file)")


def read_video_frames(path: str | Path, start: int = 0, count: int | None = None) -> Iterator[np.ndarray]:
    """Decode frames as (H, W, 3) uint8 RGB, one at a time (memory does not grow with the video).

    `start` skips that many decoded frames; `count` stops after that many. A video that decodes to no
    frame at all, or breaks mid-way, raises SpectraFrameError naming the frame.
    """
    yielded = 0
    for frame in decode_video(path):
        if frame.index < start:
            continue
        if count is not None and yielded >= count:
            return
        yield frame.image
        yielded += 1


@dataclass(frozen=True)
class FrameIndex:
    """Where each decoded frame of a video sits: its count, and (when unique) the timestamp of every frame
    and which frames are key frames, so that `read_video_window` can seek instead of decoding from frame 0."""

    frames: int
    pts: tuple[int, ...] = ()  # empty: timestamps missing or repeated, windows are decoded from frame 0
    keyframes: tuple[int, ...] = ()
    offset: int = 0  # pts[i] is frame offset + i's (a part of the scan: see `seek_index`)


def seek_index(pts: list[int | None], keyframes: list[int], first: int, last: int) -> FrameIndex | None:
    """The part of a scan (every frame's decoder timestamp, the key frames' positions) that `read_video_window`
    needs for frames first..last: from a few key frames before `first` on. None when those timestamps are missing
    or repeated (the window is then decoded from frame 0)."""
    position = bisect.bisect_right(keyframes, first) - 1
    if position < 0:
        return None
    keys = keyframes[max(0, position - SEEK_ATTEMPTS + 1):position + 1]
    part = pts[keys[0]:last + 1]
    if None in part or len(set(part)) != len(part):
        return None
    return FrameIndex(last + 1, tuple(part), tuple(keys), offset=keys[0])  # type: ignore[arg-type]


def index_video(path: str | Path) -> FrameIndex:
    """Scan a video once (decoded, not the container's claim, with no RGB conversion) into a FrameIndex.

    Some files announce more frames than they decode to (the shared tree.avi says 444 and decodes 68): the
    count is what a decode yields. Problems (missing stream, broken file, no frame) raise the reading path's
    SpectraFrameError; a conversion the frames will need is warned once.
    """
    path = Path(path)
    pts: list[int | None] = []
    keyframes: list[int] = []
    try:
        with av.open(str(path)) as container:
            stream = main_video_stream(container)
            stream.thread_type = "AUTO"
            for position, frame in enumerate(container.decode(stream)):
                pts.append(frame.pts)
                if frame.key_frame:
                    keyframes.append(position)
    except (av.error.FFmpegError, OSError, IndexError, ValueError, UnicodeDecodeError):
        return FrameIndex(sum(1 for _ in read_video_frames(path)))  # raises the user-facing error, or counts
    if not pts:
        list(read_video_frames(path))  # raises the user-facing "no readable frame" error
    note = probe_video(path).bit_depth_note
    if note:
        log.warning("%s: %s", path, note)
    if None in pts or len(set(pts)) != len(pts):
        log.warning("%s: frames without unique timestamps; each window is decoded from the start "
                    "(slow for long videos: re-mux it, e.g. to .mkv, to fix)", path)
        return FrameIndex(len(pts))
    return FrameIndex(len(pts), tuple(pts), tuple(keyframes))  # type: ignore[arg-type]


def read_video_window(path: str | Path, first: int, last: int, index: FrameIndex | None = None) -> list[np.ndarray]:
    """Frames first..last (decode order numbering, as `read_video_frames`) as (H, W, 3) uint8 RGB.

    With an `index`, decoding starts at the key frame before `first` when that provably gives the same
    frames; otherwise (or without an index) it decodes from frame 0. Past the end: fewer frames."""
    path = Path(path)
    frames = _seek_window(path, index, first, last) if index is not None else None
    if frames is None:
        frames = list(read_video_frames(path, start=first, count=last - first + 1))
    return frames


# A window whose keyframe cannot be reached by seeking to it falls back to earlier keyframes, this many at most.
SEEK_ATTEMPTS = 3


def _seek_window(path: Path, index: FrameIndex, first: int, last: int) -> list[np.ndarray] | None:
    """Frames first..last of a video decoded from the last keyframe at or before `first`, or None when that
    cannot be done exactly (the caller then decodes from frame 0).

    Frame i is the i-th frame a decode from the start yields; a seek is by timestamp, so each decoded frame is
    identified by its timestamp (unique, from the scan) and the frames must follow in exactly the scanned order
    from the keyframe on. Demuxers that land after the requested keyframe (MPEG-TS seeks by byte estimate) are
    retried from an earlier keyframe; frames before the keyframe (an open GOP's leading pictures) are dropped.
    """
    if not index.pts or not index.keyframes:
        return None
    pts = index.pts
    position = bisect.bisect_right(index.keyframes, first) - 1
    for attempt in range(SEEK_ATTEMPTS):
        if position - attempt < 0:
            break
        key = index.keyframes[position - attempt]
        if key == 0:
            return None  # nothing to skip: the plain decode from the start is the same work
        try:  # positions in `pts`, which starts at frame index.offset
            frames = _decode_from_keyframe(path, pts, key - index.offset, first - index.offset, last - index.offset)
        except (av.error.FFmpegError, OSError) as exc:
            log.debug("%s: seeking to frame %d failed (%s); decoding from the start", path, key, exc)
            return None
        if frames is not None:
            return frames
    return None


def _decode_from_keyframe(path: Path, pts: tuple[int, ...], key: int, first: int, last: int) -> list[np.ndarray] | None:
    with av.open(str(path)) as container:
        stream = main_video_stream(container)
        stream.thread_type = "AUTO"  # as decode_video: threading changes the speed, not the frames
        container.seek(pts[key], backward=True, any_frame=False, stream=stream)
        expected = key
        frames = []
        for frame in container.decode(stream):
            if frame.pts is None:
                return None
            if expected == key:
                if frame.pts < pts[key]:
                    continue  # decoding started at an earlier keyframe, or a leading picture of this one
                if frame.pts != pts[key] or not frame.key_frame:
                    return None  # landed past the keyframe (or on no key frame): not reachable from here
            if frame.pts != pts[expected]:
                return None  # not the scanned order (frames missing or reordered): do not guess
            if expected >= first:
                frames.append(frame.to_ndarray(format="rgb24"))
            if expected == last:
                return frames
            expected += 1
    return None


# --- writing -------------------------------------------------------------------------------------


def output_format(path: str | Path) -> str:
    """The FFmpeg muxer for an output file name, from its extension."""
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise SpectraFrameError(
            f"cannot write a video named {Path(path).name}: use one of {', '.join(OUTPUT_FORMATS)} "
            "(or a folder name without extension for PNG frames)"
        )
    return OUTPUT_FORMATS[suffix]


def resolve_encoder(codec: str) -> str:
    """'h264' -> 'libx264' etc.; an encoder this FFmpeg build lacks is an error that lists what works."""
    name = CODEC_ALIASES.get(codec.lower(), codec)
    try:
        av.codec.Codec(name, "w")
    except Exception as exc:  # PyAV raises UnknownCodecError / ValueError depending on the version
        raise SpectraFrameError(
            f"video codec {codec!r} is not available in this FFmpeg build; try one of "
            f"{', '.join(sorted(set(CODEC_ALIASES) | {'ffv1', 'mpeg4'}))}"
        ) from exc
    return name


def check_encoder(settings: EncoderSettings, format_name: str, output: str | Path) -> None:
    """Open a throwaway encoder for `output`'s container in memory, so that bad settings (a codec the container
    cannot hold, an out-of-range --crf, an unknown --preset) fail before anything is written."""
    suffix = Path(output).suffix or format_name
    if settings.crf is not None and settings.codec in CRF_RANGES:
        low, high = CRF_RANGES[settings.codec]
        if not low <= settings.crf <= high:
            raise SpectraFrameError(
                f"the {settings.codec} encoder refuses the settings crf={settings.crf:g}: its constant quality runs "
                f"from {low} (best) to {high} (smallest); choose a --crf in that range"
            )
    probe = av.open(io.BytesIO(), "w", format=format_name)
    try:
        if settings.codec not in probe.supported_codecs:
            fitting: dict[str, str] = {}  # encoder -> its first friendly name (h264, h265, vp9, ...)
            for alias, name in CODEC_ALIASES.items():
                if name in probe.supported_codecs:
                    fitting.setdefault(name, alias)
            takes = ", ".join(fitting.values()) or "none of ours"
            raise SpectraFrameError(
                f"a {suffix} file ({format_name}) cannot hold {settings.codec} video: choose another output "
                f"extension (.mkv holds every codec) or a --codec it takes ({takes})"
            )
        try:
            stream = add_video_encoder(probe, settings)
            stream.codec_context.open()
        except (av.error.FFmpegError, ValueError, OverflowError) as exc:
            options = ", ".join(f"{key}={value}" for key, value in
                                {**settings.options(), "pix_fmt": settings.pix_fmt}.items())
            reason = getattr(exc, "strerror", None) or str(exc)  # FFmpeg's own words, without the call dump
            raise SpectraFrameError(
                f"the {settings.codec} encoder refuses the settings {options} for {Path(output).name} "
                f"({reason}); check --crf, --preset and --pix-fmt"
            ) from exc
    finally:
        # Nothing was written: closing only frees the encoder.
        with contextlib.suppress(av.error.FFmpegError, ValueError, OSError):
            probe.close()


def _cpu_has_avx512() -> bool:
    import torch  # lazily: only the encoder settings need it

    return torch.backends.cpu.get_cpu_capability().startswith("AVX512")


@dataclass(frozen=True)
class EncoderSettings:
    """Everything that fixes the encoded bitstream, so segments encoded apart are interchangeable."""

    codec: str  # FFmpeg encoder name, e.g. libx264
    width: int
    height: int
    fps: Fraction
    time_base: Fraction
    pix_fmt: str = "yuv420p"
    crf: float | None = 18.0
    preset: str | None = "medium"

    def options(self) -> dict[str, str]:
        opts: dict[str, str] = {}
        if self.crf is not None and self.codec in CRF_ENCODERS:
            opts["crf"] = f"{self.crf:g}"
            if self.codec == "libvpx-vp9":
                opts["b"] = "0"  # constant-quality mode of libvpx needs a zero target bitrate
        if self.preset and self.codec in ("libx264", "libx265"):
            opts["preset"] = self.preset
        if self.codec == "libx265":
            opts["x265-params"] = "log-level=error"
        if self.codec == "libx264" and _cpu_has_avx512():
            # x264's AVX-512 routines do not always give the same bytes for the same frames; capped at AVX2
            # they do, which --resume relies on (benchmarks/x264_repeatability.py measures both).
            opts["x264-params"] = "asm=AVX2"
        return opts

    def to_dict(self) -> dict:
        return {"codec": self.codec, "width": self.width, "height": self.height, "fps": str(self.fps),
                "time_base": str(self.time_base), "pix_fmt": self.pix_fmt, "crf": self.crf, "preset": self.preset}


def add_video_encoder(container: av.container.OutputContainer, settings: EncoderSettings) -> av.VideoStream:
    """A video stream encoding with `settings`; the container's global-header needs are applied by PyAV."""
    codec = av.codec.Codec(settings.codec, "w")
    supported = {f.name for f in codec.video_formats or []}
    if supported and settings.pix_fmt not in supported:
        raise SpectraFrameError(
            f"encoder {settings.codec} cannot write {settings.pix_fmt}; it accepts {', '.join(sorted(supported))}"
        )
    stream = container.add_stream(settings.codec, rate=settings.fps, options=settings.options())
    stream.width = settings.width
    stream.height = settings.height
    stream.pix_fmt = settings.pix_fmt
    stream.codec_context.time_base = settings.time_base
    stream.time_base = settings.time_base
    return stream


def rgb_to_video_frame(image: np.ndarray, pts: int, time_base: Fraction, pix_fmt: str) -> av.VideoFrame:
    """An (H, W, 3) uint8 RGB array as a frame in the encoder's pixel format with its timestamp."""
    frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format=pix_fmt)
    frame.pts = pts
    frame.time_base = time_base
    return frame
