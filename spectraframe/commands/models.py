"""`spectraframe models`: the shipped models, one line each on when to use them, and whether they are installed."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("models", help="list the shipped models (--model NAME) and when to use each")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spectraframe.upscale.weights import BLENDABLE_MODELS, MODELS, SHIPPED_WEIGHTS, installed

    width = max(len(name) for name in MODELS)
    print("Shipped models (upscale, eval and demo take --model NAME; --weights FILE for any other checkpoint):")
    for name, (weights_name, when) in MODELS.items():
        filename = SHIPPED_WEIGHTS[weights_name][0]
        state = filename if installed(weights_name) else f"{filename}, not installed yet"
        print(f"  {name:<{width}}  {when} [{state}]")
    fine_tunes = " and ".join(f"--model {name}" for name in BLENDABLE_MODELS)
    print(f"With {fine_tunes}, --strength S (0 to 1) on upscale, eval, demo and export blends that model with the "
          "default (0: the default, 1: the model).")
    return 0
