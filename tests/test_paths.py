"""The one output rule every writing command follows (spectraframe.paths), on its own."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spectraframe.errors import SpectraFrameError
from spectraframe.paths import (
    MARKER,
    NAME_MAX,
    PATH_MAX,
    WORK_NAME_ROOM,
    Output,
    check_outputs,
    hidden_sibling,
    install_output,
    mark_ours,
    require_file,
)


def test_an_existing_output_needs_overwrite_and_a_folder_needs_our_marker(tmp_path: Path) -> None:
    mine, theirs, file = tmp_path / "mine", tmp_path / "theirs", tmp_path / "file.png"
    mark_ours(mine, "test")
    theirs.mkdir()
    (theirs / "holiday.jpg").write_bytes(b"jpeg")
    file.write_bytes(b"png")
    for output in (Output(mine, "folder"), Output(theirs, "folder"), Output(file)):
        with pytest.raises(SpectraFrameError, match="pass --overwrite"):
            check_outputs([output])
    check_outputs([Output(mine, "folder"), Output(file)], overwrite=True)
    with pytest.raises(SpectraFrameError, match=f"no {MARKER} marker"):
        check_outputs([Output(theirs, "folder")], overwrite=True)
    with pytest.raises(SpectraFrameError, match="is not a file"):
        check_outputs([Output(mine, "file")], overwrite=True)
    with pytest.raises(SpectraFrameError, match="is not a folder"):
        check_outputs([Output(file, "folder")], overwrite=True)


def test_commands_without_overwrite_take_only_new_or_empty_folders(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "config.yaml").write_text("mine")
    check_outputs([Output(tmp_path / "empty", "folder", empty_ok=True), Output(tmp_path / "new", "folder")],
                  overwrite=None)
    with pytest.raises(SpectraFrameError, match="already exists and is not empty"):
        check_outputs([Output(tmp_path / "used", "folder", "--out", empty_ok=True)], overwrite=None)


def test_an_output_is_never_an_input_nor_holds_one(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    (data / "clip").mkdir(parents=True)
    frame = data / "clip" / "im1.png"
    frame.write_bytes(b"ground truth")
    os.link(frame, tmp_path / "hardlink.png")
    for output, message in [
        (Output(frame), "is the input"),
        (Output(tmp_path / "hardlink.png"), "is the input"),  # another name of the same file
        (Output(data, "folder"), "is the input"),
        (Output(data / "..", "folder"), "is the current folder"),
        (Output(Path("/"), "folder"), "filesystem root"),
    ]:
        with pytest.raises(SpectraFrameError, match=message):
            check_outputs([output], [frame, data], overwrite=True)
    with pytest.raises(SpectraFrameError, match="contains the input"):
        check_outputs([Output(data, "folder")], [frame], overwrite=True)
    with pytest.raises(SpectraFrameError, match="would overwrite each other"):
        check_outputs([Output(tmp_path / "a.png", "file", "-o"), Output(tmp_path / "a.png", "file", "--npy")])
    assert frame.read_bytes() == b"ground truth"


def test_an_output_under_a_regular_file_or_with_too_long_a_name(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SpectraFrameError, match=r"notes.txt is a file, not a folder"):
        check_outputs([Output(tmp_path / "notes.txt" / "sub" / "out.mp4")])
    with pytest.raises(SpectraFrameError, match="more than the 255"):
        check_outputs([Output(tmp_path / ("x" * 256 + ".mp4"))])


def test_hidden_names_fit_however_long_the_output_name(tmp_path: Path) -> None:
    short = hidden_sibling(tmp_path / "clip.mp4", "spectraframe-lock")
    assert short.name == ".clip.mp4.spectraframe-lock"
    names = [tmp_path / ("a" * 240 + ".mp4"), tmp_path / ("a" * 239 + "b.mp4"), tmp_path / ("é" * 125 + ".mp4")]
    siblings = [hidden_sibling(name, "spectraframe-work") for name in names]
    for sibling in siblings:
        assert len(os.fsencode(sibling.name)) <= NAME_MAX and sibling.name.endswith(".spectraframe-work")
        sibling.mkdir()  # the filesystem takes it
    assert len(set(siblings)) == 3  # distinct outputs keep distinct work folders


def test_install_output_replaces_only_after_the_new_one_is_complete(tmp_path: Path) -> None:
    new, output = tmp_path / "new", tmp_path / "out"
    mark_ours(output, "test")
    (output / "old.png").write_bytes(b"old")
    mark_ours(new, "test")
    (new / "new.png").write_bytes(b"new")
    install_output(new, output)
    assert sorted(p.name for p in output.iterdir()) == [MARKER, "new.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_require_file_says_what_the_path_is(tmp_path: Path) -> None:
    with pytest.raises(SpectraFrameError, match="not found"):
        require_file(tmp_path / "missing.mp4", "video file")
    with pytest.raises(SpectraFrameError, match="is a folder"):
        require_file(tmp_path, "video file")
    if Path("/dev/zero").exists():
        with pytest.raises(SpectraFrameError, match="is not a regular file"):
            require_file("/dev/zero", "video file")


def test_paths_too_long_for_the_system_are_one_sentence_up_front(tmp_path: Path) -> None:
    # These ended in an OSError traceback (File name too long) from the first stat.
    deep = tmp_path.joinpath(*["d" * 200] * 21)  # over PATH_MAX, every part a legal name
    with pytest.raises(SpectraFrameError, match=rf"the path has \d+ bytes, more than the {PATH_MAX} a path may have"):
        require_file(deep / "in.mp4", "video file")
    with pytest.raises(SpectraFrameError, match=f"has 300 bytes, more than the {NAME_MAX} a file or folder name"):
        require_file(tmp_path / ("p" * 300) / "in.mp4", "video file")
    with pytest.raises(SpectraFrameError, match=f"with the .* bytes of work names spectraframe adds, more than the "
                                                f"{PATH_MAX}"):
        check_outputs([Output(deep / "out.mp4")])
    with pytest.raises(SpectraFrameError, match="-o .*: its part .* has 300 bytes"):
        check_outputs([Output(tmp_path / ("p" * 300) / "out.mp4")])
    # Just inside the limit, with the room for the work names: accepted.
    fits = PATH_MAX - WORK_NAME_ROOM - len(os.fsencode(str(tmp_path))) - 80
    parts = [("f" * 200)] * (fits // 201) + ["g" * max(1, fits % 201 - 1)]
    check_outputs([Output(tmp_path.joinpath(*parts) / "o.mp4")])


def test_every_command_answers_a_too_long_path_in_one_sentence(tmp_path: Path, capsys) -> None:
    # Up front where a command checks its paths, else at the first system call: never an OSError traceback.
    from spectraframe.cli import main

    deep = str(tmp_path.joinpath(*["d" * 200] * 21))
    long_name = str(tmp_path / ("n" * 300))
    for argv in (["eval", "--data", deep], ["eval", "--data", long_name], ["prepare", f"{deep}/v.mp4", "-o", "out"],
                 ["train", "--config", f"{deep}/c.yaml"], ["serve", "--workdir", f"{deep}/w"],
                 ["flow", f"{deep}/a.png", f"{deep}/b.png", "-o", str(tmp_path / "f.png")]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert "a path may have" in err or "4095 a path" in err or "255 a file or folder name" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == []
