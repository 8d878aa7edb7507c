"""`spectraframe flow` through the real entry point."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from spectraframe.cli import main
from spectraframe.flow import read_flo
from spectraframe.io.images import read_image, write_image


def _write_pair(folder: Path, shifted_pair) -> tuple[Path, Path]:
    target, neighbour = shifted_pair
    paths = folder / "a.png", folder / "b.png"
    for path, frame in zip(paths, (target, neighbour), strict=True):
        write_image(path, (frame * 255).round().to(torch.uint8).permute(1, 2, 0).numpy())
    return paths


def test_flow_command_writes_image_flo_npy(tmp_path: Path, shifted_pair, capsys) -> None:
    a, b = _write_pair(tmp_path, shifted_pair)
    out = tmp_path / "out" / "flow.png"
    code = main(["flow", str(a), str(b), "-o", str(out), "--flo", str(tmp_path / "f.flo"),
                 "--npy", str(tmp_path / "f.npy")])
    assert code == 0
    printed = capsys.readouterr().out
    assert "warp error:" in printed and "coarse2fine" in printed
    image = read_image(out)
    assert image.shape == (56, 96, 3)
    flow = read_flo(tmp_path / "f.flo")
    assert flow.shape == (2, 56, 96)
    assert abs(flow[0, 8:-8, 8:-8].mean().item() - 2.0) < 0.1
    assert np.array_equal(np.load(tmp_path / "f.npy"), flow.numpy())


def test_flow_command_dis_and_errors(tmp_path: Path, shifted_pair, capsys) -> None:
    a, b = _write_pair(tmp_path, shifted_pair)
    assert main(["flow", str(a), str(b), "-o", str(tmp_path / "d.png"), "--method", "dis",
                 "--preset", "fast"]) == 0
    assert "dis:" in capsys.readouterr().out
    assert main(["flow", str(a), str(tmp_path / "missing.png"), "-o", str(tmp_path / "x.png")]) == 2
    assert "not found" in capsys.readouterr().err
    small = tmp_path / "small.png"
    write_image(small, np.zeros((10, 10, 3), np.uint8))
    assert main(["flow", str(a), str(small), "-o", str(tmp_path / "x.png")]) == 2
    assert "differ in size" in capsys.readouterr().err
