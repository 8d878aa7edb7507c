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


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_flow_never_overwrites_its_input_nor_an_existing_file(tmp_path: Path, shifted_pair, capsys) -> None:
    a, b = _write_pair(tmp_path, shifted_pair)
    before = _snapshot(tmp_path)
    for extra in (["-o", str(a)], ["-o", str(tmp_path / "c.png"), "--npy", str(tmp_path / "b.png")],
                  ["-o", str(a), "--overwrite"]):
        assert main(["flow", str(a), str(b), "--method", "dis", *extra]) == 2
        err = capsys.readouterr().err
        assert ("is the input" in err or "must end in .npy" in err) and "Traceback" not in err, err
    assert _snapshot(tmp_path) == before
    out = tmp_path / "flow.png"
    out.write_bytes(b"an older picture")
    assert main(["flow", str(a), str(b), "--method", "dis", "-o", str(out)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err and out.read_bytes() == b"an older picture"
    assert main(["flow", str(a), str(b), "--method", "dis", "-o", str(out), "--overwrite"]) == 0
    assert read_image(out).shape == (56, 96, 3)


def test_flow_checks_every_output_before_writing_any(tmp_path: Path, shifted_pair, capsys) -> None:
    # `-o f.png --flo f.txt` wrote the PNG, then refused --flo; `-o name` (no extension) was a PIL traceback.
    a, b = _write_pair(tmp_path, shifted_pair)
    for extra, message in [
        (["-o", str(tmp_path / "f.png"), "--flo", str(tmp_path / "f.txt")], "--flo"),
        (["-o", str(tmp_path / "flow")], "must end in .png"),
        (["-o", str(tmp_path / "a.png" / "f.png")], "is a file, not a folder"),
        (["-o", str(tmp_path / "f.png"), "--npy", str(tmp_path / "f.png")], "must end in .npy"),
    ]:
        assert main(["flow", str(a), str(b), "--method", "dis", *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]


def test_flow_of_tiny_frames(tmp_path: Path, capsys) -> None:
    # coarse2fine on 2x2 and DIS under 12 px ended in tracebacks (DIS under 16 px high can crash the process).
    rng = np.random.default_rng(0)
    for method, size in (("coarse2fine", (2, 2)), ("dis", (8, 8)), ("dis", (12, 40)), ("farneback", (3, 2))):
        a, b = tmp_path / "a.png", tmp_path / "b.png"
        for path in (a, b):
            write_image(path, rng.integers(0, 256, (*size, 3), dtype=np.uint8))
        out = tmp_path / f"{method}_{size[0]}x{size[1]}.png"
        assert main(["flow", str(a), str(b), "--method", method, "-o", str(out)]) == 0, capsys.readouterr().err
        assert read_image(out).shape == (*size, 3)
