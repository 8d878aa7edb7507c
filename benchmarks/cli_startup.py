"""How long `spectraframe` takes to answer without running a command: `--help`, a subcommand's help and an
argument error, each in a fresh process (the console script's own interpreter). Target (issue 13): < 0.3 s,
because parsing imports no torch; `import torch` alone is shown for scale."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from benchmarks.common import write_result

CASES = {
    "spectraframe --help": ["-m", "spectraframe", "--help"],
    "spectraframe upscale --help": ["-m", "spectraframe", "upscale", "--help"],
    "spectraframe train --help": ["-m", "spectraframe", "train", "--help"],
    "argument error (upscale, no input)": ["-m", "spectraframe", "upscale"],
    "python -c 'import torch' (for scale)": ["-c", "import torch"],
}
REPEATS = 7


def seconds(arguments: list[str]) -> float:
    """Median wall time of a fresh interpreter running `arguments`, after one warm-up (file cache)."""
    times = []
    for _ in range(REPEATS + 1):
        start = time.perf_counter()
        subprocess.run([sys.executable, *arguments], capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main() -> None:
    rows = [{"command": name, "median seconds": round(seconds(arguments), 3)} for name, arguments in CASES.items()]
    write_result("cli_startup", rows, ["command", "median seconds"],
                 notes=f"Median of {REPEATS} fresh processes after one warm-up; the machine's other load included.")


if __name__ == "__main__":
    main()
