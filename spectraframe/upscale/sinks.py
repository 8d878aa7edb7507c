"""Outputs of the upscale pipeline, written so that interrupted runs resume and failed runs leave nothing.

Everything goes to a work folder next to the output (`.NAME.spectraframe-work/`) and only a finished run
puts the result under the final name (one rename).

Video: frames are encoded in segments of N frames, each by a fresh encoder with the same settings, and
each segment's packets (bytes + timestamps, exactly as the encoder produced them) are stored in their
own file, renamed into place when the segment is complete. A resumed run re-encodes only the segments
that are missing; since an encoder's output depends only on its settings and frames, the packets are
bit-identical to an uninterrupted run's. At the end the packets of all segments are muxed, interleaved
with the input's audio and subtitle packets (copied untouched, or audio re-encoded when the container
cannot hold its codec), into the final file.

Frame folders: one PNG per frame, each written under a temporary name and renamed, so a resumed run
continues after the last complete file.

Before any of this, `check_output` refuses outputs whose replacement would destroy the input or a folder
the user lives in (or a folder we did not make: frames outputs carry `spectraframe.paths.MARKER`), and
`output_lock` keeps two runs from sharing one work folder. An existing output is
never deleted before its replacement is complete: it is moved aside, the new one renamed into place, and
only then is the old one deleted (`install_output`).
"""

from __future__ import annotations

import contextlib
import heapq
import io
import json
import logging
import os
import shutil
import struct
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from spectraframe.errors import SpectraFrameError
from spectraframe.io.video import EncoderSettings, add_video_encoder, rgb_to_video_frame
from spectraframe.paths import Output, atomic_write, check_outputs, hidden_sibling, install_output, mark_ours
from spectraframe.upscale.provenance import muxer_options

try:
    import fcntl
except ImportError:  # Windows: no flock; concurrent runs on one output are then not detected
    fcntl = None

log = logging.getLogger(__name__)

STATE_FILE = "state.json"
_RECORD = struct.Struct("<qqqBI")  # pts, dts, duration, keyframe, size
_NONE = -(2**63)  # stands for a missing timestamp


def work_dir_for(output: Path) -> Path:
    return hidden_sibling(output, "spectraframe-work")


def lock_path_for(output: Path) -> Path:
    return hidden_sibling(output, "spectraframe-lock")


# --- where the output may go ---------------------------------------------------------------------


def check_output(output: Path, source: Path, *, video: bool, overwrite: bool, weights: Path | None = None) -> None:
    """Refuse an output location whose replacement could destroy something that is not a previous output.

    Called before anything is written; the rule every command follows (`spectraframe.paths.check_outputs`):
    never the input (or the weights), a folder holding it, the current or home folder or a filesystem root;
    an existing output only with --overwrite, and then only of the kind this run writes: a file for a video
    output, a folder holding our marker (a previous frames output) for a frames output.
    """
    check_outputs([Output(output, "file" if video else "folder")], [source, weights], overwrite=overwrite)


@contextlib.contextmanager
def output_lock(output: Path) -> Iterator[None]:
    """Hold an exclusive lock on writing `output` (a hidden sibling lock file, removed at the end).

    Taken before the work folder is looked at: a second run on the same output fails at once instead of
    deleting or appending to the first run's segments.
    """
    if fcntl is None:
        yield
        return
    path = lock_path_for(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = _lock(path, output)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)  # while still holding the lock: no other run is between lock and check
        if handle is not None:
            handle.close()


def _lock(path: Path, output: Path):
    """The open, locked lock file; None when the filesystem cannot lock (the run then goes unguarded)."""
    while True:
        handle = open(path, "a")  # noqa: SIM115 (held until the run ends)
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise SpectraFrameError(f"another spectraframe run is writing {output}; wait for it to finish or "
                                    "choose another -o") from None
        except OSError as exc:  # a filesystem without flock (some network mounts)
            handle.close()
            log.warning("cannot lock %s (%s): concurrent runs on this output are not detected", path, exc)
            return None
        # The previous holder removes the file when it ends: if it did so between our open and our lock, we
        # hold a lock on a deleted file that the next run will not see. Lock the file now at that name.
        with contextlib.suppress(FileNotFoundError):
            if os.path.samestat(os.fstat(handle.fileno()), os.stat(path)):
                return handle
        handle.close()


