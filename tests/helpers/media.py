"""Short synthetic videos for the tests, written and read back with PyAV."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np


def moving_frames(count: int, width: int = 32, height: int = 24, seed: int = 0) -> list[np.ndarray]:
    """A textured pattern drifting one pixel per frame: something for the flow to track."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(height // 4 + 2, (width + count) // 4 + 2, 3), dtype=np.uint8)
    base = cv2.resize(coarse, (width + count, height), interpolation=cv2.INTER_CUBIC)
    return [np.ascontiguousarray(base[:, i:i + width]) for i in range(count)]


def write_video(
    path: Path,
    frames: list[np.ndarray],
    *,
    fps: int = 25,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    audio_seconds: float | None = None,
    audio_codec: str = "aac",
    pts: list[int] | None = None,
    time_base: Fraction | None = None,
) -> Path:
    """Encode RGB frames (and optionally a sine-tone track: AAC, or pcm_s16le) with PyAV."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        if time_base is not None:
            video.codec_context.time_base = time_base
        audio = None
        if audio_seconds:
            audio = container.add_stream(audio_codec, rate=16000)
            audio.layout = "mono"
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            if pts is not None:
                frame.pts, frame.time_base = pts[i], time_base
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if audio is not None:
            total = int(16000 * audio_seconds)
            tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(total) / 16000)).astype(np.float32)[None]
            sample_format = "s16" if audio_codec.startswith("pcm_s16") else "fltp"
            if sample_format == "s16":
                tone = (tone * 32767).astype(np.int16)
            for start in range(0, total, 1024):
                chunk = av.AudioFrame.from_ndarray(tone[:, start:start + 1024], format=sample_format, layout="mono")
                chunk.sample_rate, chunk.pts = 16000, start
                container.mux(audio.encode(chunk))
            container.mux(audio.encode(None))
    return path


def add_subtitles(video: Path, out: Path, cues: list[tuple[float, float, str]]) -> Path:
    """`video` with an SRT subtitle track of `cues` (start s, end s, text) added, remuxed into `out` (.mkv)."""
    def stamp(seconds: float) -> str:
        millis = round(seconds * 1000)
        return f"{millis // 3600000:02d}:{millis // 60000 % 60:02d}:{millis // 1000 % 60:02d},{millis % 1000:03d}"

    srt = out.with_suffix(".srt")
    srt.write_text("".join(f"{i + 1}\n{stamp(a)} --> {stamp(b)}\n{text}\n\n" for i, (a, b, text) in enumerate(cues)))
    with av.open(str(video)) as source, av.open(str(srt)) as subtitles, av.open(str(out), "w") as container:
        streams = [(source, source.streams.video[0]), (subtitles, subtitles.streams.subtitles[0])]
        # Every stream before the first packet: the header is written with the first one.
        targets = [container.add_stream_from_template(stream) for _, stream in streams]
        for (holder, stream), target in zip(streams, targets, strict=True):
            for packet in holder.demux(stream):
                if packet.size:
                    packet.stream = target
                    container.mux(packet)
    srt.unlink()
    return out


def subtitle_texts(path: Path) -> list[bytes]:
    """The payloads of the first subtitle track of a file ([] when it has none)."""
    with av.open(str(path)) as container:
        if not container.streams.subtitles:
            return []
        return [bytes(p) for p in container.demux(container.streams.subtitles[0]) if p.size]


def read_back(path: Path) -> tuple[list[np.ndarray], list[int], dict]:
    """Decoded frames, their pts, and stream facts of a video file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        facts = {
            "fps": stream.average_rate,
            "audio": [(s.codec_context.name, float(s.duration * s.time_base) if s.duration else None)
                      for s in container.streams.audio],  # Matroska keeps no stream duration: None
            "time_base": stream.time_base,
        }
        frames, pts = [], []
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24"))
            pts.append(frame.pts)
    return frames, pts, facts
