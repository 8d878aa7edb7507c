"""What the default gets from its neighbouring frames, and from the flow it reads them with (issue 12).

On the 12 training clips the runs hold out (`training/perceptual/holdout12.txt`, all frames, the eval protocol):
the shipped default with the flow it was trained with, with the two other flow engines in its place (no
retraining), and with each neighbour replaced by a copy of the target frame, i.e. the input a single-image
model sees. The flow rows tell whether a better (or cheaper) flow is a lever; the copies row what the
multi-frame branch adds.

Run: `python -m experiments.neighbours [--model NAME | --weights F] [--degradation D
--name N]` (e.g. `--model real --degradation bi+h264:crf=28 --name neighbours_real_crf28`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from benchmarks.common import SHARED, write_result

CORPUS = SHARED / "data" / "train_corpus"
HOLDOUT = Path(__file__).resolve().parents[1] / "training" / "perceptual" / "holdout12.txt"


def _four_places(means: dict[str, float]) -> dict[str, str]:
    # The flow rows differ in the third decimal: the shared table format (4 significant digits) would hide it.
    return {"psnr_y": f"{means['psnr_y']:.4f}", "ssim_y": f"{means['ssim_y']:.4f}"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="default", help="a shipped model's name")
    parser.add_argument("--weights", type=Path, default=None, help="a weights file instead of --model")
    parser.add_argument("--degradation", default="bi", help="the eval protocol's degradation (see spectraframe eval)")
    parser.add_argument("--name", default="neighbours", help="result name under benchmarks/results/")
    args = parser.parse_args(argv)
    import torch

    from spectraframe.checkpoints import load_generator
    from spectraframe.evaluate import evaluate, generator_clip_method
    from spectraframe.flow.api import METHODS
    from spectraframe.zoo import model_weights_path

    weights = args.weights or model_weights_path(args.model)
    model, metadata = load_generator(weights)
    trained_with = metadata["flow_method"]
    width = model.config.num_frames

    trained = generator_clip_method(model, trained_with)

    def copies_of_target(lr: torch.Tensor, targets: list[int]) -> torch.Tensor:
        return torch.cat([trained(lr[t:t + 1].expand(width, -1, -1, -1).contiguous(), [width // 2])
                          for t in targets])

    variants = [(f"{trained_with} (trained with)", trained)]
    variants += [(flow, generator_clip_method(model, flow)) for flow in sorted(METHODS) if flow != trained_with]
    variants.append(("neighbours = copies of the target", copies_of_target))
    rows = []
    for name, method in variants:
        start = time.perf_counter()
        report = evaluate(CORPUS, list_file=HOLDOUT, method=method, degradation=args.degradation, progress=False)
        means = report.mean_of_clip_means()
        rows.append({"input": name, **_four_places(means), "seconds": round(time.perf_counter() - start, 1)})
    bicubic = evaluate(CORPUS, list_file=HOLDOUT, degradation=args.degradation, progress=False).mean_of_clip_means()
    rows.append({"input": "bicubic", **_four_places(bicubic), "seconds": ""})
    notes = (f"{weights.name}, {width} frames, on {HOLDOUT.name} (all frames, mean of clip means), degradation "
             f"{args.degradation}; seconds: the whole evaluation with the flows, one process.")
    write_result(args.name, rows, ["input", "psnr_y", "ssim_y", "seconds"], notes)


if __name__ == "__main__":
    main(sys.argv[1:])
