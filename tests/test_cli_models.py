"""`spectraframe models` and --model on the commands, through the real entry point."""

from __future__ import annotations

import subprocess
import sys

from spectraframe.cli import main
from spectraframe.upscale.weights import MODELS, SHIPPED_WEIGHTS, installed


def test_models_lists_each_model_with_when_to_use_it_and_whether_it_is_installed(capsys) -> None:
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "--model NAME" in lines[0]
    for name, (weights, when) in MODELS.items():
        line = next(line for line in lines if line.split()[:1] == [name])
        assert when in line and SHIPPED_WEIGHTS[weights][0] in line
        assert ("not installed yet" in line) == (not installed(weights))


def test_models_imports_no_torch() -> None:
    probe = "import sys\nfrom spectraframe.cli import main\nmain(['models'])\nprint('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines()[-1] == "False"


def test_model_option_errors_are_sentences(tmp_path, capsys) -> None:
    video = tmp_path / "in.mp4"
    video.write_bytes(b"")
    assert main(["upscale", str(video), "--model", "bogus"]) == 2
    assert "unknown model 'bogus'" in capsys.readouterr().err
    if not installed("real"):
        assert main(["eval", "--data", str(tmp_path), "--model", "real", "--no-progress"]) == 2
        error = capsys.readouterr().err
        assert "the 'real' model" in error and "is not installed" in error
