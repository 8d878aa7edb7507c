"""The pictures of the perceptual weights: bicubic | default | perceptual | ground truth, with zoomed crops.

`make compare` runs it: the centre frame of each chosen val.txt clip is degraded with the evaluation protocol
(x4 MATLAB bicubic, rounded to uint8), super-resolved by each weights file, and drawn with
`spectraframe.comparison.comparison_image` (the zoomed crop is the most detailed region of the ground truth).
One PNG per clip, `docs/perceptual_<clip>.png` (or in --out-dir); an existing picture is replaced only with
--overwrite.

    python docs/compare_perceptual.py [--perceptual FILE] [--default FILE] [--clips NAME ...] [--out-dir DIR]
                                      [--overwrite]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from spectraframe.comparison import comparison_image
from spectraframe.data.eval_datasets import load_eval_clips
from spectraframe.errors import SpectraFrameError
from spectraframe.evaluate import EvalProtocol, generator_method, score_clips
from spectraframe.io.images import write_image
from spectraframe.paths import Output, check_outputs
from spectraframe.zoo import resolve_weights

DOCS = Path(__file__).resolve().parent
CORPUS = DOCS.parents[1] / "shared" / "data" / "train_corpus"
# Texture a GAN should restore (water and feathers, foliage, a face and clothes), and motion.
CLIPS = ("davis2016_val/blackswan_01", "davis2016_val/parkour_01", "sam2/coffee_01")


def centre_panels(clip, weights: Path) -> list[tuple[str, np.ndarray]]:
    """[(bicubic), (output), (ground truth)] of the clip's centre frame, (H, W, 3) uint8 each."""
    panels: list = []

    def keep(_clip, _t: int, frame_panels) -> None:
        panels.extend((label, image.permute(1, 2, 0).numpy()) for label, image in frame_panels)

    score_clips([clip], generator_method(weights, degradation="bi"), EvalProtocol(4, "bi", frames="centre"),
                on_frame=keep)
    return panels


def picture_path(folder: Path, clip_name: str) -> Path:
    return folder / f"perceptual_{clip_name.replace('/', '_')}.png"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--perceptual", default="perceptual", help="perceptual weights (file or shipped name)")
    parser.add_argument("--default", default="efficient", help="pixel-loss weights (file or shipped name)")
    parser.add_argument("--data", default=str(CORPUS), help="corpus holding val.txt")
    parser.add_argument("--clips", nargs="+", default=list(CLIPS), help="val.txt clips to draw")
    parser.add_argument("--out-dir", default=str(DOCS), help="folder of the pictures (default: docs/)")
    parser.add_argument("--overwrite", action="store_true", help="replace pictures this command wrote before")
    args = parser.parse_args(argv)
    data = Path(args.data)
    clips = {clip.name: clip for clip in load_eval_clips(data, data / "val.txt")}
    missing = [name for name in args.clips if name not in clips]
    if missing:
        raise SpectraFrameError(f"clips {', '.join(missing)} are not in {data / 'val.txt'}; choose from "
                                f"{', '.join(clips)}")
    weights = {"default": resolve_weights(args.default), "perceptual": resolve_weights(args.perceptual)}
    outputs = [Output(picture_path(Path(args.out_dir), name), "file", "picture") for name in args.clips]
    check_outputs(outputs, [data, *weights.values()], overwrite=args.overwrite)
    for name, output in zip(args.clips, outputs, strict=True):
        bicubic, default, truth = centre_panels(clips[name], weights["default"])
        _, perceptual, _ = centre_panels(clips[name], weights["perceptual"])
        picture = comparison_image([bicubic, ("default", default[1]), ("perceptual", perceptual[1]), truth])
        write_image(output.path, picture)
        print(f"wrote {output.path}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SpectraFrameError as exc:
        sys.exit(f"error: {exc}")
