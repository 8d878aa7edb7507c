"""`spectraframe --help` and argument errors answer without importing torch (the time it takes is measured in
benchmarks/cli_startup.py, not here)."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
from spectraframe.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    print("exit", exit.code)
print("torch loaded" if "torch" in sys.modules else "no torch")
"""


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["flow", "--help"], ["upscale"],
                                  ["eval", "--data", "x", "--channel", "nope"], ["nocommand"]])
def test_parsing_imports_no_torch(argv):
    result = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines()[-2:] in (["exit 0", "no torch"], ["exit 2", "no torch"]), result


def test_the_cli_flow_method_names_are_the_methods():
    from spectraframe.flow import FLOW_METHODS, METHODS

    assert tuple(METHODS) == FLOW_METHODS


def test_a_reader_that_goes_away_ends_the_command_quietly():
    # `spectraframe models | head -1`: the pipe's reader is gone before the command writes.
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)
    result = subprocess.run([sys.executable, "-m", "spectraframe", "models"], stdout=write_end,
                            stderr=subprocess.PIPE, text=True)
    os.close(write_end)
    assert result.returncode == 141 and result.stderr == "", result.stderr
