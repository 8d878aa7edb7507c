"""`spectraframe train`: train the SpectraFrame GAN from a config (file or preset), or resume a run."""

from __future__ import annotations

import argparse

from spectraframe.cli_numbers import integer


def _presets() -> str:
    from spectraframe.models.run_presets import preset_names

    return ", ".join(preset_names())


def register(subparsers: argparse._SubParsersAction) -> None:
    presets = _presets()
    # Overrides may also come between and after the options: cli.main hands them to `overrides`.
    p = subparsers.add_parser(
        "train",
        help="train RBPN + discriminator from a YAML config or preset (resumable, torchrun-ready)",
        description=f"Train from a config file or a preset ({presets}) with overrides such as "
        "train.lr=2e-4 data.root=clips/, before or after the options. Under torchrun, each process trains "
        "one DDP rank.",
    )
    p.add_argument("--config", help=f"YAML file or preset name ({presets}); not needed with --resume")
    p.add_argument("overrides", nargs="*", metavar="section.key=value", help="config overrides, e.g. train.lr=2e-4")
    p.add_argument("--out", help="run folder (default: runs/<config>-<date-time>)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from RUN_DIR/checkpoints/last.pt")
    p.add_argument("--max-steps", type=integer(1), help="stop after this step (checkpoint written; resume later)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import os
    import time
    from pathlib import Path

    from spectraframe.errors import SpectraFrameError

    # The options' combinations are checked before torch loads: a mistake answers at once.
    if args.resume:
        if args.out and Path(args.out).resolve() != Path(args.resume).resolve():
            raise SpectraFrameError("--resume continues in its own folder: leave out --out")
        if args.config:
            raise SpectraFrameError("--resume reads RUN_DIR/config.yaml: leave out --config (overrides are allowed)")
    elif not args.config:
        raise SpectraFrameError(f"give --config FILE|PRESET (presets: {_presets()}), or --resume RUN_DIR")
    from spectraframe.models.config import load_config
    from spectraframe.models.trainer import CHECKPOINT, load_run_config, train

    if args.resume:
        run_dir = Path(args.resume)
        config = load_run_config(run_dir, args.overrides)
    else:
        config = load_config(args.config, args.overrides)
        name = Path(args.config).stem
        run_dir = Path(args.out) if args.out else Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        if (run_dir / CHECKPOINT).is_file():
            raise SpectraFrameError(f"{run_dir} already holds a run: continue it with --resume {run_dir}, "
                                    "or choose another --out")
    origin = {"command": command_line(args), "config": args.config, "overrides": list(args.overrides)}
    result = train(config, run_dir, resume=bool(args.resume), max_steps=args.max_steps, origin=origin)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # under torchrun, rank 0 reports
    state = "finished" if result.finished else "stopped"
    best = f", best validation Y-PSNR {result.best_psnr:.3f} dB" if result.best_psnr is not None else ""
    print(f"{state} at step {result.step}/{result.total_steps}{best}; run folder: {run_dir}")
    return 0


def command_line(args: argparse.Namespace) -> str:
    """The command as a user would type it again (what the weights' provenance records)."""
    import shlex

    parts = ["spectraframe", "train"]
    for flag, value in (("--config", args.config), ("--resume", args.resume), ("--out", args.out),
                        ("--max-steps", args.max_steps)):
        if value is not None:
            parts += [flag, str(value)]
    return shlex.join([*parts, *args.overrides])
