"""`spectraframe eval`: PSNR/SSIM (and LPIPS, tOF) of bicubic or a trained model on an evaluation set."""

from __future__ import annotations

import argparse

from spectraframe.cli_numbers import integer
from spectraframe.commands import add_model_arguments, add_strength_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval",
        help="score bicubic or a checkpoint on a folder-of-frames / Vimeo-90K-T set (standard protocol)",
        description="HR frames are cropped to a multiple of the scale, degraded (MATLAB bicubic or BD), "
        "super-resolved, rounded to uint8 and scored on Y (BT.601) by default; clip means are averaged.",
    )
    p.add_argument("--data", required=True, help="dataset root: ROOT/<clip>/*.png|jpg or Vimeo ROOT/sequences/...")
    p.add_argument("--list", dest="list_file", help="file of clip paths relative to ROOT, one a line")
    p.add_argument("--layout", default="auto", choices=("auto", "folders", "vimeo"),
                   help="dataset layout (auto: vimeo when ROOT/sequences exists; vimeo scores only im4)")
    p.add_argument("--scale", type=integer(2, 16), default=4, help="upscaling factor (default 4)")
    method = p.add_mutually_exclusive_group()
    method.add_argument("--method", choices=("bicubic",), help="a baseline method (default: bicubic)")
    add_model_arguments(method, "a trained generator checkpoint (.safetensors or published .pth)")
    add_strength_argument(p)
    p.add_argument("--degradation", default="bi", metavar="SPEC",
                   help="bi: MATLAB bicubic imresize; bd: Gaussian blur sigma 1.6 + subsample (default bi); then "
                        "optional '+'-separated steps on the LR clip: h264:crf=N[,preset=P] (libx264, the clip as one "
                        "sequence), mpeg4:bitrate=200k, noise:sigma=S[,gray=1] (0-255 scale), jpeg:quality=Q; e.g. "
                        "bi+h264:crf=28")
    p.add_argument("--channel", default="y", choices=("y", "rgb"), help="score on Y (BT.601, default) or RGB")
    p.add_argument("--border", type=integer(0), default=0,
                   help="pixels cropped at each edge before scoring (default 0)")
    p.add_argument("--lpips", action="store_true", help="also compute LPIPS (VGG) per frame (slow on CPU)")
    p.add_argument("--tof", action="store_true", help="also compute tOF (flow difference of consecutive frames)")
    p.add_argument("--ensemble", action="store_true",
                   help="x8 self-ensemble: the model on the 8 flips/rotations of each window, averaged (8x the time)")
    p.add_argument("--save-frames", help="new folder for comparison PNGs: bicubic | output | ground truth + zoom")
    p.add_argument("--out", help="results file: writes OUT.json and OUT.csv (a .json or .csv suffix is replaced)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing --out files and a --save-frames folder of a previous eval")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps (default auto: a GPU if any)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _result_outputs(args: argparse.Namespace):
    """(json path, csv path, every output) of --out and --save-frames; the paths are None without --out."""
    from pathlib import Path

    from spectraframe.paths import Output

    json_path = csv_path = None
    outputs = []
    if args.out:
        out = Path(args.out)
        stem = out.with_suffix("") if out.suffix.lower() in (".json", ".csv") else out
        json_path, csv_path = stem.with_name(stem.name + ".json"), stem.with_name(stem.name + ".csv")
        outputs += [Output(json_path, "file", "--out"), Output(csv_path, "file", "--out")]
    if args.save_frames:
        outputs.append(Output(Path(args.save_frames), "folder", "--save-frames"))
    return json_path, csv_path, outputs


def _method(args: argparse.Namespace, device):
    """What is scored: "bicubic", a shipped model or weights file, or with --strength the blend of a model."""
    from spectraframe.evaluate import generator_clip_method, generator_method
    from spectraframe.zoo import weights_from_arguments

    if args.strength is not None:
        from spectraframe.upscale.weights import blended_model

        model, metadata = blended_model(args.model, args.strength, device, scale=args.scale)
        return generator_clip_method(model, metadata["flow_method"], ensemble=args.ensemble)
    if args.model is None and args.weights is None:
        return "bicubic"
    return generator_method(weights_from_arguments(args.model, args.weights), device, scale=args.scale,
                            degradation=args.degradation, ensemble=args.ensemble)


def run(args: argparse.Namespace) -> int:
    from spectraframe.accelerate import resolve_device
    from spectraframe.degradation.steps import parse_degradation
    from spectraframe.errors import SpectraFrameError
    from spectraframe.evaluate import evaluate
    from spectraframe.paths import check_outputs
    from spectraframe.zoo import check_strength

    parse_degradation(args.degradation)  # a mistake in the syntax fails before anything is loaded
    check_strength(args.model, args.strength)
    if args.ensemble and args.model is None and args.weights is None:
        raise SpectraFrameError("--ensemble runs a model: give --model NAME or --weights FILE")
    json_path, csv_path, outputs = _result_outputs(args)
    # All outputs before the evaluation: a bad one found after it would cost the whole run.
    check_outputs(outputs, [args.data, args.list_file, args.weights], overwrite=args.overwrite)
    device = resolve_device(args.device)
    report = evaluate(args.data, list_file=args.list_file, scale=args.scale, method=_method(args, device),
                      degradation=args.degradation, lpips=args.lpips, tof=args.tof, save_frames=args.save_frames,
                      border=args.border, channel=args.channel, layout=args.layout, device=device,
                      progress=not args.no_progress, overwrite=args.overwrite)
    if args.model:
        report.settings["method"] = f"model:{args.model}"
    elif args.weights:
        report.settings["method"] = f"weights:{args.weights}"
    print(report.format_table())
    if json_path is not None:
        report.write_json(json_path)
        report.write_csv(csv_path)
        print(f"wrote {json_path} and {csv_path}")
    if args.save_frames:
        print(f"comparison frames in {args.save_frames}")
    return 0
