"""`spectraframe models`: the shipped models from the zoo, one line each on when to use them, their val.txt figures
and whether they are installed."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("models", help="list the shipped models (--model NAME) and when to use each")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spectraframe.zoo import blendable_models, installed, load_zoo

    zoo = load_zoo()
    width = max(len(name) for name in zoo.names())
    print("Shipped models (upscale, eval, demo and export take --model NAME; --weights FILE for any other checkpoint):")
    for model in zoo.models:
        state = model.file if installed(model.name) else f"{model.file}, not installed"
        figures = model.metrics.get("val", {})
        score = f" {figures['psnr_y']:.2f} dB on val.txt;" if "psnr_y" in figures else ""
        aliases = f" (also: {', '.join(model.aliases)})" if model.aliases else ""
        print(f"  {model.name:<{width}}  {model.use_for};{score} [{state}]{aliases}")
    fine_tunes = " and ".join(f"--model {name}" for name in blendable_models())
    print(f"With {fine_tunes}, --strength S (0 to 1) on upscale, eval, demo and export blends that model with the "
          f"{zoo.default_model} one (0: {zoo.default_model}, 1: the model). Details: docs/models.md.")
    return 0