class OutputSink(ABC):
    """Base: the work folder, its job description (for --resume) and the final rename."""

    def __init__(self, output: Path, job: dict, *, resume: bool, overwrite: bool):
        self.output = output
        self.work = work_dir_for(output)
        if output.exists() and not overwrite:
            raise SpectraFrameError(f"{output} already exists; pass --overwrite to replace it")
        if self.work.exists():
            if resume:
                self._check_job(job)
            elif overwrite:
                shutil.rmtree(self.work)
            else:
                raise SpectraFrameError(
                    f"an interrupted run left {self.work}; pass --resume to continue it or --overwrite to start over"
                )
        self.work.mkdir(parents=True, exist_ok=True)
        state_path = self.work / STATE_FILE
        if not state_path.exists():
            _write_json(state_path, {"job": job})
        self.state = json.loads(state_path.read_text())

    def _check_job(self, job: dict) -> None:
        state_path = self.work / STATE_FILE
        try:
            previous = json.loads(state_path.read_text())["job"]
        except (OSError, ValueError, KeyError) as exc:
            raise SpectraFrameError(
                f"cannot resume: {state_path} is unreadable ({exc}); pass --overwrite to start over"
            ) from exc
        for key in sorted((set(job) | set(previous)) - DESCRIPTIVE_KEYS):
            if job.get(key) != previous.get(key):
                raise SpectraFrameError(
                    f"cannot resume {self.output}: {describe_change(key, previous, job)}; use the same settings, "
                    "or --overwrite to start over"
                )

    def save_state(self) -> None:
        _write_json(self.work / STATE_FILE, self.state)

    # --- what each kind of output implements ---

    resume_from: int = 0  # frames already done by an interrupted run

    @abstractmethod
    def write(self, index: int, image: np.ndarray, pts: int) -> None:
        """Frame `index` (H x W x 3 uint8, presentation time `pts`), in order from `resume_from`."""

    @abstractmethod
    def finish(self) -> list[str]:
        """Put the finished output in place; returns notes for the user."""

    @abstractmethod
    def finished_any(self) -> bool:
        """Whether the work folder holds finished work (a frame or a segment) that --resume could reuse."""

    def abort(self) -> None:  # noqa: B027 (a no-op unless the output holds something open)
        """Release what an unfinished output holds open (an encoder); the work folder stays for --resume."""

    def discard(self) -> None:
        """Remove the work folder (the input is broken: nothing worth resuming)."""
        shutil.rmtree(self.work, ignore_errors=True)


# Entries of a job that only name another entry in words (the model, for the weights' hash): not compared, so a run
# interrupted by a version that did not write them still resumes.
DESCRIPTIVE_KEYS = {"model"}
# What each entry of a job (`Upscaler._job`) is, in words, with the option that sets it.
JOB_WORDS = {
    "input": "the input", "input_size": "the input's size", "input_mtime_ns": "the input's modification time",
    "weights_sha256": "the model (--model / --weights / --strength)",
    "flow_method": "the flow method (--flow-method)", "precision": "the precision (--precision)",
    "backend": "the backend (--backend)", "device": "the device (--device)",
    "tile": "the tile size (--tile / --max-memory)", "tile_overlap": "the tile overlap (--tile-overlap)",
    "ensemble": "the self-ensemble (--ensemble)", "scene_detect": "scene detection (--no-scene-detect)",
    "segment_frames": "the segment length (--segment-frames)", "fps": "the frame rate (--fps)",
    "size": "the output size (--height / --outscale)", "trim": "the section (--start / --duration)",
    "encoder": "the encoder settings",
}
ENCODER_WORDS = {"codec": "the codec (--codec)", "crf": "the quality (--crf)", "preset": "the preset (--preset)",
                 "pix_fmt": "the pixel format (--pix-fmt)"}


