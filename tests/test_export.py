"""ONNX export: ONNX Runtime output equals PyTorch within 1e-3, metadata carried."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from spectraframe.archs.rbpn import RBPN, RBPNConfig
from spectraframe.checkpoints import save_generator
from spectraframe.cli import main
from spectraframe.errors import SpectraFrameError
from spectraframe.export import OnnxGenerator, export_onnx, max_export_difference

TINY = RBPNConfig(scale=2, num_frames=3, base_filter=8, feat=4, num_stages=2, n_resblock=1)


def test_onnx_matches_pytorch_at_another_size(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = RBPN(TINY)
    path = export_onnx(model, tmp_path / "g.onnx", metadata={"flow_method": "dis"})
    assert max_export_difference(model, path, size=(20, 28)) < 1e-3
    generator = OnnxGenerator(path)
    assert generator.config == TINY and generator.metadata["flow_method"] == "dis"
    assert generator.describe() == "CPUExecutionProvider, fp32"


def test_export_command(tmp_path: Path, capsys) -> None:
    weights = save_generator(tmp_path / "g.safetensors", RBPN(TINY))
    out = tmp_path / "g.onnx"
    assert main(["export", "--weights", str(weights), "--onnx", str(out)]) == 0
    assert "max |onnxruntime - pytorch|" in capsys.readouterr().out
    assert main(["export", "--weights", str(weights), "--onnx", str(out)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err


def test_not_our_onnx_file(tmp_path: Path) -> None:
    (tmp_path / "x.onnx").write_bytes(b"garbage")
    with pytest.raises(SpectraFrameError, match="cannot load ONNX model"):
        OnnxGenerator(tmp_path / "x.onnx")


def test_export_never_overwrites_its_weights(tmp_path: Path, capsys) -> None:
    weights = save_generator(tmp_path / "g.safetensors", RBPN(TINY))
    before = weights.read_bytes()
    assert main(["export", "--weights", str(weights), "--onnx", str(weights), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "is the input" in err and "Traceback" not in err
    assert weights.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["g.safetensors"]


def test_export_of_the_default_weights(tmp_path: Path, capsys) -> None:
    # Without --weights the command crashed with an ImportError (the documented default was untested).
    out = tmp_path / "default.onnx"
    assert main(["export", "--onnx", str(out)]) == 0, capsys.readouterr().err
    generator = OnnxGenerator(out)
    assert generator.config.residual and generator.config.scale == 4


def test_export_of_a_shipped_model_blended_with_the_default(tmp_path: Path, capsys) -> None:
    from spectraframe.upscale.weights import blended_model

    out = tmp_path / "half.onnx"
    assert main(["export", "--model", "perceptual", "--strength", "0.5", "--onnx", str(out)]) == 0, \
        capsys.readouterr().err
    blend, _ = blended_model("perceptual", 0.5)
    assert max_export_difference(blend, out) < 1e-3  # the file is the blend, not either end
    assert main(["export", "--weights", "compact", "--strength", "0.5", "--onnx", str(tmp_path / "x.onnx")]) == 2
    assert "--strength blends a fine-tuned model" in capsys.readouterr().err
