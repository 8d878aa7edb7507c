"""`spectraframe info`: what a preset or a weights file is, and what it costs."""

from __future__ import annotations

import argparse

from spectraframe.cli_numbers import integer
from spectraframe.commands import add_model_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("info", help="architecture, parameter count and GFLOP per frame of a model")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--preset", default="paper", help="architecture preset (default: paper)")
    add_model_arguments(source, "a checkpoint (our .safetensors or a published .pth)")
    p.add_argument("--scale", type=int, choices=(2, 4, 8), help="override the preset's scale")
    p.add_argument("--frames", type=integer(1, 99), help="override the preset's frame count (target + neighbours)")
    p.add_argument("--lr-size", default="112x64", help="LR frame size WxH for the FLOP count (default 112x64)")
    p.add_argument("--provenance", action="store_true",
                   help="with a weights file: print its whole training record (config, data) as JSON")
    p.set_defaults(func=run)


def parse_size(text: str) -> tuple[int, int]:
    """'WxH' -> (width, height)."""
    from spectraframe.errors import SpectraFrameError

    try:
        width, height = (integer(1, 65536).parse(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise SpectraFrameError(f"--lr-size must look like 112x64 (width x height, each from 1 to 65536), got "
                                f"{text!r}") from exc
    return width, height


# The lines of a weights file's training record that say what it is; --provenance prints all of it.
PROVENANCE_SUMMARY = (("lineage", "lineage"), ("trained_on", "trained on"), ("iterations", "iterations"),
                      ("samples", "samples"), ("wall_time_s", "wall time s"), ("val_psnr", "val PSNR"),
                      ("command", "command"))


def run(args: argparse.Namespace) -> int:
    import json

    from spectraframe.archs.rbpn import PRESETS, RBPN, RBPNConfig, count_parameters, generator_flops
    from spectraframe.errors import SpectraFrameError

    metadata: dict = {}
    if args.provenance and not (args.weights or args.model):
        raise SpectraFrameError("--provenance needs --model NAME or --weights FILE: a preset has no training record")
    if args.weights or args.model:
        from spectraframe.checkpoints import load_generator
        from spectraframe.zoo import weights_from_arguments

        if args.scale is not None or args.frames is not None:
            raise SpectraFrameError("--scale and --frames change a preset; a weights file's architecture is fixed")
        model, metadata = load_generator(weights_from_arguments(args.model, args.weights))
        config = model.config
        title = f"model {args.model}" if args.model else f"weights {args.weights}"
    else:
        if args.preset not in PRESETS:
            raise SpectraFrameError(f"unknown preset {args.preset!r}; choose one of {', '.join(PRESETS)}")
        overrides = {k: v for k, v in (("scale", args.scale), ("num_frames", args.frames)) if v is not None}
        config = RBPNConfig.from_dict({**PRESETS[args.preset].to_dict(), **overrides})
        model = RBPN(config)
        title = f"preset {args.preset}"
    width, height = parse_size(args.lr_size)
    flops = generator_flops(config, height, width)
    print(f"SpectraFrame RBPN generator — {title}")
    for key, value in config.to_dict().items():
        print(f"  {key:<12} {value}")
    print(f"  parameters   {count_parameters(model):,}")
    print(f"  LR {width}x{height} -> HR {width * config.scale}x{height * config.scale}: "
          f"{flops / 1e9:,.1f} GFLOP per output frame (inference) "
          f"({flops / (width * height) / 1e6:.1f} MFLOP per LR pixel)")
    if metadata:
        print(f"  flow method  {metadata.get('flow_method')}")
        provenance = metadata.get("provenance", {})
        for key, label in PROVENANCE_SUMMARY:
            if key in provenance:
                print(f"  {label:<12} {provenance[key]}")
        if args.provenance:
            print(f"  provenance   {json.dumps(provenance)}")
        elif provenance:
            print("  (--provenance prints the whole training record: config, data)")
    return 0
