"""Weights files the training README scores that no run writes: a blend of two fine-tunes of one model, and a
model widened to more frames.

Run: `python -m benchmarks.weights_file blend A B S OUT` (every weight S of the way from A to B, ESRGAN's network
interpolation: `checkpoints.interpolate_generators`), `python -m benchmarks.weights_file widen F N OUT` (F as an
N-frame model, untrained: `checkpoints.widen_window`). Score OUT with `spectraframe eval --weights OUT`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    blend = commands.add_parser("blend")
    blend.add_argument("a", type=Path)
    blend.add_argument("b", type=Path)
    blend.add_argument("strength", type=float)
    blend.add_argument("out", type=Path)
    widen = commands.add_parser("widen")
    widen.add_argument("weights", type=Path)
    widen.add_argument("frames", type=int)
    widen.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    from spectraframe.checkpoints import interpolate_generators, load_generator, save_generator, widen_window

    if args.command == "blend":
        a, metadata = load_generator(args.a)
        b, _ = load_generator(args.b)
        model = interpolate_generators(a, b, args.strength, str(args.b))
        provenance = {"blend": {"a": str(args.a), "b": str(args.b), "strength": args.strength}}
    else:
        source, metadata = load_generator(args.weights)
        model = widen_window(source, args.frames, str(args.weights))
        provenance = {"widened_from": str(args.weights), "num_frames": args.frames}
    print(save_generator(args.out, model, flow_method=metadata["flow_method"], provenance=provenance))


if __name__ == "__main__":
    main(sys.argv[1:])