def describe_change(key: str, previous: dict, job: dict) -> str:
    """`the quality (--crf) was 18 in the interrupted run and is 30 now`: one changed entry of a job, in words
    (the model by its file or blend, not its hash)."""
    before, after = previous.get(key), job.get(key)
    what = JOB_WORDS.get(key, key)
    if key == "weights_sha256" and previous.get("model") and job.get("model"):
        before, after = previous["model"], job["model"]
    elif key == "input_mtime_ns" or key == "input_size":
        return f"{what} changed since the interrupted run (the file was modified)"
    elif key == "encoder" and isinstance(before, dict) and isinstance(after, dict):
        changed = next((k for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)), None)
        if changed is not None:
            what, before, after = ENCODER_WORDS.get(changed, f"the encoder's {changed}"), before.get(changed), \
                after.get(changed)
    return f"{what} was {_spoken(before)} in the interrupted run and is {_spoken(after)} now"


def _spoken(value) -> str:
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "x".join(str(v) for v in value)
    return str(value)


def _write_json(path: Path, data: dict) -> None:
    text = json.dumps(data, indent=1, sort_keys=True)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


# --- PNG folders ---------------------------------------------------------------------------------


class FrameFolderSink(OutputSink):
    def __init__(self, output: Path, job: dict, names: list[str], *, resume: bool, overwrite: bool):
        super().__init__(output, job, resume=resume, overwrite=overwrite)
        mark_ours(self.work, "upscale")  # installed with the frames: what lets a later --overwrite replace them
        self.names = names
        done = 0
        while done < len(names) and (self.work / f"{names[done]}.png").is_file():
            done += 1
        self.resume_from = done

    def write(self, index: int, image: np.ndarray, pts: int) -> None:
        from PIL import Image

        final = self.work / f"{self.names[index]}.png"
        atomic_write(final, lambda tmp: Image.fromarray(image).save(tmp, format="PNG"), durable=False)

    def finished_any(self) -> bool:
        return any(self.work.glob("*.png"))

    def finish(self) -> list[str]:
        (self.work / STATE_FILE).unlink(missing_ok=True)
        try:
            install_output(self.work, self.output)
        except BaseException:
            self.save_state()  # the frames stay in the work folder: keep it resumable
            raise
        return []


# --- video files ---------------------------------------------------------------------------------


class SegmentEncoder:
    """The packets of one segment: a fresh encoder with the run's settings, its packets stored (bytes and
    timestamps, exactly as the encoder produced them) in `partial`, renamed to `path` once complete.

    An encoder's output depends only on its settings and frames, so a segment encoded by another process (a
    resumed run, a cluster worker) is bit-identical to the one an uninterrupted run would have stored.
    """

    def __init__(self, path: Path, settings: EncoderSettings, format_name: str, partial: Path | None = None):
        # A container of the final format that never receives a packet: it gives the encoder exactly
        # the flags (global header or not) the final file will need.
        self._container = av.open(io.BytesIO(), "w", format=format_name)
        self._stream = add_video_encoder(self._container, settings)
        self._stream.codec_context.open()
        self.extradata = (self._stream.codec_context.extradata or b"").hex()
        self.settings = settings
        self.path = path
        self.partial = partial or path.with_suffix(".partial")
        self._file = open(self.partial, "wb")  # noqa: SIM115 (closed by close() or abort())

    def write(self, image: np.ndarray, pts: int) -> None:
        frame = rgb_to_video_frame(image, pts, self.settings.time_base, self.settings.pix_fmt)
        self._store(self._stream.encode(frame))

    def _store(self, packets) -> None:
        for packet in packets:
            data = bytes(packet)
            pts = _NONE if packet.pts is None else packet.pts
            dts = _NONE if packet.dts is None else packet.dts
            self._file.write(_RECORD.pack(pts, dts, packet.duration or 0, int(packet.is_keyframe), len(data)))
            self._file.write(data)

    def close(self) -> None:
        """Flush the encoder and put the complete segment under its final name (on failure: `abort`)."""
        try:
            self._store(self._stream.encode(None))
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
        except BaseException:
            self.abort()
            raise
        os.replace(self.partial, self.path)
        _close_quietly(self._container)

    def abort(self) -> None:
        """Drop the unfinished segment (its finished siblings stay for --resume)."""
        with contextlib.suppress(OSError):  # a full disk fails the flush on close too: the file goes anyway
            self._file.close()
        self.partial.unlink(missing_ok=True)
        _close_quietly(self._container)


