"""Training step time of the efficient preset, plain against over-parameterised (`model.overparameterise`), one run.

The same step as `train_precision` (forward, Charbonnier, backward, Adam on random inputs of the efficient recipe's
shape), for the plain network, with expand-squeeze branches of expansion 2 whose kernels are recomputed at every
use (the DBPN and output convolutions are read once per neighbour), and with them computed once per forward
(`parametrize.cached`, what the trainer and `benchmarks/gpu_run.py` do). fp32 on the CPU (one thread, as the CPU
training runs), bf16 autocast on CUDA (as the GPU run).

Run: `make bench BENCH=train_overparameterised` or `python -m benchmarks.train_overparameterised [--device cuda
--batch 256]`.
"""

from __future__ import annotations

import argparse
import sys

import torch

from benchmarks.common import alternate, write_result
from benchmarks.train_precision import BATCH, PATCH, step_for

VARIANTS = {"plain": {}, "branches x2": {"overparameterise": 2},
            "branches x2, cached": {"overparameterise": 2, "cached": True}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=BATCH)
    args = parser.parse_args(argv if argv is not None else [])
    cuda = args.device != "cpu"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        steps = {name: step_for("efficient", cuda, device=args.device, batch=args.batch, **options)
                 for name, options in VARIANTS.items()}
        seconds = alternate(steps, repeats=args.repeats)
    finally:
        torch.set_num_threads(threads)
    rows = [{"variant": name, "s_per_step": value, "vs_plain": value / seconds["plain"]}
            for name, value in seconds.items()]
    where = torch.cuda.get_device_name(args.device) + ", bf16 autocast" if cuda else "CPU, one thread, fp32"
    notes = (f"One generator step of the efficient preset, batch {args.batch} of {PATCH}x{PATCH} LR patches, x4, "
             f"{where}, variants alternated, median of {args.repeats}.")
    name = "train_overparameterised" + ("_cuda" if cuda else "")
    write_result(name, rows, ["variant", "s_per_step", "vs_plain"], notes)


if __name__ == "__main__":
    main(sys.argv[1:])
