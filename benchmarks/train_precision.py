"""Training step time of the efficient and compact presets, fp32 against bf16 autocast, one run.

One generator step (forward, Charbonnier loss, backward, Adam) on random inputs of the efficient recipe's
shape (batch 8, 48x48 LR patches, x4), one torch thread (as the CPU training runs), variants alternated
(`benchmarks.common.alternate`, median of --repeats). On CPUs without native bf16 autocast emulates it.

Run: `make bench BENCH=train_precision` or `python -m benchmarks.train_precision`.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext

import torch

from benchmarks.common import alternate, write_result

BATCH, PATCH = 8, 48


def step_for(preset: str, bf16: bool, *, overparameterise: int = 0, cached: bool = False, device: str = "cpu",
             batch: int = BATCH):
    """One training step's closure. overparameterise: the branches' expansion (0: plain); cached: compute each
    branch's kernel once per forward (`parametrize.cached`, as the trainer does) rather than at every use."""
    from torch.nn.utils import parametrize

    from spectraframe.archs.overparameterise import overparameterise as add_branches
    from spectraframe.archs.rbpn import PRESETS, RBPN
    from spectraframe.losses import pixel_loss

    torch.manual_seed(0)
    config = PRESETS[preset]
    model = RBPN(config)
    if overparameterise:
        add_branches(model, overparameterise)
    model = model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    n, s = config.num_frames - 1, config.scale
    target, neighbours = torch.rand(batch, 3, PATCH, PATCH), torch.rand(batch, n, 3, PATCH, PATCH)
    flows, hr = torch.randn(batch, n, 2, PATCH, PATCH), torch.rand(batch, 3, PATCH * s, PATCH * s)
    target, neighbours, flows, hr = (t.to(device) for t in (target, neighbours, flows, hr))
    caching = parametrize.cached if cached else nullcontext

    def step() -> None:
        with torch.autocast(torch.device(device).type, torch.bfloat16, enabled=bf16), caching():
            out = model(target, neighbours, flows)
        loss = pixel_loss(out.float(), hr, "charbonnier")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if device != "cpu":
            torch.cuda.synchronize(device)

    return step


def main(argv: list[str] | None = None) -> None:
    from spectraframe.accelerate import cpu_has_fast_bf16

    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv if argv is not None else [])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        variants = {f"{preset} {name}": step_for(preset, name == "bf16")
                    for preset in ("efficient", "compact") for name in ("fp32", "bf16")}
        seconds = alternate(variants, repeats=args.repeats)
    finally:
        torch.set_num_threads(threads)
    rows = [{"variant": k, "s_per_step": v, "vs_fp32": v / seconds[k.rsplit(" ", 1)[0] + " fp32"]}
            for k, v in seconds.items()]
    notes = (f"One generator step, batch {BATCH} of {PATCH}x{PATCH} LR patches, x4, one torch thread, variants "
             f"alternated, median of {args.repeats}. Native bf16 on this CPU: {cpu_has_fast_bf16()}.")
    write_result("train_precision", rows, ["variant", "s_per_step", "vs_fp32"], notes)


if __name__ == "__main__":
    main(sys.argv[1:])
