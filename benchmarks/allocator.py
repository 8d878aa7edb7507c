"""What `spectraframe.accelerate.keep_freed_memory` (called by the CLI) buys: the same `spectraframe upscale`
runs with it and with glibc's default, which unmaps every freed block above 32 MiB so that each large
activation is page-faulted in (and zeroed by the kernel) again.

Run: `make bench BENCH=allocator` (about 3 minutes on 2 cores).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.common import write_result
from benchmarks.upscale import VIDEOS, measure, trim

CLIPS = [("carphone_pristine.mp4", 30), ("vtest.avi", 5)]


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, frames in CLIPS:
            clip = trim(VIDEOS / name, frames, folder)
            for keep in (False, True):  # alternate per clip, so machine noise hits both alike
                run = measure(clip, folder, keep_freed_memory=keep)
                rows.append({"allocator": "keep freed memory (CLI)" if keep else "glibc default", "clip": name,
                             **{k: v for k, v in run.items() if k != "log"}})
    write_result("allocator", rows, ["allocator", "clip", "out", "frames", "pipeline_frames_per_s",
                                     "frames_per_s", "peak_rss_mib"],
                 "The shipped weights with the CLI's defaults (bf16, coarse2fine, x264 medium); pipeline_frames_per_s "
                 "is the CLI's own summary line, frames_per_s includes start-up.")


if __name__ == "__main__":
    main()
