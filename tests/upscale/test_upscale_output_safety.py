"""Where an output may go, what --overwrite may replace, the lock against two runs on one output, and
failures that leave no work folder behind when there is nothing to resume."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from helpers.media import moving_frames, read_back, write_video

from spectraframe.cli import main as cli_main
from spectraframe.errors import SpectraFrameError
from spectraframe.io.images import write_image
from spectraframe.paths import MARKER, mark_ours
from spectraframe.upscale import sinks
from spectraframe.upscale.pipeline import UpscaleOptions, Upscaler
from spectraframe.upscale.sinks import check_output, lock_path_for, work_dir_for


def options(weights, **kw) -> UpscaleOptions:
    return UpscaleOptions(weights=weights, progress=False, segment_frames=4, flow_method="dis", **kw)


def frame_folder(folder: Path, count: int = 4) -> Path:
    for i, image in enumerate(moving_frames(count)):
        write_image(folder / f"{i:03d}.png", image)
    return folder


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_frames_output_to_the_current_folder_is_refused(tmp_path, tiny_weights, monkeypatch, capsys):
    # The reported data loss: `upscale shots -o . --overwrite` deleted the current folder, input included.
    frame_folder(tmp_path / "shots")
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    code = cli_main(["upscale", "shots", "-o", ".", "--overwrite", "--weights", str(tiny_weights), "--no-progress"])
    assert code == 2
    assert "is the current folder" in capsys.readouterr().err
    assert snapshot(tmp_path) == before


def test_dangerous_output_locations(tmp_path, monkeypatch):
    project = tmp_path / "project"
    shots = frame_folder(project / "shots")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(project)
    for output, video, message in [
        (Path("/"), False, "filesystem root"),
        (shots, False, "is the input"),
        (project, False, "is the current folder"),
        (tmp_path, False, "contains the input"),
        (home, False, "is your home folder"),
        (project / "shots" / "..", False, "is the current folder"),
    ]:
        with pytest.raises(SpectraFrameError, match=message):
            check_output(output, shots, video=video, overwrite=True)
    assert len(list(shots.iterdir())) == 4


def test_overwrite_replaces_only_the_same_kind_of_output(tmp_path, tiny_weights, capsys):
    shots = frame_folder(tmp_path / "shots")
    video = write_video(tmp_path / "in.mp4", moving_frames(4))
    notes = tmp_path / "notes"
    (notes / "sub").mkdir(parents=True)
    (notes / "a.png").write_bytes(b"png")
    (notes / "todo.txt").write_text("keep me")
    folder_named_like_a_video = tmp_path / "out.mkv"
    (folder_named_like_a_video / "clip.mkv").parent.mkdir()
    (folder_named_like_a_video / "clip.mkv").write_bytes(b"keep me")
    (tmp_path / "README").write_text("a file named like a frames output")
    before = snapshot(tmp_path)
    for source, output, message in [
        (shots, notes, "was not made by spectraframe"),
        (video, folder_named_like_a_video, "is not a file"),
        (shots, tmp_path / "README", "is not a folder"),
    ]:
        code = cli_main(["upscale", str(source), "-o", str(output), "--overwrite", "--weights", str(tiny_weights),
                         "--no-progress"])
        err = capsys.readouterr().err
        assert code == 2 and message in err and "Traceback" not in err, err
    assert snapshot(tmp_path) == before


def test_overwrite_of_a_previous_frames_output(tmp_path, tiny_weights):
    shots = frame_folder(tmp_path / "shots")
    out = tmp_path / "out"
    Upscaler(options(tiny_weights)).run(frame_folder(tmp_path / "older", count=2), out)
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "000.png", "001.png"]
    Upscaler(options(tiny_weights, overwrite=True)).run(shots, out)
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "000.png", "001.png", "002.png", "003.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["older", "out", "shots"]  # no work, lock or aside folder


def test_overwrite_never_replaces_a_folder_of_images_we_did_not_make(tmp_path, tiny_weights, capsys):
    # The reported data loss: `upscale in.mp4 -o PHOTOS --overwrite` deleted a folder of holiday JPEGs because
    # it "holds only images". Only a folder carrying our marker is ours to replace.
    video = write_video(tmp_path / "in.mp4", moving_frames(4))
    photos = tmp_path / "PHOTOS"
    photos.mkdir()
    (photos / "beach.jpg").write_bytes(b"holiday")
    (photos / "2.png").write_bytes(b"more holiday")
    before = snapshot(tmp_path)
    code = cli_main(["upscale", str(video), "-o", str(photos), "--overwrite", "--weights", str(tiny_weights),
                     "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "was not made by spectraframe" in err and "Traceback" not in err, err
    assert snapshot(tmp_path) == before


def test_old_output_survives_a_failed_final_rename(tmp_path, tiny_weights, monkeypatch):
    shots = frame_folder(tmp_path / "shots")
    out = tmp_path / "out"
    mark_ours(out, "upscale")  # a previous frames output
    (out / "old_frame.png").write_bytes(b"old")
    real_replace = os.replace

    def failing_replace(src, dst):
        if Path(dst) == out and Path(src) == work_dir_for(out):
            raise OSError("disk trouble")
        real_replace(src, dst)

    monkeypatch.setattr(sinks.os, "replace", failing_replace)
    with pytest.raises(SpectraFrameError, match="disk trouble.*rerun with --resume"):
        Upscaler(options(tiny_weights, overwrite=True)).run(shots, out)
    assert snapshot(out).get("old_frame.png") == b"old"  # never deleted before the new output was in place
    monkeypatch.undo()
    # The finished frames are kept, resumable.
    Upscaler(options(tiny_weights, overwrite=True, resume=True)).run(shots, out)
    assert len(list(out.glob("*.png"))) == 4


def test_second_run_on_the_same_output_fails_at_once(tmp_path, tiny_weights):
    source = write_video(tmp_path / "in.mp4", moving_frames(6))
    out = tmp_path / "out.mp4"

    def second_run(index: int) -> None:
        if index == 1:
            with pytest.raises(SpectraFrameError, match=f"another spectraframe run is writing {out}"):
                Upscaler(options(tiny_weights, overwrite=True)).run(source, out)

    result = Upscaler(options(tiny_weights)).run(source, out, on_frame=second_run)
    assert result.frames == 6 and len(read_back(out)[0]) == 6
    assert not lock_path_for(out).exists() and not work_dir_for(out).exists()


def test_unexpected_failure_before_any_segment_leaves_no_work_folder(tmp_path, tiny_weights, monkeypatch):
    source = write_video(tmp_path / "in.mp4", moving_frames(9))
    out = tmp_path / "out.mp4"
    upscaler = Upscaler(options(tiny_weights))

    def broken(*args, **kwargs):
        raise RuntimeError("a bug, not the user's input")

    monkeypatch.setattr(upscaler, "_network", broken)
    with pytest.raises(RuntimeError):
        upscaler.run(source, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]
    # With a finished segment there is something to resume: the work folder stays.

    def fail_late(index: int) -> None:
        if index == 5:
            raise RuntimeError("a bug after the first segment")

    with pytest.raises(RuntimeError):
        Upscaler(options(tiny_weights)).run(source, out, on_frame=fail_late)
    assert work_dir_for(out).is_dir() and not lock_path_for(out).exists()
    assert Upscaler(options(tiny_weights, resume=True)).run(source, out).resumed_from == 4


class _FullDisk:
    """A segment file on a full disk: writing fails, and so does the flush when it is closed."""

    def __init__(self, handle):
        self.handle = handle

    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    def close(self):
        self.handle.close()
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name):
        return getattr(self.handle, name)


def test_a_full_disk_is_one_sentence_and_leaves_only_what_resumes(tmp_path, tiny_weights, monkeypatch, capsys):
    # Encoding: a raw OSError (twice: the close failed too), a segment_*.partial left, the --resume hint never said.
    source = write_video(tmp_path / "in.mp4", moving_frames(9))
    out = tmp_path / "out.mp4"
    real_open = sinks.SegmentEncoder.__init__

    def open_on_full_disk(self, path, *rest, **kw):
        real_open(self, path, *rest, **kw)
        if path.name == "segment_000001.packets":
            self._file = _FullDisk(self._file)

    monkeypatch.setattr(sinks.SegmentEncoder, "__init__", open_on_full_disk)
    args = ["upscale", str(source), "-o", str(out), "--weights", str(tiny_weights), "--no-progress",
            "--segment-frames", "4", "--flow-method", "dis"]
    assert cli_main(args) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "rerun with --resume" in err and "Traceback" not in err, err
    assert sorted(p.name for p in work_dir_for(out).iterdir()) == ["segment_000000.packets", "state.json"]
    assert not out.exists()
    monkeypatch.undo()

    # Muxing: a half final.mp4 was left filling the disk.
    def mux_on_full_disk(path, *args):
        path.write_bytes(b"half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sinks, "_mux", mux_on_full_disk)
    assert cli_main([*args, "--resume"]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "rerun with --resume" in err and "Traceback" not in err, err
    assert not any(p.name.startswith("final") for p in work_dir_for(out).iterdir())
    monkeypatch.undo()
    assert cli_main([*args, "--resume"]) == 0
    assert len(read_back(out)[0]) == 9 and sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4"]


def test_a_long_output_name_gets_a_lock_and_work_folder(tmp_path, tiny_weights):
    # A ~220-character name made the lock file's name exceed 255 bytes (an OSError before any work).
    source = write_video(tmp_path / "in.mp4", moving_frames(4))
    out = tmp_path / ("holiday " * 30 + "x4.mp4")
    assert len(out.name) == 246  # a legal name; ".NAME.spectraframe-lock" is not
    assert Upscaler(options(tiny_weights)).run(source, out).frames == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["in.mp4", out.name])
