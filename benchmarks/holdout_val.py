"""The shipped weights on the 12 training clips the efficient run holds out (`data.val_holdout=12`).

Not val.txt: the clips the efficient weights were chosen on, which the compact weights never were (compact
was picked on val.txt, and trained on the older train.txt, which held 5 of these clips). Y-PSNR / SSIM with the
validation protocol of training (`models.validation.validate`), centre frames and all frames; bicubic beside.

Run: `make bench BENCH=holdout_val` or `python -m benchmarks.holdout_val`; `--weights F ...` scores those files
too (rows named by file), `--frames centre` only the centre frames, `--name N` writes results/N.* instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.common import SHARED, write_result

CORPUS = SHARED / "data" / "train_corpus"
HELD_OUT = 12


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", nargs="*", type=Path, default=[], help="more weights files to score")
    parser.add_argument("--frames", nargs="*", choices=["centre", "all"], default=["centre", "all"])
    parser.add_argument("--name", default="holdout_val", help="result name under benchmarks/results/")
    args = parser.parse_args(argv)
    from spectraframe.checkpoints import load_generator
    from spectraframe.data.eval_datasets import EvalClip
    from spectraframe.data.train_datasets import find_training_clips, split_holdout
    from spectraframe.models.validation import validate
    from spectraframe.upscale.weights import SHIPPED_WEIGHTS, installed, shipped_weights_path

    _, held_out = split_holdout(find_training_clips(CORPUS, "train.txt"), HELD_OUT)
    clips = [EvalClip(name=s.name, frame_paths=list(s.frame_paths)) for s in held_out]
    rows = []
    shipped = [(name, shipped_weights_path(name)) for name in SHIPPED_WEIGHTS
               if name != "perceptual" and installed(name)]
    for name, path in shipped + [(str(path), path) for path in args.weights]:
        model, metadata = load_generator(path)
        for frames in args.frames:
            psnr, ssim, _ = validate(model, clips, scale=4, degradation="bi", flow_method=metadata["flow_method"],
                                     frames=frames)
            rows.append({"method": name, "frames": frames, "psnr_y": psnr, "ssim_y": ssim})
    rows += bicubic_rows(clips, args.frames)
    notes = f"{HELD_OUT} clips of train.txt held out by split_holdout: {', '.join(c.name for c in clips)}."
    write_result(args.name, rows, ["method", "frames", "psnr_y", "ssim_y"], notes)


def bicubic_rows(clips, frame_sets=("centre", "all")) -> list[dict]:
    import numpy as np
    import torch

    from spectraframe.degradation import bicubic_upsample, degrade, modcrop
    from spectraframe.io.tensors import round_to_uint8
    from spectraframe.metrics.psnr_ssim import psnr_ssim

    rows = []
    for frames in frame_sets:
        psnrs, ssims = [], []
        for clip in clips:
            hr = modcrop(torch.from_numpy(clip.read()).permute(0, 3, 1, 2), 4).contiguous()
            lr = degrade(hr.double() / 255, 4, "bi", quantize=True).float()
            scored = [len(hr) // 2] if frames == "centre" else list(clip.scored)
            up = torch.stack([round_to_uint8(bicubic_upsample(lr[t], 4)) for t in scored])
            p, s = psnr_ssim(up, hr[scored])
            psnrs.append(float(p.mean()))
            ssims.append(float(s.mean()))
        rows.append({"method": "bicubic", "frames": frames, "psnr_y": float(np.mean(psnrs)),
                     "ssim_y": float(np.mean(ssims))})
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
