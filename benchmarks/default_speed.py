"""The shipped default against the previous default: seconds per output frame, flow included, one run.

What `upscale` spends per 180x144 -> 720x576 frame (the issue's yardstick), for every shipped weights file
and any given with --weights: the flows from the target to its neighbours with the method the weights were
trained with, then the fast inference path (`prepare_for_inference`, precision auto, channels-last).
The variants alternate (`benchmarks.common.alternate`, median of --repeats), so the ratio to the baseline
(`spectraframe_compact_x4.safetensors`, the default until the efficient preset replaced it) holds on a
loaded machine. Run with 2 threads and with 1 (`upscale` uses every thread it is given).

Run: `make bench BENCH=default_speed` or `python -m benchmarks.default_speed [--repeats 5] [--weights F ...]`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from benchmarks.common import SHARED, alternate, write_result
from spectraframe.zoo import load_zoo

CORPUS = SHARED / "data" / "train_corpus"
WEIGHTS = Path(__file__).resolve().parents[1] / "spectraframe" / "weights"
BASELINE = load_zoo().get("compact").file  # the default until the efficient preset
LR_SIZE = (144, 180)  # (height, width): 720x576 output at x4
TIMING_CLIP = "davis2016_val/car-shadow_00"


def lr_window(num_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Real frames of a val clip shrunk to 180x144 and rounded to uint8 levels: target (3,h,w), neighbours."""
    from benchmarks.speed import clip_window, load_frames
    from spectraframe.degradation import imresize

    frames = load_frames(clip_window(TIMING_CLIP, num_frames))
    lr = imresize(frames, size=LR_SIZE).clamp(0, 1).mul(255).round().div(255)
    return lr[0], lr[1:]


def variants_for(path: Path) -> tuple[dict, dict]:
    """Timed callables for one weights file (total, network, flow) and what describes it."""
    from spectraframe.accelerate import auto_precision, prepare_for_inference
    from spectraframe.archs.rbpn import count_parameters, generator_flops
    from spectraframe.checkpoints import load_generator
    from spectraframe.flow import estimate_flow

    model, metadata = load_generator(path)
    method = metadata.get("flow_method", "coarse2fine")
    config = model.config
    fast = prepare_for_inference(model, "cpu", auto_precision(torch.device("cpu")))
    target, neighbours = lr_window(config.num_frames)
    flows = estimate_flow(target, neighbours, method=method)[None]

    def network() -> None:
        fast(target[None], neighbours[None], flows)

    def flow() -> None:
        estimate_flow(target, neighbours, method=method)

    def total() -> None:
        fast(target[None], neighbours[None], estimate_flow(target, neighbours, method=method)[None])

    info = {"frames": config.num_frames, "layout": config.layout, "params": count_parameters(model),
            "gflop": generator_flops(config, *LR_SIZE) / 1e9, "flow_method": method,
            "precision": fast.describe()}
    return {"total": total, "network": network, "flow": flow}, info


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", default="2,1", help="torch thread counts to measure, comma-separated")
    parser.add_argument("--weights", action="append", default=[], help="more generator files to time")
    args = parser.parse_args(argv if argv is not None else [])
    # perceptual and real are the default's network: the same time
    paths = [WEIGHTS / load_zoo().get(name).file for name in ("default", "compact")]
    paths += [Path(p) for p in args.weights]
    timed, infos = {}, {}
    for path in paths:
        label = path.name if path.parent == WEIGHTS else str(path)
        parts, infos[label] = variants_for(path)
        for part, fn in parts.items():
            timed[(label, part)] = fn
    rows = []
    threads_before = torch.get_num_threads()
    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        load = os.getloadavg()[0]
        seconds = alternate({f"{k[0]}|{k[1]}": fn for k, fn in timed.items()}, repeats=args.repeats)
        baseline = seconds[f"{BASELINE}|total"]
        for label, info in infos.items():
            total = seconds[f"{label}|total"]
            rows.append({"weights": label, "threads": threads, **info,
                         "total_s": total, "network_s": seconds[f"{label}|network"],
                         "flow_s": seconds[f"{label}|flow"], "frames_per_s": 1 / total,
                         "total_vs_baseline": total / baseline, "load_at_start": load})
    torch.set_num_threads(threads_before)
    notes = (f"Seconds per 180x144 -> 720x576 output frame on real frames ({TIMING_CLIP}); total = flow from "
             "the target to its neighbours (the weights' own method) + the fast inference path (precision auto: "
             "bf16 where the CPU multiplies bf16 natively, else fp32; channels-last). Every file and part "
             f"alternates in one run, median of {args.repeats}; total_vs_baseline = total / total of {BASELINE} "
             "at the same thread count.")
    columns = ["weights", "threads", "frames", "layout", "params", "gflop", "flow_method", "precision", "total_s",
               "network_s", "flow_s", "frames_per_s", "total_vs_baseline", "load_at_start"]
    write_result("default_speed", rows, columns, notes)


if __name__ == "__main__":
    main(sys.argv[1:])
