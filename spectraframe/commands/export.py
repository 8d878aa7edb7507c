"""`spectraframe export --onnx`: the generator for ONNX Runtime; `--int8`: its int8 model for OpenVINO."""

from __future__ import annotations

import argparse

from spectraframe.cli_numbers import integer
from spectraframe.commands import add_model_arguments, add_strength_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("export", help="export a generator to ONNX, or quantize it to int8 for OpenVINO")
    add_model_arguments(p.add_mutually_exclusive_group(), "checkpoint to export")
    add_strength_argument(p)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--onnx", help="output .onnx file")
    target.add_argument("--int8", metavar="XML",
                        help="output int8 model (.xml, its .bin beside it) for `upscale --precision int8`; put it "
                             "next to the weights as NAME.int8.xml for NAME.safetensors (see docs/speed.md)")
    p.add_argument("--calibration", metavar="LIST",
                   help="with --int8: a train.txt-style list of training clips to calibrate on")
    p.add_argument("--calibration-clips", type=integer(1), default=32, help="clips to calibrate on (default 32)")
    p.add_argument("--held-out", type=integer(0), default=12,
                   help="clips of the list that training holds out for validation (data.val_holdout of the run, "
                        "default 12): never calibrated on")
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
    weights = weights_from_arguments(args.model, args.weights)
    if args.int8:
        return run_int8(args, weights)
    out = Path(args.onnx)
    check_outputs([Output(out, "file", "--onnx")], [weights], overwrite=args.overwrite)
    model, metadata = selected_generator(weights, None if args.strength is None else (args.model, args.strength))
    export_onnx(model, out, metadata={k: metadata[k] for k in ("flow_method", "scale", "num_frames")})
    difference = max_export_difference(model, out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB); max |onnxruntime - pytorch| = {difference:.2e}")
    if difference > 1e-3:
        raise SpectraFrameError(f"exported model differs from PyTorch by {difference:.2e} (> 1e-3)")
    return 0


def run_int8(args: argparse.Namespace, weights) -> int:
    from pathlib import Path

    from spectraframe.checkpoints import file_digest, load_generator
    from spectraframe.errors import SpectraFrameError
    from spectraframe.int8 import OpenvinoGenerator, mean_psnr, quantize_int8, training_windows
    from spectraframe.paths import Output, check_outputs

    if args.strength is not None:
        raise SpectraFrameError("--int8 quantizes a weights file as it is: leave out --strength (a blend runs in "
                                "bf16/fp32)")
    if not args.calibration:
        raise SpectraFrameError("--int8 needs --calibration LIST: training clips to calibrate on (e.g. "
                                "train_corpus/train.txt)")
    out = Path(args.int8)
    if out.suffix != ".xml":
        raise SpectraFrameError(f"--int8 names an OpenVINO .xml file (the .bin goes beside it), got {out}")
    check_outputs([Output(out, "file", "--int8"), Output(out.with_suffix(".bin"), "file", "--int8 (.bin)")],
                  [weights], overwrite=args.overwrite)
    model, metadata = load_generator(weights)
    config = model.config
    calibration = training_windows(args.calibration, args.calibration_clips, config.num_frames, config.scale,
                                   metadata["flow_method"], held_out=args.held_out)
    provenance = {"weights_sha256": file_digest(weights), "weights_file": weights.name,
                  "flow_method": metadata["flow_method"], "scale": config.scale, "num_frames": config.num_frames,
                  "calibration": {"list": Path(args.calibration).name, "clips": len(calibration),
                                  "held_out": args.held_out, "degradation": "bi"}}
    quantize_int8(model, calibration, out, provenance)
    # How far int8 is from fp32 on the calibration clips (not a validation: a check that nothing broke).
    scores = mean_psnr(model.eval(), calibration)[0], mean_psnr(OpenvinoGenerator(out), calibration)[0]
    print(f"wrote {out}; Y-PSNR on the {len(calibration)} calibration clips: int8 {scores[1]:.3f} dB, fp32 "
          f"{scores[0]:.3f} dB")
    return 0