class SegmentedVideoSink(OutputSink):
    def __init__(
        self,
        output: Path,
        job: dict,
        *,
        format_name: str,
        settings: EncoderSettings,
        frame_count: int,
        segment_frames: int,
        source: Path | None,
        resume: bool,
        overwrite: bool,
        section: tuple[float, float | None] | None = None,
        tags: dict[str, str] | None = None,
    ):
        super().__init__(output, job, resume=resume, overwrite=overwrite)
        self.section = section  # the input's (start, end) seconds whose audio and subtitles go with the frames
        self.tags = tags or {}
        self.format_name = format_name
        self.settings = settings
        self.frame_count = frame_count
        self.segment_frames = segment_frames
        self.source = source
        segments = 0
        while self.segment_path(segments).is_file():
            segments += 1
        self.resume_from = min(frame_count, segments * segment_frames)
        self._encoder: SegmentEncoder | None = None
        self._segment = -1

    @property
    def segment_count(self) -> int:
        return -(-self.frame_count // self.segment_frames)

    def segment_path(self, segment: int) -> Path:
        return self.work / f"segment_{segment:06d}.packets"

    def segment_frames_of(self, segment: int) -> range:
        """The frame indices segment `segment` holds."""
        return range(segment * self.segment_frames, min(self.frame_count, (segment + 1) * self.segment_frames))

    def missing_segments(self) -> list[int]:
        """The segments not finished yet, in any order a previous run left them (a cluster run finishes them
        out of order)."""
        return [k for k in range(self.segment_count) if not self.segment_path(k).is_file()]

    def finished_any(self) -> bool:
        return any(self.work.glob("segment_*.packets"))

    def check_extradata(self, extradata: str) -> None:
        """Every segment must come from an encoder with the same headers: the first one's are kept in the state."""
        if self.state.setdefault("extradata", extradata) != extradata:
            raise SpectraFrameError("the video encoder produced different headers for two segments; cannot resume")
        self.save_state()

    def write(self, index: int, image: np.ndarray, pts: int) -> None:
        segment = index // self.segment_frames
        if segment != self._segment:
            self._close_segment()
            self._encoder = SegmentEncoder(self.segment_path(segment), self.settings, self.format_name)
            self._segment = segment
            self.check_extradata(self._encoder.extradata)
        self._encoder.write(image, pts)
        if index + 1 == self.segment_frames_of(segment).stop:
            self._close_segment()

    def _close_segment(self) -> None:
        if self._encoder is not None:
            encoder, self._encoder = self._encoder, None
            encoder.close()

    def abort(self) -> None:
        """Drop the unfinished segment (called on interruption; finished segments stay for --resume)."""
        if self._encoder is not None:
            encoder, self._encoder = self._encoder, None
            encoder.abort()

    def _segment_records(self, with_data: bool) -> Iterator[tuple[int, int, int, int, bytes | None]]:
        for segment in range(self.segment_count):
            with open(self.segment_path(segment), "rb") as handle:
                while header := handle.read(_RECORD.size):
                    pts, dts, duration, keyframe, size = _RECORD.unpack(header)
                    if with_data:
                        data = handle.read(size)
                    else:
                        handle.seek(size, os.SEEK_CUR)
                        data = None
                    yield pts, dts, duration, keyframe, data

    def _decode_timestamps(self) -> list[int]:
        """Decode timestamps for the concatenated segments, one consistent scheme for the whole stream.

        Each encoder chose its own reordering delay (x264 uses none for a segment too short for B-frames),
        so its DTS do not join up with the next segment's. We use the scheme x264 uses within a segment,
        over the whole stream: dts[k] = k-th smallest pts, delayed by the largest reordering depth D.
        """
        order = [pts for pts, *_ in self._segment_records(with_data=False)]
        if any(p == _NONE for p in order):
            raise SpectraFrameError("the video encoder produced packets without timestamps")
        ranked = sorted(order)
        rank = {p: r for r, p in enumerate(ranked)}
        delay = max(0, max(k - rank[p] for k, p in enumerate(order)))
        step = ranked[1] - ranked[0] if len(ranked) > 1 else 1
        return [ranked[k - delay] if k >= delay else ranked[0] - (delay - k) * step for k in range(len(order))]

    def _video_packets(self, stream: av.VideoStream) -> Iterator[tuple[float, int, av.Packet]]:
        time_base = self.settings.time_base
        decode_times = self._decode_timestamps()
        records = self._segment_records(with_data=True)
        for dts, (pts, _, duration, keyframe, data) in zip(decode_times, records, strict=True):
            packet = av.Packet(data)
            packet.pts = pts
            packet.dts = dts
            packet.duration = duration
            packet.time_base = time_base
            packet.is_keyframe = bool(keyframe)
            packet.stream = stream
            yield float(dts * time_base), 0, packet

    def finish(self) -> list[str]:
        """Mux all segments (and the input's audio/subtitles) into the final file, then rename it into place."""
        self._close_segment()
        partial = self.work / f"final{self.output.suffix}"
        try:
            notes = _mux(partial, self.format_name, self.settings, self._video_packets,
                         _Companions(self.source, self.section), bytes.fromhex(self.state.get("extradata", "")),
                         self.tags)
            install_output(partial, self.output)
        except BaseException:
            partial.unlink(missing_ok=True)  # a half file would only fill the disk; the segments stay for --resume
            raise
        shutil.rmtree(self.work, ignore_errors=True)
        return notes


def _close_quietly(container: av.container.OutputContainer) -> None:
    # A container that never got a packet has nothing of value to write.
    with contextlib.suppress(av.error.FFmpegError, ValueError, OSError):
        container.close()


@dataclass(frozen=True)
class _Companions:
    """The input whose audio and subtitles go into the output, and the section of it the frames came from."""

    source: Path | None
    section: tuple[float, float | None] | None = None

    def keeps(self, seconds: float) -> bool:
        start, end = self.section or (0.0, None)
        return seconds >= start - 1e-6 and (end is None or seconds < end - 1e-6)

    @property
    def shift(self) -> float:
        """Seconds to take off a kept packet's time: the section starts at 0 in the output, like its frames."""
        return self.section[0] if self.section else 0.0


def _add_companion_streams(out, source_container, format_name: str, copied: dict, reencoded: dict) -> list[str]:
    """Output streams for the input's audio and subtitles (copied, audio re-encoded where the container needs);
    returns notes on what was converted or dropped."""
    notes: list[str] = []
    accepted = set(out.supported_codecs)
    for stream in (*source_container.streams.audio, *source_container.streams.subtitles):
        name = stream.codec_context.name
        if name in accepted:
            copied[stream.index] = out.add_stream_from_template(stream)
        elif stream.type == "audio":
            codec = out.default_audio_codec
            target = out.add_stream(codec, rate=stream.rate)
            target.layout = stream.layout
            resampler = av.AudioResampler(format=target.codec_context.format or "fltp",
                                          layout=stream.layout, rate=stream.rate)
            reencoded[stream.index] = (target, resampler)
            notes.append(f"audio stream {stream.index} ({name}) cannot go into {format_name}: re-encoded as {codec}")
        else:
            notes.append(f"subtitle stream {stream.index} ({name}) cannot go into {format_name}: dropped "
                         "(use .mkv to keep it)")
    skipped = [s for s in source_container.streams if s.type not in ("video", "audio", "subtitle")]
    if skipped:
        notes.append(f"{len(skipped)} data/attachment stream(s) of the input are not copied")
    return notes


def _mux(path: Path, format_name: str, settings: EncoderSettings, video_packets, companions: _Companions,
         extradata: bytes, tags: dict[str, str]) -> list[str]:
    notes: list[str] = []
    out = av.open(str(path), "w", format=format_name, options=muxer_options(format_name))
    try:
        out.metadata.update(tags)
        video = add_video_encoder(out, settings)
        source = companions.source
        source_container = av.open(str(source)) if source is not None else None
        copied: dict[int, av.stream.Stream] = {}
        reencoded: dict[int, tuple[av.stream.Stream, av.AudioResampler]] = {}
        if source_container is not None:
            notes += _add_companion_streams(out, source_container, format_name, copied, reencoded)
        try:
            out.start_encoding()
        except av.error.FFmpegError as exc:
            raise SpectraFrameError(f"cannot write {format_name} with these streams: {exc}") from exc
        if extradata and (video.codec_context.extradata or b"") != extradata:
            raise SpectraFrameError("the encoder headers of the final file differ from the segments'")
        streams = [s for s in (source_container.streams if source_container else [])
                   if s.index in copied or s.index in reencoded]
        others = (_other_packets(source_container, streams, copied, reencoded, companions) if streams
                  else iter(()))
        for _, _, packet in heapq.merge(video_packets(video), others, key=lambda item: (item[0], item[1])):
            out.mux(packet)
        for target, _ in reencoded.values():
            out.mux(target.encode(None))
        if source_container is not None:
            source_container.close()
        out.close()  # writes the trailer: fails like any write on a full disk
    except BaseException:
        _close_quietly(out)
        path.unlink(missing_ok=True)
        raise
    return notes


def _other_packets(container, streams, copied, reencoded, companions: _Companions,
                   ) -> Iterator[tuple[float, int, av.Packet]]:
    """Audio/subtitle packets of the input in file order (those of the section, moved to start with it), copied
    or re-encoded, keyed by their time."""
    for packet in container.demux(streams):
        when = packet.dts if packet.dts is not None else packet.pts
        index = packet.stream.index
        if index in copied:
            if when is None or packet.size == 0:
                continue
            start = packet.pts if packet.pts is not None else when
            if not companions.keeps(float(start * packet.time_base)):
                continue
            shift = round(companions.shift / packet.time_base)
            packet.pts = None if packet.pts is None else packet.pts - shift
            packet.dts = None if packet.dts is None else packet.dts - shift
            packet.stream = copied[index]
            yield float((when - shift) * packet.time_base), 1, packet
        else:
            yield from _reencoded_packets(packet, *reencoded[index], companions)


def _reencoded_packets(packet, target, resampler, companions: _Companions) -> Iterator[tuple[float, int, av.Packet]]:
    for frame in packet.decode():
        if frame.pts is not None and frame.time_base:
            if not companions.keeps(float(frame.pts * frame.time_base)):
                continue
            frame.pts -= round(companions.shift / frame.time_base)
        for resampled in resampler.resample(frame):
            for encoded in target.encode(resampled):
                stamp = encoded.dts if encoded.dts is not None else encoded.pts or 0
                yield float(stamp * (encoded.time_base or Fraction(1, target.rate))), 1, encoded
