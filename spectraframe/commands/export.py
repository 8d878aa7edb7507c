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
                   help="with --int8 of float weights: a train.txt-style list of training clips to calibrate on "
                        "(weights trained with model.quantize=int8 carry their ranges and need none)")
    p.add_argument("--calibration-clips", type=integer(1),
                   help="clips to calibrate on, spread over the list (default 96: spectraframe.int8.CALIBRATION_CLIPS)")
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

    from spectraframe.archs.rbpn_int8 import QuantizedRBPN
    from spectraframe.checkpoints import load_generator
    from spectraframe.errors import SpectraFrameError
    from spectraframe.paths import Output, check_outputs

    if args.strength is not None:
        raise SpectraFrameError("--int8 quantizes a weights file as it is: leave out --strength (a blend runs in "
                                "bf16/fp32)")
    out = Path(args.int8)
    if out.suffix != ".xml":
        raise SpectraFrameError(f"--int8 names an OpenVINO .xml file (the .bin goes beside it), got {out}")
    check_outputs([Output(out, "file", "--int8"), Output(out.with_suffix(".bin"), "file", "--int8 (.bin)")],
                  [weights], overwrite=args.overwrite)
    model, metadata = load_generator(weights)
    if isinstance(model, QuantizedRBPN):
        return write_trained(args, weights, model, metadata, out)
    if not args.calibration:
        raise SpectraFrameError(f"--int8 needs --calibration LIST to quantize {weights.name} (float weights): "
                                "training clips to calibrate on, e.g. train_corpus/train.txt; weights trained "
                                "with model.quantize=int8 need none")
    return quantize_after_training(args, weights, model, metadata, out)


def describe(weights, model, metadata: dict) -> dict:
    from spectraframe.checkpoints import file_digest

    return {"weights_sha256": file_digest(weights), "weights_file": weights.name,
            "flow_method": metadata["flow_method"], "scale": model.config.scale,
            "num_frames": model.config.num_frames}


def quantize_after_training(args: argparse.Namespace, weights, model, metadata: dict, out) -> int:
    """Post-training quantization of float weights, calibrated on whole frames of training clips."""
    from pathlib import Path

    from spectraframe.int8 import (
        CALIBRATION_CLIPS,
        OpenvinoGenerator,
        calibrated_int8,
        mean_psnr,
        training_windows,
        write_int8,
    )

    config = model.config
    calibration = training_windows(args.calibration, args.calibration_clips or CALIBRATION_CLIPS, config.num_frames,
                                   config.scale, metadata["flow_method"], held_out=args.held_out)
    provenance = {**describe(weights, model, metadata),
                  "calibration": {"list": Path(args.calibration).name, "clips": len(calibration),
                                  "held_out": args.held_out, "degradation": "bi"}}
    write_int8(calibrated_int8(model, calibration), out, provenance)
    # How far int8 is from fp32 on the calibration clips (not a validation: a check that nothing broke).
    scores = mean_psnr(model.eval(), calibration)[0], mean_psnr(OpenvinoGenerator(out), calibration)[0]
    print(f"wrote {out}; Y-PSNR on the {len(calibration)} calibration clips: int8 {scores[1]:.3f} dB, fp32 "
          f"{scores[0]:.3f} dB")
    return 0


def write_trained(args: argparse.Namespace, weights, model, metadata: dict, out) -> int:
    """Weights trained with model.quantize=int8: written with the ranges they carry."""
    import torch

    from spectraframe.int8 import OpenvinoGenerator, write_int8

    recorded = metadata.get("provenance", {})
    provenance = {**describe(weights, model, metadata), "quantized_from": recorded.get("quantized_from"),
                  "recipe": recorded.get("recipe"), "commands": recorded.get("commands", [])}
    write_int8(model, out, provenance)
    window = sample_window(model)
    with torch.no_grad():
        difference = float((OpenvinoGenerator(out)(*window) - model.eval()(*window)).abs().max())
    print(f"wrote {out}; max |OpenVINO - PyTorch| on a sample window: {difference * 255:.2f} levels")
    if args.calibration:
        print("(--calibration is not used: these weights carry the ranges they were trained with)")
    return 0


def sample_window(model):
    """A fixed smooth test window (no data needed): target, neighbours and zero flows, 48x64."""
    import torch

    n = model.config.num_frames - 1
    y, x = torch.meshgrid(torch.linspace(0, 1, 48), torch.linspace(0, 1, 64), indexing="ij")
    frame = torch.stack([x, y, (x + y) / 2])[None]
    return frame, frame[:, None].expand(1, n, 3, 48, 64).contiguous(), torch.zeros(1, n, 2, 48, 64)
