"""`spectraframe preview`: one frame of your clip, bicubic | the model, and how long the whole clip would take."""

from __future__ import annotations

import argparse

from spectraframe.commands import add_model_arguments, add_strength_argument, fps_argument
from spectraframe.upscale.trim import time_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "preview", help="one frame of a video, bicubic | the model, and the time the whole video would take",
        description="Upscale the few frames around one moment of a video (or frame folder) exactly as `upscale` "
                    "would, write the comparison picture (bicubic | the model, the most detailed region zoomed "
                    "below) and say how long the whole clip would take on this machine.",
    )
    p.add_argument("input", metavar="INPUT", help="a video file or a folder of frames")
    p.add_argument("--at", type=time_argument, metavar="TIME",
                   help="the moment to show: seconds (90, 1.5) or HH:MM:SS (default: the middle of the clip)")
    p.add_argument("-o", "--output", help="the picture (.png); default next to the input: INPUT_x4_preview.png, "
                                          "with the model in the name as upscale's outputs have it")
    add_model_arguments(p.add_mutually_exclusive_group(), "generator checkpoint (.safetensors or published .pth)")
    add_strength_argument(p)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps (default auto)")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16", "int8"),
                   help="as for upscale (default auto); the estimate is for this precision")
    p.add_argument("--fps", type=fps_argument, help="frame rate of a frame folder, e.g. 25 (default 25)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing picture")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from spectraframe.paths import Output, check_outputs, require_file
    from spectraframe.upscale.batch import collect_inputs
    from spectraframe.zoo import check_strength, weights_from_arguments

    check_strength(args.model, args.strength)
    weights = require_file(weights_from_arguments(args.model, args.weights), "weights file")
    inputs, many = collect_inputs([args.input])
    if many:
        from spectraframe.errors import SpectraFrameError

        raise SpectraFrameError(f"{args.input} holds several videos: preview one of them")
    blend = None if args.strength is None else (args.model, args.strength)
    picture = Path(args.output) if args.output else _default_picture(inputs[0], weights, blend)
    check_outputs([Output(picture, "file")], [inputs[0], weights], overwrite=args.overwrite)
    return _show(args, inputs[0], weights, blend, picture)


def _default_picture(clip, weights, blend):
    from spectraframe.upscale.provenance import default_output, model_label, name_tag
    from spectraframe.upscale.weights import peek_scale

    scale = peek_scale(weights)
    tag = name_tag(scale, label=model_label(weights, blend)) if scale else "upscaled"
    return default_output(clip, f"{tag}_preview").with_suffix(".png")


def _show(args: argparse.Namespace, clip, weights, blend, picture) -> int:
    """Load the model, make the picture, and say what it shows and the estimate."""
    from spectraframe.preview import preview
    from spectraframe.upscale.pipeline import UpscaleOptions, make_upscaler
    from spectraframe.upscale.provenance import model_label
    from spectraframe.upscale.sources import FrameSource
    from spectraframe.upscale.trim import format_time

    fps = args.fps
    at = args.at
    if at is None:
        info = FrameSource(clip, folder_fps=fps).info
        at = float(info.frame_count // 2 / info.fps)
    options = UpscaleOptions(weights=weights, device=args.device, precision=args.precision, fps=fps, progress=False)
    upscaler = make_upscaler(options, blend)
    label = f"SpectraFrame {model_label(weights, blend) or ('default' if blend is None else '')}".strip()
    result = preview(upscaler, clip, at, picture, label=label, overwrite=args.overwrite)
    print(f"comparison picture: {result.picture}  (bicubic | {label}, frame {result.frame} at "
          f"{format_time(result.seconds)}, the most detailed region zoomed below)")
    print(f"the whole clip ({result.clip_frames} frames) would take about {_spoken(result.estimate)} on this "
          f"machine ({result.seconds_per_frame:.2f} s a frame, {upscaler.describe()}); try a section first with "
          "`spectraframe upscale INPUT --start TIME --duration SECONDS`")
    return 0


def _spoken(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else (f"{minutes} min {secs:02d} s" if minutes else f"{secs} s")
