"""Upscale benchmark: frames/s and peak RSS of the whole pipeline (decode, scene cuts, flow, network, encode).

* speed: the shipped preset (`compact` once it exists, else `paper`) on real clips, a few frames each;
* bounded memory: peak RSS for the first 100 vs the first 700 frames of vtest.avi (768x576 -> 3072x2304)
  must agree within 10%. Each measurement runs in its own subprocess, so each peak is that run's own.

Weights are random (speed and memory do not depend on their values). Run: `make bench BENCH=upscale` or
`python -m benchmarks.upscale [--skip-speed] [--memory-clip carphone_pristine.mp4 --memory-frames 20,120]`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import SHARED, peak_rss_mib, write_result

VIDEOS = SHARED / "data" / "videos"
# A tiny x4 stand-in for the 700-frame memory run while no compact preset is shipped: the paper preset
# needs ~20 minutes per vtest frame on 2 cores, and even widths 32/16 cost ~50 s per 3072x2304 frame.
MEMORY_STAND_IN = {"scale": 4, "num_frames": 3, "base_filter": 8, "feat": 4, "num_stages": 1, "n_resblock": 0}


def shipped_config() -> tuple[str, dict]:
    from spectraframe.archs.rbpn import PRESETS

    name = "compact" if "compact" in PRESETS else "paper"
    return name, PRESETS[name].to_dict()


def trim(source: Path, frames: int, folder: Path) -> Path:
    """The first `frames` frames of a video, stream-copied (no re-encoding)."""
    import av

    target = folder / f"{source.stem}_{frames}{source.suffix}"
    with av.open(str(source)) as src, av.open(str(target), "w") as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        count = 0
        for packet in src.demux(src.streams.video[0]):
            if packet.size == 0:
                continue
            if count == frames:
                break
            packet.stream = stream
            dst.mux(packet)
            count += 1
    return target


def child(args: argparse.Namespace) -> None:
    """One measured run (in a subprocess): prints a JSON line with frames, seconds and peak RSS."""
    import torch

    from spectraframe.archs.rbpn import RBPN, RBPNConfig
    from spectraframe.checkpoints import save_generator
    from spectraframe.upscale.pipeline import UpscaleOptions, Upscaler

    torch.set_num_threads(args.threads)
    config = RBPNConfig.from_dict(json.loads(args.config))
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "weights.safetensors"
        save_generator(weights, RBPN(config), flow_method=args.flow)
        options = UpscaleOptions(weights=weights, progress=False, overwrite=True, precision=args.precision,
                                 max_memory=int(args.max_memory * 2**30), preset=args.x264_preset)
        upscaler = Upscaler(options)
        start = time.perf_counter()
        result = upscaler.run(args.input, Path(tmp) / "out.mp4")
        seconds = time.perf_counter() - start
    tile, _ = upscaler.tiling(result.height // config.scale, result.width // config.scale)
    print(json.dumps({"frames": result.frames, "seconds": seconds, "peak_rss_mib": peak_rss_mib(),
                      "out": f"{result.width}x{result.height}", "tile": tile}))


def measure(source: Path, config: dict, *, flow: str, precision: str = "fp32", max_memory: float = 4.0,
            x264_preset: str = "medium") -> dict:
    import torch

    command = [sys.executable, "-m", "benchmarks.upscale", "--child", "--input", str(source),
               "--config", json.dumps(config), "--flow", flow, "--precision", precision,
               "--max-memory", str(max_memory), "--x264-preset", x264_preset,
               "--threads", str(torch.get_num_threads())]
    done = subprocess.run(command, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    if done.returncode != 0:
        raise RuntimeError(f"benchmark run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--input")
    parser.add_argument("--config")
    parser.add_argument("--flow", default="coarse2fine")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--max-memory", type=float, default=4.0)
    parser.add_argument("--x264-preset", default="medium")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-clip", default="vtest.avi", help="clip of the memory check (in shared videos)")
    parser.add_argument("--memory-frames", default="100,700", help="the two frame counts compared (default 100,700)")
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args(argv if argv is not None else [])
    if args.child:
        child(args)
        return
    rows = []
    preset, config = shipped_config()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if not args.skip_speed:
            # Paper preset: ~7.5 TFLOP per carphone frame, ~130 TFLOP per vtest frame; keep the counts small.
            clips = [("carphone_pristine.mp4", 2)] if preset == "paper" else [("carphone_pristine.mp4", 10),
                                                                              ("vtest.avi", 3)]
            for name, frames in clips:
                run = measure(trim(VIDEOS / name, frames, folder), config, flow="coarse2fine")
                rows.append({"run": f"speed {preset}", "clip": name, **run,
                             "frames_per_s": run["frames"] / run["seconds"]})
        short, long = (int(v) for v in args.memory_frames.split(","))
        stand_in = config if preset != "paper" else MEMORY_STAND_IN
        label = preset if preset != "paper" else "tiny stand-in (x4, 3 frames, widths 8/4)"
        peaks = {}
        for frames in (short, long):
            clip = VIDEOS / args.memory_clip
            run = measure(trim(clip, frames, folder), stand_in, flow="dis", x264_preset="veryfast")
            peaks[frames] = run["peak_rss_mib"]
            rows.append({"run": f"memory {label}", "clip": clip.name, **run,
                         "frames_per_s": run["frames"] / run["seconds"]})
    ratio = peaks[long] / peaks[short]
    notes = (f"Peak RSS {long} frames / {short} frames = {ratio:.3f} (target: within 10%). Memory runs use DIS flow "
             f"and x264 veryfast to keep 700 frames of 3072x2304 affordable; speed runs use coarse2fine and x264 "
             f"medium. Random weights; budget --max-memory 4G.")
    write_result("upscale", rows, ["run", "clip", "out", "frames", "seconds", "frames_per_s", "peak_rss_mib",
                                   "tile"], notes)
    if ratio > 1.10:
        print(f"WARNING: peak RSS grew by {100 * (ratio - 1):.1f}% from {short} to {long} frames")


if __name__ == "__main__":
    main(sys.argv[1:])
