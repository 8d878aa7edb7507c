"""Run every benchmark module (each defines `main()`) and collect the tables in results/README.md."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

from benchmarks.common import RESULTS

# Not benchmarks: helpers, and the GPU run (it needs arguments).
SKIP = {"common", "run_all", "gpu_run"}


def main(names: list[str]) -> int:
    package_dir = Path(__file__).resolve().parent
    modules = names or sorted(m.name for m in pkgutil.iter_modules([str(package_dir)]) if m.name not in SKIP)
    for name in modules:
        print(f"=== benchmark: {name}", flush=True)
        importlib.import_module(f"benchmarks.{name}").main()
    write_summary()
    return 0


def write_summary() -> None:
    """results/README.md: every result table, also after a benchmark run on its own (`python -m
    benchmarks.run_all --summary`)."""
    tables = sorted(RESULTS.glob("*.md"))
    summary = "# Benchmark results\n\nWritten by `make bench`.\n\n" + "\n".join(t.read_text() for t in tables
                                                                              if t.name != "README.md")
    (RESULTS / "README.md").write_text(summary)


if __name__ == "__main__":
    if sys.argv[1:] == ["--summary"]:
        write_summary()
        sys.exit(0)
    sys.exit(main(sys.argv[1:]))
