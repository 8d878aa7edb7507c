"""Real video compression of a clip: encoded as one sequence by FFmpeg's libx264 or mpeg4 (through PyAV) and
decoded back, so the artefacts are those of a real stream: GOP structure, motion-compensated blocking, ringing.

The clip goes to the encoder as raw yuv420p frames at a fixed 25 fps (the rate matters to mpeg4's bitrate: bits
per frame = bitrate / 25) with one encoder thread: the bytes, and so the decoded frames, are the same on every
run (x264 is capped at AVX2 on AVX-512 CPUs, as the video writer is: see `spectraframe.io.video.EncoderSettings`).
yuv420p needs an even width and height: an odd frame is padded by repeating its last row / column, and the
padding is cropped off after decoding. PyAV is imported only when a clip is encoded, so everything else in
`spectraframe.degradation` works without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch

from spectraframe.errors import SpectraFrameError
from spectraframe.io.tensors import round_to_uint8

# Encoder name -> the decoder of its stream.
CODEC_DECODERS = {"libx264": "h264", "mpeg4": "mpeg4"}
# The x264 presets (`x264 --help`), fastest first.
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                "placebo")
CODEC_FPS = 25
PIX_FMT = "yuv420p"


@dataclass(frozen=True)
class VideoCompression:
    """One encoder setting: libx264 at a constant quality `crf` (0 best .. 51 smallest) and x264 `preset`, or
    mpeg4 at a target `bitrate` in bits per second."""

    codec: str
    crf: float | None = None
    bitrate: int | None = None
    preset: str = "medium"

    def __post_init__(self) -> None:
        if self.codec not in CODEC_DECODERS:
            raise SpectraFrameError(f"video codec {self.codec!r} is not one of the degradation codecs: "
                                    f"{', '.join(CODEC_DECODERS)}")
        if self.codec == "libx264":
            if self.crf is None or not 0 <= self.crf <= 51:
                raise SpectraFrameError(f"libx264 needs a crf from 0 (best) to 51 (smallest), got {self.crf}")
            if self.preset not in X264_PRESETS:
                raise SpectraFrameError(f"unknown x264 preset {self.preset!r}: choose one of {', '.join(X264_PRESETS)}")
        elif self.bitrate is None or self.bitrate < 1000:
            raise SpectraFrameError(f"mpeg4 needs a bitrate of at least 1000 bits/s (e.g. 200k), got {self.bitrate}")

    def describe(self) -> str:
        if self.codec == "libx264":
            return f"libx264 crf {self.crf:g} preset {self.preset}"
        return f"mpeg4 {self.bitrate} bit/s"


def require_pyav():
    """The `av` module, or an error saying how to get it: only the codec step needs it."""
    try:
        import av
    except ImportError as exc:
        raise SpectraFrameError(
            "the video-codec degradation (h264 / mpeg4) needs PyAV, which is not installed: `pip install av`, or "
            "leave the codec step out (a degradation without h264/mpeg4, or realworld.codec_prob=0 in training)"
        ) from exc
    return av


def _encoder(av, settings: VideoCompression, width: int, height: int):
    context = av.CodecContext.create(settings.codec, "w")
    context.width, context.height = width, height
    context.pix_fmt = PIX_FMT
    context.time_base = Fraction(1, CODEC_FPS)
    context.framerate = Fraction(CODEC_FPS)
    context.thread_count = 1  # one thread: the same bytes on every run, and training workers run in parallel
    if settings.codec == "libx264":
        from spectraframe.io.video import EncoderSettings  # the AVX2 cap that makes x264 repeatable

        context.options = EncoderSettings("libx264", width, height, Fraction(CODEC_FPS), Fraction(1, CODEC_FPS),
                                          pix_fmt=PIX_FMT, crf=settings.crf, preset=settings.preset).options()
    else:
        context.bit_rate = int(settings.bitrate)
    return context


def compress_frames(frames: np.ndarray, settings: VideoCompression) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB frames encoded as one sequence and decoded back: the same shape, uint8."""
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"compress_frames expects (T, H, W, 3) uint8 frames, got {frames.shape} {frames.dtype}")
    av = require_pyav()
    count, height, width = frames.shape[:3]
    even_h, even_w = height + height % 2, width + width % 2
    if (even_h, even_w) != (height, width):
        frames = np.pad(frames, ((0, 0), (0, even_h - height), (0, even_w - width), (0, 0)), mode="edge")
    encoder = _encoder(av, settings, even_w, even_h)
    decoder = av.CodecContext.create(CODEC_DECODERS[settings.codec], "r")
    decoder.thread_count = 1
    decoded: list[np.ndarray] = []

    def decode(packets) -> None:
        for packet in packets:
            decoded.extend(f.to_ndarray(format="rgb24") for f in decoder.decode(packet))

    try:
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24").reformat(format=PIX_FMT)
            frame.pts = index
            decode(encoder.encode(frame))
        decode(encoder.encode(None))
        decoded.extend(f.to_ndarray(format="rgb24") for f in decoder.decode(None))
    except av.error.FFmpegError as exc:
        raise SpectraFrameError(f"{settings.describe()} failed on a {width}x{height} clip of {count} frames: "
                                f"{exc}") from exc
    if len(decoded) != count:
        raise SpectraFrameError(f"{settings.describe()} returned {len(decoded)} frames for a clip of {count}")
    return np.stack(decoded)[:, :height, :width]


def compress_clip(clip: torch.Tensor, settings: VideoCompression) -> torch.Tensor:
    """A (T, 3, H, W) float clip in [0, 1] (rounded to uint8 first, as a real stream is 8-bit) through the codec:
    the decoded clip, float32 on the uint8 grid, on the clip's device."""
    if clip.ndim != 4 or clip.shape[1] != 3:
        raise ValueError(f"compress_clip expects a (T, 3, H, W) clip, got shape {tuple(clip.shape)}")
    frames = round_to_uint8(clip).permute(0, 2, 3, 1).contiguous().numpy()
    decoded = torch.from_numpy(compress_frames(frames, settings)).permute(0, 3, 1, 2)
    return decoded.to(device=clip.device, dtype=torch.float32).div_(255.0)

