"""`spectraframe upscale`: super-resolve videos or frame folders with a trained generator."""

from __future__ import annotations

import argparse

from spectraframe.commands import add_model_arguments, add_strength_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "upscale", help="upscale videos or frame folders (the input is the low resolution)",
        description="Upscale videos (any container/codec FFmpeg reads) or folders of frames. Output: a video "
                    "(H.264 yuv420p by default, audio/subtitles copied) or, for a name without extension, PNGs.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="video files or folders of frames (in natural name order: 2.png before 10.png)")
    p.add_argument("-o", "--output", help="output file, or a name without extension for a folder of PNGs (with "
                                          "several inputs: a folder receiving one output each); default next to "
                                          "the input: INPUT_x4.mkv for .mkv, INPUT_x4.mov for .mov (keeping "
                                          "subtitles), else INPUT_x4.mp4; FOLDER_x4/ for a frame folder")
    add_model_arguments(p.add_mutually_exclusive_group(),
                        "generator checkpoint (.safetensors, published .pth, or .onnx with --backend onnxruntime)")
    add_strength_argument(p)
    p.add_argument("--scale", type=int, choices=(2, 4, 8), help="expected scale: refuse weights made for another")
    p.add_argument("--height", type=int, help="final height in pixels, e.g. 1080 (aspect kept, even sides for "
                                             "video): the network's output is shrunk with an anti-aliased filter; "
                                             "at most the network's own size")
    p.add_argument("--outscale", type=float, help="final scale, e.g. 2 with x4 weights (anti-aliased shrink of the "
                                                  "network's output); at most the network's scale")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps (default auto)")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16", "int8"),
                   help="network arithmetic; auto (default): int8 on CPUs with VNNI/AMX when the weights have an "
                        "int8 model and OpenVINO is installed, else bf16 on CPUs with native bf16, fp16 on CUDA, "
                        "else fp32 (fp16 needs a GPU; int8 the CPU, see docs/speed.md)")
    p.add_argument("--backend", default="torch", choices=("torch", "onnxruntime", "openvino"),
                   help="torch (default), onnxruntime (fp32; --weights may then be an exported .onnx file) or "
                        "openvino (CPU: fp32/bf16 on the checkpoint converted on the fly, int8; see docs/speed.md)")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the network: faster for long videos, the first frame compiles for minutes")
    p.add_argument("--ensemble", action="store_true",
                   help="x8 self-ensemble: the model on the 8 flips/rotations of each window, averaged; a little "
                        "sharper (the default: +0.15 dB on val.txt) for 8x the network time")
    p.add_argument("--tile", type=int, help="tile size in LR pixels (0: never tile); default: from --max-memory")
    p.add_argument("--tile-overlap", type=int, help="LR context pixels per tile side; default: enough for "
                                                    "tiled output to equal untiled")
    p.add_argument("--max-memory", help="memory budget such as 4G (default: half the available memory)")
    p.add_argument("--no-scene-detect", action="store_true", help="take neighbours across scene cuts too")
    p.add_argument("--flow-method", help="optical flow method (default: the one the weights were trained with)")
    p.add_argument("--codec", default="h264", help="video codec: h264 (default), h265, vp9, av1, ffv1, mpeg4, …")
    p.add_argument("--crf", type=float, default=18.0, help="constant quality for h264/h265/vp9/av1 (default 18)")
    p.add_argument("--preset", default="medium", help="x264/x265 speed preset (default medium)")
    p.add_argument("--pix-fmt", default="yuv420p", help="output pixel format (default yuv420p)")
    p.add_argument("--fps", help="frame rate of frame-folder inputs, e.g. 25 or 30000/1001 (default 25)")
    p.add_argument("--segment-frames", type=int, default=100,
                   help="frames per encoded segment: the granularity of --resume (default 100)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from its last finished segment")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing output of the same kind: a video file, or a folder holding only images "
                        "(a previous frames output)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    # RBPN's original script needed --upscale_only to skip downscaling its input; here the input is always
    # the low resolution, so the flag is accepted for people coming from it and changes nothing.
    p.add_argument("--upscale-only", "--upscale_only", action="store_true",
                   help="accepted for compatibility with RBPN's --upscale_only; no effect (the input is always "
                        "the low resolution)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging
    import sys
    from fractions import Fraction
    from pathlib import Path

    from spectraframe.errors import SpectraFrameError

    log = logging.getLogger("spectraframe.upscale")
    # Checked before torch loads: a typo answers at once.
    try:
        fps = Fraction(args.fps) if args.fps else None
    except (ValueError, ZeroDivisionError) as exc:
        raise SpectraFrameError(f"--fps must look like 25 or 30000/1001, got {args.fps!r}") from exc
    if fps is not None and fps <= 0:
        raise SpectraFrameError(f"--fps must be positive, got {args.fps}")
    if args.segment_frames < 1:
        raise SpectraFrameError(f"--segment-frames must be >= 1, got {args.segment_frames}")
    from spectraframe.upscale.memory import parse_memory
    from spectraframe.upscale.pipeline import UpscaleOptions, Upscaler, default_output
    from spectraframe.upscale.weights import check_strength, weights_from_arguments

    check_strength(args.model, args.strength)
    options = UpscaleOptions(
        weights=weights_from_arguments(args.model, args.weights), scale=args.scale, device=args.device,
        precision=args.precision, backend=args.backend, compile=args.compile, ensemble=args.ensemble, tile=args.tile,
        tile_overlap=args.tile_overlap,
        max_memory=parse_memory(args.max_memory) if args.max_memory is not None else None,
        scene_detect=not args.no_scene_detect, flow_method=args.flow_method, codec=args.codec, crf=args.crf,
        preset=args.preset, pix_fmt=args.pix_fmt, fps=fps, segment_frames=args.segment_frames,
        resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress,
        height=args.height, outscale=args.outscale,
    )
    if args.strength is None:
        upscaler = Upscaler(options)
    else:
        from spectraframe.upscale.weights import blended_model

        model, metadata = blended_model(args.model, args.strength, scale=args.scale)
        upscaler = Upscaler(options, model=model, metadata=metadata)
    inputs = [Path(p) for p in args.inputs]
    if len(inputs) == 1:
        result = upscaler.run(inputs[0], args.output)
        print(result.summary())
        return 0
    folder = Path(args.output) if args.output else None
    if folder is not None and folder.suffix:
        raise SpectraFrameError(f"with several inputs, -o must be a folder, got {folder}")
    results, failures = [], []
    for path in inputs:
        try:
            results.append(upscaler.run(path, default_output(path, upscaler.output_tag, folder)))
        except SpectraFrameError as exc:
            log.error("%s", exc)
            failures.append((path, str(exc)))
    print(f"\nupscaled {len(results)} of {len(inputs)} inputs:")
    for result in results:
        print(f"  ok      {result.summary()}")
    for path, message in failures:
        print(f"  FAILED  {path}: {message}", file=sys.stdout)
    return 2 if failures else 0
