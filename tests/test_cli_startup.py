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


# At the point a bad path is reported, torch must not have been imported: the model never loaded.
ERROR_PROBE = """
import sys
from spectraframe.cli import main
code = main(sys.argv[1:])
print("exit", code)
print("torch loaded" if "torch" in sys.modules else "no torch")
"""


def probe(*argv: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", ERROR_PROBE, *argv], capture_output=True, text=True, cwd=cwd)


def test_bad_inputs_and_outputs_are_refused_before_torch_loads(tmp_path):
    result = probe("upscale", "clip.mp4", "--model", "real", cwd=tmp_path)
    assert result.stdout.splitlines() == ["exit 2", "no torch"], result
    assert "error: input not found: clip.mp4" in result.stderr
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "holiday.mp4").write_bytes(b"a video, as far as names go")
    result = probe("upscale", "clips/holliday.mp4", cwd=tmp_path)
    assert "input not found: clips/holliday.mp4 (did you mean 'holiday.mp4'?)" in result.stderr
    (tmp_path / "precious.mp4").write_bytes(b"mine")
    result = probe("upscale", "clips/holiday.mp4", "-o", "precious.mp4", cwd=tmp_path)
    assert result.stdout.splitlines() == ["exit 2", "no torch"], result
    assert "precious.mp4 already exists; pass --overwrite" in result.stderr
    result = probe("upscale", "clips/holiday.mp4", "--model", "reel", cwd=tmp_path)
    assert result.stdout.splitlines() == ["exit 2", "no torch"], result
    assert "unknown model 'reel' (did you mean 'real'?)" in result.stderr


@pytest.mark.parametrize(("argv", "hint"), [
    (["upscal", "clip.mp4"], "(did you mean 'upscale'?)"),
    (["upscale", "clip.mp4", "--modle", "real"], "unrecognized arguments: --modle real (did you mean '--model'?)"),
    (["upscale", "clip.mp4", "--precision", "fp61"], "(did you mean 'fp16'?)"),
])
def test_mistyped_commands_and_options_get_a_suggestion(argv, hint, capsys):
    from spectraframe.cli import main

    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2 and hint in capsys.readouterr().err


def test_version(capsys):
    from spectraframe import __version__
    from spectraframe.cli import main

    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0 and capsys.readouterr().out == f"spectraframe {__version__}\n"
