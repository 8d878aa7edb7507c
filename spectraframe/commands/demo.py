"""`spectraframe demo`: upscale the sample clip with the shipped weights (what `make demo` runs)."""

from __future__ import annotations

import argparse

from spectraframe.commands import add_model_arguments, add_strength_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="upscale a real sample clip x4 and write a comparison picture")
    p.add_argument("-o", "--out", default="demo_out", help="output folder (default: demo_out)")
    add_model_arguments(p.add_mutually_exclusive_group(), "generator checkpoint")
    add_strength_argument(p)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | mps")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spectraframe.demo import run_demo
    from spectraframe.zoo import check_strength, weights_from_arguments

    check_strength(args.model, args.strength)
    blend = None if args.strength is None else (args.model, args.strength)
    result = run_demo(args.out, weights=weights_from_arguments(args.model, args.weights), device=args.device,
                      blend=blend)
    print(result.video.summary())
    print(f"upscaled video:     {result.video.output}")
    print(f"comparison picture: {result.comparison}  (bicubic | SpectraFrame, detail zoomed below)")
    return 0
