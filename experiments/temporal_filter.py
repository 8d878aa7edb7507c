"""Does a flow-guided temporal filter on the outputs pay (issues 15 and 16)? Measured, not shipped.

The classic post-process of video enhancement (a recursive filter along the motion): each output frame is pulled
towards the previous *filtered* output, warped onto it with the flow between the two,

    out_t = sr_t + weight * confidence * (warp(out_{t-1}) - sr_t),   confidence = exp(-(box_k |difference| / sigma)^2)

where the confidence turns it off where the warp disagrees with the frame (occlusions, flow errors). Two hopes:
less flicker from the GAN's per-frame texture (issue 16: tOF at equal LPIPS) and, under a codec, an average of
compression errors that differ from frame to frame (issue 15: PSNR at CRF 28). The flow is DIS between the two
HR frames, the warp bicubic. On the 12 held-out training clips (`training/perceptual/holdout12.txt`), all
frames, the eval protocol; the network's outputs are computed once per clip and reused by every setting.

Run: `python -m experiments.temporal_filter [--model NAME | --weights F] [--degradation D] [--no-lpips-tof]
[--settings W,SIGMA,K ...] [--name N]`, e.g. `--model real --degradation bi+h264:crf=28 --no-lpips-tof --name
temporal_filter_real_crf28`. Without options it runs the perceptual model with LPIPS and tOF.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

from benchmarks.common import SHARED, write_result

CORPUS = SHARED / "data" / "train_corpus"
HOLDOUT = Path(__file__).resolve().parents[1] / "training" / "perceptual" / "holdout12.txt"
SETTINGS = ["0,1,1", "0.3,0.03,1", "0.3,0.1,1", "0.5,0.03,1"]  # weight, sigma (0-1 scale), box size


def temporal_filter(frames, weight: float, sigma: float, box: int):
    """The recursive filter above on a clip's outputs (T, 3, H, W) in [0, 1]; weight 0 returns them unchanged."""
    import torch
    import torch.nn.functional as F

    from spectraframe.flow import estimate_flow
    from spectraframe.flow.api import warp

    if weight == 0:
        return frames
    filtered = [frames[0]]
    for t in range(1, frames.shape[0]):
        previous, current = filtered[-1][None], frames[t][None]
        flow = estimate_flow(current, previous, method="dis").float()  # warp(previous, flow) ~ current
        warped = warp(previous, flow, mode="bicubic")
        difference = (warped - current).abs().mean(1, keepdim=True)
        if box > 1:
            difference = F.avg_pool2d(F.pad(difference, (box // 2,) * 4, mode="replicate"), box, stride=1)
        confidence = torch.exp(-((difference / sigma) ** 2))
        filtered.append((current + weight * confidence * (warped - current)).clamp(0, 1)[0])
    return torch.stack(filtered)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="perceptual", help="a shipped model's name")
    parser.add_argument("--weights", type=Path, default=None, help="a weights file instead of --model")
    parser.add_argument("--degradation", default="bi", help="the eval protocol's degradation (see spectraframe eval)")
    parser.add_argument("--no-lpips-tof", action="store_true", help="PSNR/SSIM only (fast)")
    parser.add_argument("--settings", nargs="+", default=SETTINGS, help="filter settings WEIGHT,SIGMA,BOX")
    parser.add_argument("--name", default="temporal_filter", help="result name under benchmarks/results/")
    args = parser.parse_args(argv)

    from spectraframe.evaluate import evaluate, generator_method
    from spectraframe.zoo import model_weights_path

    weights = args.weights or model_weights_path(args.model)
    network = generator_method(weights, degradation=args.degradation)
    outputs = {}  # the network's outputs per clip (keyed by its LR frames), shared by the settings

    def filtered_method(weight: float, sigma: float, box: int):
        def sr_clip(lr, targets):
            key = hashlib.sha1(lr.numpy().tobytes()).hexdigest()
            if key not in outputs:
                outputs[key] = network(lr, list(range(lr.shape[0])))
            return temporal_filter(outputs[key], weight, sigma, box)[targets]

        return sr_clip

    scored = not args.no_lpips_tof
    rows = []
    for setting in args.settings:
        weight, sigma, box = (float(v) for v in setting.split(","))
        start = time.perf_counter()
        report = evaluate(CORPUS, list_file=HOLDOUT, method=filtered_method(weight, sigma, int(box)),
                          degradation=args.degradation, lpips=scored, tof=scored, progress=False)
        means = report.mean_of_clip_means()
        row = {"filter": "none" if weight == 0 else f"weight {weight:g}, sigma {sigma:g}, box {int(box)}",
               "psnr_y": f"{means['psnr_y']:.4f}", "ssim_y": f"{means['ssim_y']:.4f}"}
        if scored:
            row |= {"lpips": f"{means['lpips']:.4f}", "tof": f"{means['tof']:.4f}"}
        rows.append(row | {"seconds": round(time.perf_counter() - start, 1)})
    columns = ["filter", "psnr_y", "ssim_y", *(["lpips", "tof"] if scored else []), "seconds"]
    notes = (f"{weights.name} on {HOLDOUT.name} (all frames, mean of clip means), degradation {args.degradation}; "
             "seconds: the evaluation with the filter (the network's outputs computed in the first row's).")
    write_result(args.name, rows, columns, notes)


if __name__ == "__main__":
    main(sys.argv[1:])
