"""Evaluation-set layouts, neighbour windows, and the messages for bad input."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spectraframe.data.eval_datasets import load_eval_clips
from spectraframe.data.windows import neighbour_indices
from spectraframe.errors import SpectraFrameError


def _write_clip(folder: Path, frames: int = 3, size=(24, 16), suffix: str = ".png", mode: str = "RGB") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(folder)))
    for i in range(frames):
        array = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(array).convert(mode).save(folder / f"{i:05d}{suffix}")


def test_neighbour_indices_rbpn_order_and_replication() -> None:
    assert neighbour_indices(3, 10, 7) == [0, 1, 2, 4, 5, 6]
    assert neighbour_indices(0, 10, 7) == [0, 0, 0, 1, 2, 3]
    assert neighbour_indices(9, 10, 7) == [6, 7, 8, 9, 9, 9]
    assert neighbour_indices(0, 1, 3) == [0, 0]
    assert neighbour_indices(2, 5, 1) == []
    with pytest.raises(ValueError, match="odd"):
        neighbour_indices(0, 5, 4)
    with pytest.raises(ValueError, match="outside"):
        neighbour_indices(5, 5, 3)


def test_folder_layout_discovers_clips_and_reads_frames(tmp_path: Path) -> None:
    _write_clip(tmp_path / "calendar", 3)
    _write_clip(tmp_path / "nested" / "walk", 2, suffix=".jpg")
    clips = load_eval_clips(tmp_path)
    assert [c.name for c in clips] == ["calendar", "nested/walk"]
    assert clips[0].scored == [0, 1, 2]
    assert clips[1].read().shape == (2, 16, 24, 3)


def test_list_file_with_nested_entries(tmp_path: Path) -> None:
    _write_clip(tmp_path / "a" / "x", 2)
    _write_clip(tmp_path / "b", 2)
    (tmp_path / "val.txt").write_text("# comment\nb\n\na/x\n")
    assert [c.name for c in load_eval_clips(tmp_path, tmp_path / "val.txt")] == ["b", "a/x"]


def test_vimeo_layout_scores_only_the_centre_frame(tmp_path: Path) -> None:
    folder = tmp_path / "sequences" / "00001" / "0266"
    folder.mkdir(parents=True)
    for i in range(1, 8):
        Image.fromarray(np.full((16, 24, 3), i, np.uint8)).save(folder / f"im{i}.png")
    (tmp_path / "sep_testlist.txt").write_text("00001/0266\n")
    (clip,) = load_eval_clips(tmp_path)
    assert clip.name == "00001/0266" and clip.scored == [3]
    assert [p.name for p in clip.frame_paths] == [f"im{i}.png" for i in range(1, 8)]
    (folder / "im5.png").unlink()
    with pytest.raises(SpectraFrameError, match="lacks im5.png"):
        load_eval_clips(tmp_path)


def test_empty_dataset_and_empty_clip_folders(tmp_path: Path) -> None:
    with pytest.raises(SpectraFrameError, match="is empty"):
        load_eval_clips(tmp_path)
    _write_clip(tmp_path / "good", 2)
    (tmp_path / "hollow").mkdir()
    with pytest.raises(SpectraFrameError, match="hollow is empty"):
        load_eval_clips(tmp_path)
    (tmp_path / "list.txt").write_text("hollow\n")
    with pytest.raises(SpectraFrameError, match="no frames in .*hollow"):
        load_eval_clips(tmp_path, tmp_path / "list.txt")
    with pytest.raises(SpectraFrameError, match="dataset folder not found"):
        load_eval_clips(tmp_path / "nope")


def test_missing_list_entries_are_named(tmp_path: Path) -> None:
    _write_clip(tmp_path / "good", 2)
    (tmp_path / "list.txt").write_text("good\nmissing_one\nmissing_two\n")
    with pytest.raises(SpectraFrameError, match="2 of 3 entries .* missing_one, missing_two"):
        load_eval_clips(tmp_path, tmp_path / "list.txt")
    with pytest.raises(SpectraFrameError, match="list file not found"):
        load_eval_clips(tmp_path, tmp_path / "absent.txt")


def test_unreadable_image_names_the_file(tmp_path: Path) -> None:
    _write_clip(tmp_path / "clip", 2)
    (tmp_path / "clip" / "00002.png").write_bytes(b"not a png at all")
    (clip,) = load_eval_clips(tmp_path)
    with pytest.raises(SpectraFrameError, match="cannot read image .*00002.png"):
        clip.read()


def test_frames_of_different_sizes_are_refused(tmp_path: Path) -> None:
    _write_clip(tmp_path / "clip", 2, size=(24, 16))
    Image.fromarray(np.zeros((20, 24, 3), np.uint8)).save(tmp_path / "clip" / "00009.png")
    (clip,) = load_eval_clips(tmp_path)
    with pytest.raises(SpectraFrameError, match="differ in size"):
        clip.read()


@pytest.mark.parametrize(("mode", "message"), [("L", "grayscale"), ("RGBA", "alpha")])
def test_grayscale_and_rgba_are_converted_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: str, message: str
) -> None:
    _write_clip(tmp_path / "clip", 2, mode=mode)
    (clip,) = load_eval_clips(tmp_path)
    with caplog.at_level(logging.WARNING):
        frames = clip.read()
    assert frames.shape == (2, 16, 24, 3)
    assert message in caplog.text
    assert len(caplog.records) == 1  # one warning per clip folder, not one per frame
