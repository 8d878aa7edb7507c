"""`spectraframe export --onnx`: the generator for ONNX Runtime."""

from __future__ import annotations

import argparse

from spectraframe.commands import add_model_arguments, add_strength_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("export", help="export a generator to ONNX")
    add_model_arguments(p.add_mutually_exclusive_group(), "checkpoint to export")
    add_strength_argument(p)
    p.add_argument("--onnx", required=True, help="output .onnx file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from spectraframe.errors import SpectraFrameError
    from spectraframe.export import export_onnx, max_export_difference
    from spectraframe.paths import Output, check_outputs
    from spectraframe.upscale.weights import selected_generator
    from spectraframe.zoo import check_strength, weights_from_arguments

    check_strength(args.model, args.strength)
    out = Path(args.onnx)
    weights = weights_from_arguments(args.model, args.weights)
    check_outputs([Output(out, "file", "--onnx")], [weights], overwrite=args.overwrite)
    model, metadata = selected_generator(weights, None if args.strength is None else (args.model, args.strength))
    export_onnx(model, out, metadata={k: metadata[k] for k in ("flow_method", "scale", "num_frames")})
    difference = max_export_difference(model, out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB); max |onnxruntime - pytorch| = {difference:.2e}")
    if difference > 1e-3:
        raise SpectraFrameError(f"exported model differs from PyTorch by {difference:.2e} (> 1e-3)")
    return 0
