"""Does x264 give the same bytes for the same frames? With and without our AVX2 cap (spectraframe/io/video.py).

`--resume` promises an output byte-identical to an uninterrupted run, which needs a repeatable encoder. The
frames are those of the resume test (tests/upscale): its tiny random model upscales its 11-frame synthetic
clip; the last 3-frame segment, which exposed the problem, is then encoded many times by fresh encoders
with the pipeline's settings, once as-is (capped at AVX2 on AVX-512 CPUs) and once with x264's own CPU
detection. Prints, per variant, how many distinct byte streams came out.
"""

from __future__ import annotations

import hashlib
import io
import sys
import tempfile
from collections import Counter
from pathlib import Path

import av
import numpy as np

from benchmarks.common import write_result
from spectraframe.checkpoints import save_generator
from spectraframe.io.video import EncoderSettings, add_video_encoder, rgb_to_video_frame
from spectraframe.upscale import sinks
from spectraframe.upscale.pipeline import UpscaleOptions, Upscaler

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "upscale"))
from conftest import moving_frames, tiny_model, write_video  # noqa: E402  (the resume test's clip and model)

ENCODES = 200
SEGMENT = (8, 9, 10)


def resume_test_frames(folder: Path) -> tuple[list[np.ndarray], EncoderSettings]:
    """The upscaled frames the resume test encodes in its last segment, and the encoder settings."""
    weights = save_generator(folder / "tiny.safetensors", tiny_model(), flow_method="dis")
    source = write_video(folder / "in.mp4", moving_frames(11), audio_seconds=0.44)
    captured: dict[int, np.ndarray] = {}
    settings: list[EncoderSettings] = []
    original = sinks.SegmentedVideoSink.write

    def capture(sink, index: int, image: np.ndarray, pts: int) -> None:
        captured[index] = image.copy()
        settings[:] = [sink.settings]
        original(sink, index, image, pts)

    sinks.SegmentedVideoSink.write = capture
    try:
        Upscaler(UpscaleOptions(weights=weights, progress=False, segment_frames=4, precision="fp32")).run(
            source, folder / "out.mp4")
    finally:
        sinks.SegmentedVideoSink.write = original
    return [captured[i] for i in SEGMENT], settings[0]


def encode(frames: list[np.ndarray], settings: EncoderSettings, options: dict[str, str]) -> str:
    container = av.open(io.BytesIO(), "w", format="mp4")
    stream = add_video_encoder(container, settings)
    stream.codec_context.options = options
    stream.codec_context.open()
    step = round(1 / (settings.fps * settings.time_base))
    data = []
    for k, image in enumerate(frames):
        data += [bytes(p) for p in stream.encode(rgb_to_video_frame(image, k * step, settings.time_base,
                                                                    settings.pix_fmt))]
    data += [bytes(p) for p in stream.encode(None)]
    return hashlib.md5(b"".join(data)).hexdigest()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="spectraframe-x264-") as folder:
        frames, settings = resume_test_frames(Path(folder))
    capped = settings.options()
    uncapped = {k: v for k, v in capped.items() if k != "x264-params"}
    rows = []
    for label, options in (("as shipped (AVX2 cap on AVX-512 CPUs)", capped),
                           ("x264's own CPU detection", uncapped)):
        outputs = Counter(encode(frames, settings, options) for _ in range(ENCODES))
        rows.append({"variant": label, "x264 options": " ".join(f"{k}={v}" for k, v in options.items()),
                     "encodes": ENCODES, "distinct outputs": len(outputs),
                     "runs unlike the most common": ENCODES - outputs.most_common(1)[0][1]})
        print(rows[-1])
    write_result("x264_repeatability", rows, list(rows[0]),
                 notes=f"The resume test's last segment ({len(frames)} frames of {settings.width}x{settings.height}) "
                       f"encoded {ENCODES} times per variant by fresh libx264 encoders.")


if __name__ == "__main__":
    main()
