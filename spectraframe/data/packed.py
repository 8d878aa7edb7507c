"""A training corpus packed small enough to travel: one near-lossless H.264 file per clip, plus an index.

The GPU machine of `benchmarks/gpu_run.py` receives at most 64 MiB with the repository and has no PyAV, so
the clips are encoded here with PyAV (libx264, 4:4:4 chroma so colour edges survive, `tune=psnr`, preset
veryslow) and decoded there with OpenCV's FFmpeg. The packing fidelity (Y-PSNR of the decoded frames against
the originals) is measured at packing time and written into the index; `benchmarks/gpu_run.py pack` reports it.

Layout of a pack folder: `index.json` ({"crf", "clips": [{"name", "file", "frames", "width", "height",
"psnr"}]}) and `NNNN.mkv`, one per clip, frames in temporal order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spectraframe.errors import SpectraFrameError
from spectraframe.io.images import list_frames, read_frames

INDEX = "index.json"
DEFAULT_CRF = 15  # 45 dB Y-PSNR on the corpus, two parts of 21-23 MiB (training/README.md, gpu_h200)


@dataclass(frozen=True)
class PackedClip:
    name: str
    file: str
    frames: int
    width: int
    height: int
    psnr: float


def _y_psnr(decoded: Sequence[np.ndarray], original: Sequence[np.ndarray]) -> float:
    from spectraframe.metrics.psnr_ssim import psnr

    return float(np.mean([psnr(d, o, channel="y") for d, o in zip(decoded, original, strict=True)]))


def encode_clip(frames: Sequence[np.ndarray], path: Path, crf: int = DEFAULT_CRF) -> None:
    """Frames (H,W,3) uint8 RGB -> `path`, libx264 yuv444p at `crf` (tune psnr, preset veryslow)."""
    import av

    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv444p"
        stream.options = {"crf": str(crf), "preset": "veryslow", "tune": "psnr"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def decode_clip(path: str | Path, expected_frames: int | None = None) -> list[np.ndarray]:
    """The RGB uint8 frames of a packed clip, decoded by OpenCV (no PyAV needed)."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise SpectraFrameError(f"OpenCV cannot open the packed clip {path}: is its FFmpeg built with H.264?")
    frames = []
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(np.ascontiguousarray(frame[..., ::-1]))
    finally:
        capture.release()
    if expected_frames is not None and len(frames) != expected_frames:
        raise SpectraFrameError(f"{path}: decoded {len(frames)} frames, the pack's index says {expected_frames}")
    return frames


def pack_clips(root: str | Path, entries: Sequence[str], out: str | Path, *,
               crf: int = DEFAULT_CRF) -> list[PackedClip]:
    """Encode each clip folder `root/entry` into `out` and write the index. `out` must be new or empty."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise SpectraFrameError(f"{out} is not empty: choose a new folder for the pack (nothing is overwritten)")
    out.mkdir(parents=True, exist_ok=True)
    clips = []
    for number, entry in enumerate(entries):
        frames = read_frames(list_frames(Path(root) / entry))
        if len({f.shape for f in frames}) != 1:
            raise SpectraFrameError(f"{Path(root) / entry}: frames of different sizes cannot be packed as one clip")
        file = f"{number:04d}.mkv"
        encode_clip(frames, out / file, crf)
        fidelity = _y_psnr(decode_clip(out / file, len(frames)), frames)
        height, width = frames[0].shape[:2]
        clips.append(PackedClip(entry, file, len(frames), width, height, round(fidelity, 2)))
    (out / INDEX).write_text(json.dumps({"crf": crf, "clips": [c.__dict__ for c in clips]}, indent=1))
    return clips


def read_index(folder: str | Path) -> list[PackedClip]:
    path = Path(folder) / INDEX
    if not path.is_file():
        raise SpectraFrameError(f"{path} not found: {folder} is not a pack written by pack_clips")
    return [PackedClip(**clip) for clip in json.loads(path.read_text())["clips"]]
