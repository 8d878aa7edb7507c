"""Weights files the training README scores or ships that no run writes: a blend of two fine-tunes of one model, a model
widened to more frames, and a run's file with the provenance a shipped file carries.

Run: `python -m tools.weights_file blend A B S OUT` (every weight S of the way from A to B, ESRGAN's network
interpolation: `checkpoints.interpolate_generators`; `--extrapolate` lets S exceed 1), `python -m
tools.weights_file widen F N OUT` (F as an N-frame model, untrained: `checkpoints.widen_window`). Score OUT with
`spectraframe eval --weights OUT`.
`python -m tools.weights_file annotate F OUT KEY=VALUE... [--config NAME [--override KEY=VALUE]...]`: F's
weights with those provenance keys set (VALUE is JSON, or else a string), and with --config the recipe that makes
the file (`provenance.recipe`: a config of spectraframe/configs/ and its overrides, checked to resolve), its
`spectraframe train` command, and, where F records no resolved config, that recipe's.
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


def _recipe(name: str, overrides: list[str], provenance: dict) -> dict:
    """The provenance keys of the recipe `name` + `overrides` (resolved here, so a typo fails now)."""
    import shlex

    from spectraframe.models.config import load_config

    config = load_config(name, overrides)
    command = shlex.join(["spectraframe", "train", "--config", name, "--out", f"runs/{name}", *overrides])
    return {"recipe": {"config": name, "overrides": overrides}, "reproduce": command,
            "config": provenance.get("config") or config.to_dict()}


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
    annotate.add_argument("--config", help="record the recipe: a config name of spectraframe/configs/")
    annotate.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                          help="with --config: one of the recipe's overrides (repeat)")
    args = parser.parse_args(argv)
    from spectraframe.checkpoints import interpolate_generators, load_generator, save_generator, widen_window

    if args.command == "annotate":
        model, metadata = load_generator(args.weights)
        provenance = {**metadata.get("provenance", {}), **dict(_setting(text) for text in args.settings)}
        if args.config:
            provenance.update(_recipe(args.config, args.override, provenance))
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
