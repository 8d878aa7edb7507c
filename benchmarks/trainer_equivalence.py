"""Issue 34's equivalence check, run once before gpu_run's own loops were deleted: the same recipe, seed and data
through the old `benchmarks.gpu_run.train_one` / `train_gan_one` and through `Trainer` with the resident source.

The old loops schedule over wall time; a clock that advances one "second" per step makes them schedule over steps
(seconds = steps), so both loops see the same learning rate at every step. Per-step losses are recorded from the
losses module (pixel recipe) or GanStep (GAN recipe); both results are scored by the evaluation protocol on the
pack's held-out clips. Needs a pack and gpu_run's prepared cache of it (see the module's --help).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
import types
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch


def _fake_clock(module) -> None:
    calls = itertools.count()
    module.time = types.SimpleNamespace(perf_counter=lambda: max(0, next(calls) - 1), strftime=time.strftime)


def _held_out_psnr(weights: Path, pack: Path) -> float:
    from spectraframe.checkpoints import load_generator
    from spectraframe.data.eval_datasets import MemoryClip
    from spectraframe.data.packed import decode_clip, read_index
    from spectraframe.evaluate import EvalProtocol, EvalReport, generator_clip_method, score_clips

    held = {n for p in pack.glob("*/holdout.txt") for n in p.read_text().split()}
    clips = [MemoryClip(c.name, np.stack(decode_clip(part / c.file, c.frames)))
             for part in sorted(pack.glob("part*")) for c in read_index(part) if c.name in held]
    model = load_generator(weights)[0].eval()
    scores = score_clips(clips, generator_clip_method(model, "dis"), EvalProtocol(4, "bi", frames="all"))
    return EvalReport(scores).mean_of_clip_means()["psnr_y"]


def old_pixel(name: str, cache: Path, pack: Path, out: Path, steps: int, batch: int) -> list[float]:
    import benchmarks.gpu_run as gpu_run
    import spectraframe.losses as losses

    recorded, original = [], losses.pixel_loss

    def recording(sr, hr, kind="mse"):
        value = original(sr, hr, kind)
        recorded.append(float(value.detach()))
        return value

    losses.pixel_loss = recording
    _fake_clock(gpu_run)
    try:
        recipe = replace(gpu_run.RECIPES[name](), batch=batch)
        gpu_run.train_one(recipe, cache, out, seconds=steps, device="cpu", pack_root=pack)
    finally:
        losses.pixel_loss, gpu_run.time = original, time
    return recorded


def new_run(config_name: str, overrides: list[str], run: Path) -> tuple[list[dict], Path]:
    from spectraframe.models.config import load_config
    from spectraframe.models.trainer import Trainer

    result = Trainer(load_config(config_name, overrides), run).fit()
    return result.history, run


def old_gan(cache: Path, pack: Path, out: Path, steps: int, batch: int, d_warmup: int, vgg: Path) -> list[dict]:
    import benchmarks.gpu_run as gpu_run
    from spectraframe.models.gan_step import GanStep

    recorded, original = [], GanStep.__call__

    def recording(self, *args, **kwargs):
        outcome = original(self, *args, **kwargs)
        recorded.append(outcome.values)
        return outcome

    GanStep.__call__ = recording
    _fake_clock(gpu_run)
    try:
        gpu_run.train_gan_one("gan_smooth", cache, out, seconds=steps, device="cpu", pack_root=pack, vgg=vgg,
                              batch=batch, d_warmup=d_warmup, min_steps=steps)
    finally:
        GanStep.__call__, gpu_run.time = original, time
    return recorded


def compare(name: str, old: list[float], new: list[float], old_psnr: float, new_psnr: float) -> dict:
    pairs = list(zip(old, new, strict=True))
    relative = [abs(a - b) / max(abs(a), 1e-12) for a, b in pairs]
    window = max(1, len(pairs) // 10)
    means = [(statistics.mean(old[i:i + window]), statistics.mean(new[i:i + window]))
             for i in range(0, len(pairs), window)]
    return {"recipe": name, "steps": len(pairs), "identical_steps": sum(a == b for a, b in pairs),
            "max_relative_difference": max(relative), "last_step_relative_difference": relative[-1],
            "window_means_old_new": [(round(a, 5), round(b, 5)) for a, b in means],
            "held_out_psnr_old": round(old_psnr, 4), "held_out_psnr_new": round(new_psnr, 4),
            "psnr_difference_db": round(new_psnr - old_psnr, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pack", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True, help="gpu_run prepare's cache of the pack")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--gan-steps", type=int, default=200)
    parser.add_argument("--gan-batch", type=int, default=2)
    parser.add_argument("--vgg", type=Path, required=True, help="gpu_run pack-vgg's file")
    parser.add_argument("--only", choices=["pixel", "gan"])
    parser.add_argument("--pixel-recipes", default="continued,efficient", help="gpu_run RECIPES to compare")
    args = parser.parse_args()
    n, rows = args.steps, []
    common = [f"data.pack={args.pack}", f"data.prepared={args.work / 'prepared'}", "data.source=resident",
              "train.device=cpu", "train.amp=none", "log.tensorboard=false", "log.progress=false", "data.num_workers=2"]
    # The old recipes: from scratch at 1e-3 with a warm-up over 2% of the time; continued from the shipped file at
    # 2e-4 without one.
    starts = {"efficient": ["train.lr=1e-3", "train.lr_warmup=0.02"],
              "continued": ["train.lr=2e-4", "train.lr_warmup=0", "model.init_from=efficient"]}
    for name in args.pixel_recipes.split(",") if args.only != "gan" else []:
        old_losses = old_pixel(name, args.cache, args.pack, args.work / f"old_{name}", n, args.batch)
        history, run = new_run("efficient", [
            *common, *starts[name], f"train.batch_size={args.batch}", f"train.iterations={n}",
            f"train.warmup_iterations={n}", "train.beta2=0.99", "train.channels_last=true",
            f"val.every={max(n // 8, 5)}", f"train.checkpoint_every={n}"], args.work / f"new_{name}")
        rows.append(compare(f"{name} (pixel)", old_losses, [h["pixel"] for h in history],
                            _held_out_psnr(args.work / f"old_{name}" / f"{name}.safetensors", args.pack),
                            _held_out_psnr(run / "best.safetensors", args.pack)))
        print(json.dumps(rows[-1]), flush=True)
    if args.only != "pixel":
        from benchmarks.gpu_run import GAN_RECIPES, init_overrides

        g = args.gan_steps
        old_values = old_gan(args.cache, args.pack, args.work / "old_gan", g, args.gan_batch, 5, args.vgg)
        history, run = new_run("efficient_gan", [
            *common, *GAN_RECIPES["gan_smooth"], *init_overrides("efficient"), f"loss.vgg_weights={args.vgg}",
            f"train.batch_size={args.gan_batch}", "train.d_warmup_iterations=5", f"train.iterations={g}",
            f"val.every={max(g // 12, 5)}", f"train.checkpoint_every={g}", "train.threads=0"], args.work / "new_gan")
        key = lambda v: v.get("loss_g", v.get("loss_d"))  # noqa: E731 - D's loss in its warm-up
        rows.append(compare("gan_smooth (GAN)", [key(v) for v in old_values], [key(v) for v in history],
                            _held_out_psnr(args.work / "old_gan" / "gan_smooth.safetensors", args.pack),
                            _held_out_psnr(run / "generator.safetensors", args.pack)))
        print(json.dumps(rows[-1]), flush=True)
    (args.work / "equivalence.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
