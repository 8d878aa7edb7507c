"""`spectraframe info` through the real entry point."""

from __future__ import annotations

from pathlib import Path

from spectraframe.archs.rbpn import RBPN, RBPNConfig
from spectraframe.checkpoints import save_generator
from spectraframe.cli import main


def test_info_paper_preset(capsys) -> None:
    assert main(["info", "--preset", "paper"]) == 0
    out = capsys.readouterr().out
    assert "12,771,943" in out
    assert "2,014.2 GFLOP" in out


def test_info_weights_file(tmp_path: Path, capsys) -> None:
    path = save_generator(tmp_path / "g.safetensors", RBPN(RBPNConfig(scale=2, num_frames=3, base_filter=8,
                                                                      feat=4, num_stages=1, n_resblock=0)))
    assert main(["info", "--weights", str(path), "--lr-size", "32x16"]) == 0
    out = capsys.readouterr().out
    assert "LR 32x16 -> HR 64x32" in out and "coarse2fine" in out


def test_info_errors_are_messages(capsys) -> None:
    assert main(["info", "--preset", "nope"]) == 2
    assert "unknown preset" in capsys.readouterr().err
    assert main(["info", "--weights", "/nonexistent/w.pth"]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert main(["info", "--frames", "1"]) == 2
    assert "at least 2" in capsys.readouterr().err


def test_info_refuses_preset_overrides_for_a_weights_file(tmp_path: Path, capsys) -> None:
    path = save_generator(tmp_path / "g.safetensors", RBPN(RBPNConfig(scale=4, num_frames=3, base_filter=8,
                                                                      feat=4, num_stages=1, n_resblock=0)))
    assert main(["info", "--weights", str(path), "--scale", "2"]) == 2
    assert "architecture is fixed" in capsys.readouterr().err


def test_info_of_a_shipped_model_by_name(capsys) -> None:
    assert main(["info", "--model", "real"]) == 0
    out = capsys.readouterr().out
    assert "model real" in out and "359,356" in out and "lineage" in out
    assert '"config"' not in out  # the whole record only when asked for
    assert main(["info", "--model", "real", "--provenance"]) == 0
    out = capsys.readouterr().out
    assert '"config"' in out and '"realworld"' in out
    assert main(["info", "--provenance"]) == 2
    assert "a preset has no training record" in capsys.readouterr().err
    assert main(["info", "--model", "bogus"]) == 2
    assert "unknown model 'bogus'" in capsys.readouterr().err
