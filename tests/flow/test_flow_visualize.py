"""Flow files and the colour-wheel picture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from spectraframe.errors import SpectraFrameError
from spectraframe.flow import flow_to_color, read_flo, read_flow, write_flo, write_flow


def test_flo_and_npy_round_trip(tmp_path: Path) -> None:
    flow = torch.randn(2, 5, 7)
    write_flo(tmp_path / "f.flo", flow)
    data = (tmp_path / "f.flo").read_bytes()
    assert len(data) == 12 + 5 * 7 * 8
    assert np.frombuffer(data[:4], "<f4")[0] == np.float32(202021.25)
    assert tuple(np.frombuffer(data[4:12], "<i4")) == (7, 5)
    # interleaved u, v per pixel, row-major
    assert np.frombuffer(data[12:20], "<f4").tolist() == [flow[0, 0, 0].item(), flow[1, 0, 0].item()]
    assert torch.equal(read_flo(tmp_path / "f.flo"), flow)
    write_flow(tmp_path / "f.npy", flow)
    assert np.load(tmp_path / "f.npy").shape == (2, 5, 7)
    assert torch.equal(read_flow(tmp_path / "f.npy"), flow)


def test_bad_flow_files_are_explained(tmp_path: Path) -> None:
    (tmp_path / "bad.flo").write_bytes(b"ABCD" + b"\0" * 20)  # the real tag is "PIEH"
    with pytest.raises(SpectraFrameError, match="not a .flo"):
        read_flo(tmp_path / "bad.flo")
    write_flo(tmp_path / "short.flo", torch.zeros(2, 4, 4))
    (tmp_path / "short.flo").write_bytes((tmp_path / "short.flo").read_bytes()[:-8])
    with pytest.raises(SpectraFrameError, match="needs"):
        read_flo(tmp_path / "short.flo")
    with pytest.raises(SpectraFrameError, match="use .flo or .npy"):
        write_flow(tmp_path / "f.png", torch.zeros(2, 4, 4))


def test_colour_coding() -> None:
    assert (flow_to_color(torch.zeros(2, 3, 4)) == 255).all()  # no motion is white
    flow = torch.zeros(2, 1, 4)
    flow[0, 0, 0], flow[0, 0, 1], flow[1, 0, 2], flow[1, 0, 3] = 1.0, -1.0, 1.0, -1.0
    image = flow_to_color(flow)
    assert image.shape == (1, 4, 3) and image.dtype == np.uint8
    right, left, down, up = image[0].astype(int)
    assert right[0] > 200 and right[2] < 60  # +x: red
    assert left[2] > 200 and left[0] < 60  # -x: cyan-blue
    assert down[0] > 200 and down[1] > 200 and down[2] < 60  # +y: yellow
    assert up[2] > 200 and up[1] < 60  # -y: blue-violet
    # halving the motion halves the saturation
    half = flow_to_color(flow * 0.5, max_magnitude=1.0)
    assert half[0, 0, 1] > image[0, 0, 1]
    assert (flow_to_color(torch.full((2, 2, 2), float("nan"))) == 255).all()
