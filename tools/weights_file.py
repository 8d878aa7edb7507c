"""Weights files the training README scores or ships that no run writes: a blend of two fine-tunes of one model, a model
widened to more frames, and a run's file with the provenance a shipped file carries.

Run: `python -m tools.weights_file blend A B S OUT` (every weight S of the way from A to B, ESRGAN's network
interpolation: `checkpoints.interpolate_generators`; `--extrapolate` lets S exceed 1), `python -m
tools.weights_file widen F N OUT` (F as an N-frame model, untrained: `checkpoints.widen_window`). Score OUT with
`spectraframe eval --weights OUT`.
`python -m tools.weights_file annotate F OUT KEY=VALUE... [--gan-recipe NAME]`: F's weights with those
provenance keys set (VALUE is JSON, or else a string), and with --gan-recipe the resolved training config of that
recipe of benchmarks/gpu_run.py (GAN_RECIPES), which the GPU run's exports record only as overrides.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _setting(text: str) -> tuple[str, object]:
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise SystemExit(f"annotate: expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _gan_recipe_config(name: str, provenance: dict) -> dict:
    """The config train_gan_one ran, from what the export recorded: the batch, D's warm-up, the starting weights
    and the device kind (the VGG16 file's path on the GPU machine is left out)."""
    from benchmarks.gpu_run import GAN_RECIPES, gan_config

    if name not in GAN_RECIPES:
        raise SystemExit(f"annotate: --gan-recipe is one of {', '.join(GAN_RECIPES)}, got {name!r}")
    recipe = provenance.get("recipe", {})
    device = "cpu" if provenance.get("trained_on", "cpu") == "cpu" else "cuda"
    return gan_config(name, provenance.get("init_from", "efficient"), recipe.get("batch", 32), device,
                      recipe.get("d_warmup", 200)).to_dict()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    blend = commands.add_parser("blend")
    blend.add_argument("a", type=Path)
    blend.add_argument("b", type=Path)
    blend.add_argument("strength", type=float)
    blend.add_argument("out", type=Path)
    blend.add_argument("--extrapolate", action="store_true", help="allow S > 1: past B, away from A")
    widen = commands.add_parser("widen")
    widen.add_argument("weights", type=Path)
    widen.add_argument("frames", type=int)
    widen.add_argument("out", type=Path)
    annotate = commands.add_parser("annotate")
    annotate.add_argument("weights", type=Path)
    annotate.add_argument("out", type=Path)
    annotate.add_argument("settings", nargs="*", metavar="KEY=VALUE")
    annotate.add_argument("--gan-recipe", help="record this GPU GAN recipe's resolved config as provenance.config")
    args = parser.parse_args(argv)
    from spectraframe.checkpoints import interpolate_generators, load_generator, save_generator, widen_window

    if args.command == "annotate":
        model, metadata = load_generator(args.weights)
        provenance = {**metadata.get("provenance", {}), **dict(_setting(text) for text in args.settings)}
        if args.gan_recipe:
            provenance["config"] = _gan_recipe_config(args.gan_recipe, provenance)
        print(save_generator(args.out, model, flow_method=metadata["flow_method"], provenance=provenance))
        return

    if args.command == "blend":
        a, metadata = load_generator(args.a)
        b, _ = load_generator(args.b)
        model = interpolate_generators(a, b, args.strength, str(args.b), extrapolate=args.extrapolate)
        provenance = {"blend": {"a": str(args.a), "b": str(args.b), "strength": args.strength}}
    else:
        source, metadata = load_generator(args.weights)
        model = widen_window(source, args.frames, str(args.weights))
        provenance = {"widened_from": str(args.weights), "num_frames": args.frames}
    print(save_generator(args.out, model, flow_method=metadata["flow_method"], provenance=provenance))


if __name__ == "__main__":
    main(sys.argv[1:])
