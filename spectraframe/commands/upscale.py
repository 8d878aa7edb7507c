"""`spectraframe upscale`: super-resolve videos or frame folders with a trained generator."""

from __future__ import annotations

import argparse

from spectraframe.cli_numbers import integer, real
from spectraframe.commands import add_model_arguments, add_strength_argument, fps_argument
from spectraframe.upscale.trim import time_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "upscale", help="upscale videos or frame folders (the input is the low resolution)",
        description="Upscale videos (any container/codec FFmpeg reads) or folders of frames. Output: a video "
                    "(H.264 yuv420p by default, audio/subtitles copied) or, for a name without extension, PNGs.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="video files, folders of frames (in natural name order: 2.png before 10.png), folders of "
                        "videos or of frame folders, or patterns such as 'clips/*.mp4'; our own outputs are "
                        "recognised and skipped")
    p.add_argument("-o", "--output", help="output file, or a name without extension for a folder of PNGs (with "
                                          "several inputs: a folder receiving one output each); default next to "
                                          "the input: INPUT_x4.mkv for .mkv, INPUT_x4.mov for .mov (keeping "
                                          "subtitles), else INPUT_x4.mp4; FOLDER_x4/ for a frame folder; the "
                                          "model is in the name when it is not the default: INPUT_x4_real.mp4")
    p.add_argument("--start", type=time_argument, metavar="TIME",
                   help="upscale from this time on: seconds (90, 1.5) or HH:MM:SS (00:01:30), as ffmpeg's -ss; "
                        "audio and subtitles are cut alike")
    p.add_argument("--duration", type=time_argument, metavar="TIME",
                   help="upscale this long a section (seconds or HH:MM:SS, as ffmpeg's -t): try a few seconds "
                        "before the whole clip (`spectraframe preview` shows one frame)")
    add_model_arguments(p.add_mutually_exclusive_group(),
                        "generator checkpoint (.safetensors, published .pth, or .onnx with --backend onnxruntime)")
    add_strength_argument(p)
    p.add_argument("--scale", type=int, choices=(2, 4, 8), help="expected scale: refuse weights made for another")
    p.add_argument("--height", type=integer(1), help="final height in pixels, e.g. 1080 (aspect kept, even sides for "
                                                     "video): the network's output is shrunk with an anti-aliased "
                                                     "filter; from the input's height to the network's")
    p.add_argument("--outscale", type=real(0, low_excluded=True),
                   help="final scale, e.g. 2 with x4 weights (anti-aliased shrink of the network's output); from 1 "
                        "(the input's size: never smaller) to the network's scale")
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
    p.add_argument("--tile", type=integer(0), help="tile size in LR pixels (0: never tile); default: from --max-memory")
    p.add_argument("--tile-overlap", type=integer(0), help="LR context pixels per tile side; default: enough for "
                                                    "tiled output to equal untiled")
    p.add_argument("--max-memory", help="memory budget such as 4G (default: half the available memory)")
    p.add_argument("--no-scene-detect", action="store_true", help="take neighbours across scene cuts too")
    p.add_argument("--flow-method", help="optical flow method (default: the one the weights were trained with)")
    _add_output_arguments(p)
    _add_cluster_arguments(p)
    p.set_defaults(func=run)


def _add_output_arguments(p: argparse.ArgumentParser) -> None:
    """The encoder's settings, frame-folder timing, --resume and --overwrite."""
    p.add_argument("--codec", default="h264", help="video codec: h264 (default), h265, vp9, av1, ffv1, mpeg4, …")
    p.add_argument("--crf", type=real(), default=18.0, help="constant quality for h264/h265/vp9/av1 (default 18)")
    p.add_argument("--preset", default="medium", help="x264/x265 speed preset (default medium)")
    p.add_argument("--pix-fmt", default="yuv420p", help="output pixel format (default yuv420p)")
    p.add_argument("--fps", type=fps_argument,
                   help="frame rate of frame-folder inputs, e.g. 25 or 30000/1001 (default 25)")
    p.add_argument("--segment-frames", type=integer(1), default=100,
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


def _add_cluster_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cluster", metavar="ray[:ADDRESS]",
                   help="upscale the segments on a Ray cluster: ray (RAY_ADDRESS, else the cluster on this "
                        "machine, else a new local one) or ray:ADDRESS (ray:auto, ray:HOST:6379); inputs and "
                        "outputs on a path every node sees (docs/cluster.md); needs pip install "
                        "'spectraframe[cluster]'")
    p.add_argument("--workers", type=integer(1), help="--cluster: Ray actors (default: as many as the cluster holds)")
    p.add_argument("--worker-cpus", type=real(0, low_excluded=True), default=1.0,
                   help="--cluster: CPU threads of each actor (default 1)")
    p.add_argument("--worker-gpus", type=real(0),
                   help="--cluster: GPUs of each actor, e.g. 0.5 for two a GPU (default: 1 on a cluster with GPUs)")


