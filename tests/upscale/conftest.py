"""Fixtures of the upscale tests: a tiny random generator and short synthetic videos built with PyAV."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch

from spectraframe.archs.rbpn import RBPN, RBPNConfig
from spectraframe.checkpoints import save_generator

TINY = RBPNConfig(scale=2, num_frames=3, base_filter=8, feat=4, num_stages=1, n_resblock=0)


def tiny_model(seed: int = 0, scale: int = 2) -> RBPN:
    """A random tiny RBPN whose outputs sit inside [0, 1] (so clamping does not hide differences)."""
    torch.manual_seed(seed)
    model = RBPN(RBPNConfig.from_dict({**TINY.to_dict(), "scale": scale}))
    with torch.no_grad():
        model.output.conv.weight.mul_(0.05)
        model.output.conv.bias.fill_(0.5)
    return model.eval()


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "tiny_x2.safetensors"
    save_generator(path, tiny_model(), flow_method="dis")
    return path


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
    pts: list[int] | None = None,
    time_base: Fraction | None = None,
) -> Path:
    """Encode RGB frames (and optionally a sine-tone AAC track) with PyAV."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        if time_base is not None:
            video.codec_context.time_base = time_base
        audio = None
        if audio_seconds:
            audio = container.add_stream("aac", rate=16000)
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
            for start in range(0, total, 1024):
                chunk = av.AudioFrame.from_ndarray(tone[:, start:start + 1024], format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts = 16000, start
                container.mux(audio.encode(chunk))
            container.mux(audio.encode(None))
    return path


def read_back(path: Path) -> tuple[list[np.ndarray], list[int], dict]:
    """Decoded frames, their pts, and stream facts of a video file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        facts = {
            "fps": stream.average_rate,
            "audio": [(s.codec_context.name, float(s.duration * s.time_base)) for s in container.streams.audio],
            "time_base": stream.time_base,
        }
        frames, pts = [], []
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24"))
            pts.append(frame.pts)
    return frames, pts, facts
