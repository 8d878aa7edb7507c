"""`spectraframe models` and --model on the commands, through the real entry point."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from spectraframe.cli import main
from spectraframe.zoo import installed, load_zoo


def test_models_lists_each_model_with_when_to_use_it_and_whether_it_is_installed(capsys) -> None:
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "--model NAME" in lines[0]
    for model in load_zoo().models:
        line = next(line for line in lines if line.split()[:1] == [model.name])
        assert model.use_for in line and model.file in line
        assert ("not installed" in line) == (not installed(model.name))
    assert "--strength S" in lines[-1] and "--model perceptual" in lines[-1]


def test_models_imports_no_torch() -> None:
    probe = "import sys\nfrom spectraframe.cli import main\nmain(['models'])\nprint('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines()[-1] == "False"


def test_model_help_names_every_shipped_model(capsys) -> None:
    for command in ("upscale", "eval", "demo"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        names = text[text.index("a shipped model:"):]
        assert all(name in names for name in load_zoo().names()), (command, names[:120])


def test_model_option_errors_are_sentences(tmp_path, capsys) -> None:
    video = tmp_path / "in.mp4"
    video.write_bytes(b"")
    assert main(["upscale", str(video), "--model", "bogus"]) == 2
    assert "unknown model 'bogus'" in capsys.readouterr().err
    if not installed("real"):
        assert main(["eval", "--data", str(tmp_path), "--model", "real", "--no-progress"]) == 2
        error = capsys.readouterr().err
        assert "the 'real' model" in error and "is not installed" in error


def test_strength_needs_a_fine_tuned_model(tmp_path, capsys) -> None:
    video = tmp_path / "in.mp4"
    video.write_bytes(b"")
    assert main(["upscale", str(video), "--strength", "0.5"]) == 2
    assert "--strength blends a fine-tuned model with the default" in capsys.readouterr().err
    assert main(["eval", "--data", str(tmp_path), "--model", "compact", "--strength", "0.5", "--no-progress"]) == 2
    assert "not --model compact" in capsys.readouterr().err


def test_upscale_with_a_strength_runs_the_blend(tmp_path) -> None:
    from helpers.media import moving_frames, read_back, write_video

    source = write_video(tmp_path / "in.mp4", moving_frames(4, width=32, height=24))
    outputs = {}
    for strength in ("0", "1"):
        out = tmp_path / f"s{strength}.mp4"
        assert main(["upscale", str(source), "-o", str(out), "--model", "perceptual", "--strength", strength,
                     "--precision", "fp32", "--no-progress"]) == 0
        outputs[strength] = read_back(out)[0]
    assert main(["upscale", str(source), "-o", str(tmp_path / "default.mp4"), "--precision", "fp32",
                 "--no-progress"]) == 0
    default = read_back(tmp_path / "default.mp4")[0]
    assert len(outputs["0"]) == 4 and outputs["0"][0].shape == (96, 128, 3)
    # strength 0 is the default model; 1 is the perceptual one, which differs from it
    assert all(np.array_equal(a, b) for a, b in zip(outputs["0"], default, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(outputs["1"], default, strict=True))
