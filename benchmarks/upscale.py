"""Upscale benchmark: frames/s and peak RSS of the whole pipeline (decode, scene cuts, flow, network, encode).

Every run uses the shipped default weights and the options a user gets from `spectraframe upscale IN -o OUT`
(precision auto, the weights' flow method, x264 medium, memory budget from the machine), so the figures are
what a user sees:

* speed: carphone (176x144 -> 704x576) and vtest.avi (768x576 -> 3072x2304), a few frames each;
* bounded memory: peak RSS for the first 100 vs the first 700 frames of vtest.avi must agree within 10%.
  Each measurement runs in its own subprocess, so each peak is that run's own.

Run: `make bench BENCH=upscale` or `python -m benchmarks.upscale [--skip-speed] [--skip-memory]
[--memory-clip carphone_pristine.mp4 --memory-frames 20,120]`. The 700-frame run takes about an hour on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import SHARED, write_result

VIDEOS = SHARED / "data" / "videos"


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


# The CLI with `keep_freed_memory` turned off: glibc's default of returning large blocks to the kernel.
DEFAULT_ALLOCATOR_CLI = ("import sys, spectraframe.cli as cli; cli.keep_freed_memory = lambda: False; "
                         "sys.exit(cli.main(sys.argv[1:]))")


def measure(source: Path, folder: Path, keep_freed_memory: bool = True) -> dict:
    """Run `spectraframe upscale SOURCE` as a user would, in its own process: seconds and that run's peak RSS."""
    from spectraframe.io.video import probe_video

    output = folder / f"{source.stem}_out.mp4"
    entry = ["-m", "spectraframe"] if keep_freed_memory else ["-c", DEFAULT_ALLOCATOR_CLI]
    command = [sys.executable, *entry, "upscale", str(source), "-o", str(output), "--overwrite", "--no-progress"]
    log = folder / "upscale.log"
    with log.open("w") as sink:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT,
                                   cwd=Path(__file__).resolve().parents[1])
        _, status, usage = os.wait4(process.pid, 0)  # wait4: this child's own peak, not the max over children
        seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"benchmark run failed: {' '.join(command)}\n{log.read_text()[-3000:]}")
    info = probe_video(output)
    text = log.read_text()
    generator = re.search(r"generator: (.+)", text)
    rate = re.search(r"\(([0-9.]+) frames/s", text)  # the CLI's own summary: the run without start-up
    return {"frames": info.frame_count, "seconds": seconds, "frames_per_s": info.frame_count / seconds,
            "pipeline_frames_per_s": float(rate.group(1)) if rate else float("nan"),
            "peak_rss_mib": usage.ru_maxrss / 1024.0, "out": f"{info.width}x{info.height}",
            "generator": generator.group(1) if generator else "?", "log": text.strip()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--speed-clips", default="carphone_pristine.mp4:30,vtest.avi:5",
                        help="clip:frames pairs of the speed runs (in shared videos)")
    parser.add_argument("--memory-clip", default="vtest.avi", help="clip of the memory check (in shared videos)")
    parser.add_argument("--memory-frames", default="100,700", help="the two frame counts compared (default 100,700)")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args(argv if argv is not None else [])
    rows = []
    notes = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if not args.skip_speed:
            for item in args.speed_clips.split(","):
                name, frames = item.rsplit(":", 1)
                run = measure(trim(VIDEOS / name, int(frames), folder), folder)
                rows.append({"run": "speed", "clip": name, **run})
        if not args.skip_memory:
            short, long = (int(v) for v in args.memory_frames.split(","))
            peaks = {}
            for frames in (short, long):
                clip = VIDEOS / args.memory_clip
                run = measure(trim(clip, frames, folder), folder)
                peaks[frames] = run["peak_rss_mib"]
                rows.append({"run": "memory", "clip": clip.name, **run})
            ratio = peaks[long] / peaks[short]
            verdict = "PASS" if abs(ratio - 1) <= 0.10 else "FAIL"
            notes.append(f"Peak RSS {long} frames / {short} frames = {ratio:.3f} (target: within 10%): {verdict}.")
            if verdict == "FAIL":
                print(f"FAIL: peak RSS changed by {100 * (ratio - 1):+.1f}% from {short} to {long} frames")
    notes.append("Shipped default weights with the default options of `spectraframe upscale` (precision auto, "
                 "the weights' flow method, x264 medium CRF 18, memory budget from the machine), run as a "
                 "subprocess. seconds and frames_per_s: the whole process, start-up and model loading included; "
                 "pipeline_frames_per_s: the CLI's own summary line (decode, flow, network, encode).")
    write_result("upscale", rows, ["run", "clip", "out", "frames", "seconds", "frames_per_s",
                                   "pipeline_frames_per_s", "peak_rss_mib", "generator"], " ".join(notes))


if __name__ == "__main__":
    main(sys.argv[1:])
