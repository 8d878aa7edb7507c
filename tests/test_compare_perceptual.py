"""docs/compare_perceptual.py (`make compare`): one picture per clip, four labelled panels over their zoomed
crops, and an existing picture replaced only with --overwrite."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from helpers.models import tiny_model
from PIL import Image

from spectraframe.checkpoints import save_generator
from spectraframe.errors import SpectraFrameError

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "compare_perceptual.py"
CLIP = "vimeo_septuplet/sequences/00002/0008"  # the smallest val.txt clip: 448x256


def load_script():
    spec = importlib.util.spec_from_file_location("compare_perceptual", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_comparison_pictures_of_two_weights_files(tmp_path, train_corpus):
    files = []
    for seed in (0, 1):
        files.append(tmp_path / f"weights{seed}.safetensors")
        save_generator(files[-1], tiny_model(seed, scale=4), flow_method="dis")
    script = load_script()
    args = ["--default", str(files[0]), "--perceptual", str(files[1]), "--data", str(train_corpus),
            "--clips", CLIP, "--out-dir", str(tmp_path / "pictures")]
    assert script.main(args) == 0
    picture = np.asarray(Image.open(tmp_path / "pictures" / "perceptual_vimeo_septuplet_sequences_00002_0008.png"))
    assert picture.shape == (2 * 256, 4 * 448, 3)
    default, perceptual = picture[256:, 448:896], picture[256:, 896:1344]
    assert not np.array_equal(default, perceptual)  # the zoomed crops show each model's own output
    with pytest.raises(SpectraFrameError, match="--overwrite"):
        script.main(args)
    assert script.main([*args, "--overwrite"]) == 0
    with pytest.raises(SpectraFrameError, match="not in"):
        script.main([*args[:-4], "--clips", "no/such_clip", "--out-dir", str(tmp_path / "other")])