def run(args: argparse.Namespace) -> int:
    """Check everything that can be checked without a model (inputs, outputs, settings), then load the model once
    and upscale each input."""
    from spectraframe.paths import require_file
    from spectraframe.upscale.batch import BatchInterrupted, plan_jobs, run_jobs
    from spectraframe.upscale.weights import peek_scale
    from spectraframe.zoo import check_strength, weights_from_arguments

    check_strength(args.model, args.strength)
    fps, trim = _checked_settings(args)
    cluster = _cluster_settings(args, trim)
    weights = require_file(weights_from_arguments(args.model, args.weights), "weights file")
    scale = peek_scale(weights) or args.scale
    # Planned before the model loads when the weights say their scale (our .safetensors): every path is checked
    # at once; otherwise after the load, with only the inputs checked now.
    plan = plan_jobs(args.inputs, _tag(args, scale, weights, trim), args.output, overwrite=args.overwrite,
                     weights=weights) if scale else None
    if plan is None:
        _check_inputs(args.inputs)
    elif not plan.jobs:
        return _report(plan, run_jobs(plan, lambda job: None))
    options, blend = _options(args, weights, fps, trim), _blend(args)  # torch loads from here on
    from spectraframe.upscale.pipeline import make_upscaler

    upscaler = make_upscaler(options, blend)
    if plan is None:
        plan = plan_jobs(args.inputs, upscaler.output_tag, args.output, overwrite=args.overwrite, weights=weights)
    if cluster is not None:
        from spectraframe.upscale.cluster import UpscalerRecipe, upscale_on_cluster

        return _report(plan, upscale_on_cluster(UpscalerRecipe(options, blend), plan, cluster, driver=upscaler))
    try:
        report = run_jobs(plan, lambda job: upscaler.run(job.input, job.output))
    except BatchInterrupted as stop:  # the summary of what was done, then the usual interrupted exit
        _report(plan, stop.report)
        raise
    return _report(plan, report)


def _checked_settings(args: argparse.Namespace):
    """(frame-folder fps, trim) from the arguments, with the values checked before anything loads."""
    from spectraframe.errors import SpectraFrameError
    from spectraframe.upscale.trim import Trim

    try:
        trim = Trim(args.start or 0.0, args.duration)
    except ValueError as exc:
        raise SpectraFrameError(f"--duration: {exc}") from None
    return args.fps, (None if trim.whole else trim)


def _cluster_settings(args: argparse.Namespace, trim):
    """The --cluster settings (None without it), checked and Ray found before anything loads."""
    if args.cluster is None:
        return None
    from spectraframe.upscale.cluster import cluster_settings

    return cluster_settings(args.cluster, args.workers, args.worker_cpus, args.worker_gpus, trim=trim)


def _check_inputs(values: list[str]) -> None:
    from spectraframe.upscale.batch import collect_inputs

    collect_inputs(values)


def _tag(args: argparse.Namespace, scale: int, weights, trim) -> str:
    from spectraframe.upscale.provenance import model_label, name_tag

    return name_tag(scale, args.height, args.outscale, model_label(weights, _blend(args)), trim)


def _blend(args: argparse.Namespace) -> tuple[str, float] | None:
    """(MODEL, STRENGTH) of `--model MODEL --strength S`: a blend of that fine-tune with the default."""
    return (args.model, args.strength) if args.strength is not None else None


def _options(args: argparse.Namespace, weights, fps, trim):
    """The UpscaleOptions of the arguments (this loads torch)."""
    from spectraframe.upscale.memory import parse_memory
    from spectraframe.upscale.pipeline import UpscaleOptions

    return UpscaleOptions(
        weights=weights, scale=args.scale, device=args.device, precision=args.precision, backend=args.backend,
        compile=args.compile, ensemble=args.ensemble, tile=args.tile, tile_overlap=args.tile_overlap,
        max_memory=parse_memory(args.max_memory) if args.max_memory is not None else None,
        scene_detect=not args.no_scene_detect, flow_method=args.flow_method, codec=args.codec, crf=args.crf,
        preset=args.preset, pix_fmt=args.pix_fmt, fps=fps, segment_frames=args.segment_frames,
        resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress,
        height=args.height, outscale=args.outscale, trim=trim,
    )


def _report(plan, report) -> int:
    """One line for a single input; a summary for several. Exit status 1 when some input failed."""
    if not plan.many:
        for result in report.done:
            print(result.summary())
        for passed in report.skipped:
            print(f"skipped {passed.input}: {passed.reason}")
        return 0
    print()
    print("\n".join(report.lines()))
    return 1 if report.failed else 0
