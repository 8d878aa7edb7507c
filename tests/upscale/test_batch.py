"""Many inputs for one `upscale`: folders, patterns, our own outputs skipped, a summary, failures isolated."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

import pytest
from helpers.media import moving_frames, read_back, write_video

from spectraframe.cli import main as cli_main
from spectraframe.errors import SpectraFrameError
from spectraframe.io.images import write_image
from spectraframe.upscale.batch import plan_jobs


def upscale(*argv: str) -> int:
    return cli_main(["upscale", *argv, "--no-progress", "--flow-method", "dis"])


def test_a_folder_with_two_videos_and_a_previous_output(tmp_path, tiny_weights, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "a.mp4", moving_frames(4))
    write_video(videos / "b.mkv", moving_frames(5, seed=3))
    elsewhere = write_video(tmp_path / "c.mp4", moving_frames(3, seed=5))
    assert upscale(str(elsewhere), "-o", str(videos / "c_x2.mp4"), "--weights", str(tiny_weights)) == 0
    capsys.readouterr()

    assert upscale(str(videos), "--weights", str(tiny_weights)) == 0
    out = capsys.readouterr().out
    assert sorted(p.name for p in videos.iterdir()) == ["a.mp4", "a_x2.mp4", "b.mkv", "b_x2.mkv", "c_x2.mp4"]
    assert len(read_back(videos / "a_x2.mp4")[0]) == 4 and len(read_back(videos / "b_x2.mkv")[0]) == 5
    assert "upscaled 2 of 3 inputs (1 skipped, 0 failed)" in out
    assert f"skipped  {videos / 'c_x2.mp4'}: an output of spectraframe" in out

    # Run again: the outputs are ours and the inputs have theirs: nothing to do, nothing replaced.
    before = {p.name: p.stat().st_mtime_ns for p in videos.iterdir()}
    assert upscale(str(videos), "--weights", str(tiny_weights)) == 0
    out = capsys.readouterr().out
    assert "upscaled 0 of 5 inputs (5 skipped, 0 failed)" in out
    assert f"{videos / 'a_x2.mp4'} exists already (pass --overwrite" in out
    assert {p.name: p.stat().st_mtime_ns for p in videos.iterdir()} == before


def test_a_pattern_and_a_folder_of_frame_folders_into_one_output_folder(tmp_path, tiny_weights, capsys):
    shots = tmp_path / "shots"
    for name, seed in (("one", 1), ("two", 2)):
        for i, image in enumerate(moving_frames(3, seed=seed)):
            write_image(shots / name / f"{i}.png", image)
    write_video(tmp_path / "x.mp4", moving_frames(3))
    write_video(tmp_path / "y.mp4", moving_frames(3))
    out = tmp_path / "out"
    assert upscale(str(tmp_path / "*.mp4"), str(shots), "-o", str(out), "--weights", str(tiny_weights)) == 0
    assert sorted(p.name for p in out.iterdir()) == ["one_x2", "two_x2", "x_x2.mp4", "y_x2.mp4"]
    assert len(list((out / "one_x2").glob("*.png"))) == 3
    # Our frames outputs carry the marker: upscaling the output folder skips them all.
    capsys.readouterr()
    assert upscale(str(out), "--weights", str(tiny_weights), "-o", str(tmp_path / "again")) == 0
    assert "upscaled 0 of 4 inputs (4 skipped, 0 failed)" in capsys.readouterr().out


def test_one_failure_does_not_stop_the_others_and_sets_the_exit_status(tmp_path, tiny_weights, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    write_video(folder / "good.mp4", moving_frames(4))
    (folder / "broken.mp4").write_bytes(b"not a video" * 100)
    assert upscale(str(folder), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights)) == 1
    out = capsys.readouterr().out
    assert "upscaled 1 of 2 inputs (0 skipped, 1 failed)" in out
    assert f"FAILED   {folder / 'broken.mp4'}: cannot open video" in out
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["good_x2.mp4"]


def test_plans_are_plain_jobs_and_mistakes_stop_everything_first(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    write_video(folder / "a.mp4", moving_frames(3))
    shutil.copy(folder / "a.mp4", folder / "a.avi")  # both would be a_x4.mp4
    (folder / "notes.txt").write_text("not a video")
    plan = plan_jobs([str(folder)], "x4", tmp_path / "out")
    assert [(j.input.name, j.output) for j in plan.jobs] == [("a.avi", tmp_path / "out" / "a_x4.mp4")]
    assert [p.input.name for p in plan.refused] == ["a.mp4"] and "also the output of" in plan.refused[0].reason
    with pytest.raises(SpectraFrameError, match=r"input not found: .*a.mp5 \(did you mean 'a.mp4'\?\)"):
        plan_jobs([str(folder / "a.avi"), str(folder / "a.mp5")], "x4")
    with pytest.raises(SpectraFrameError, match="-o must be a folder"):
        plan_jobs([str(folder)], "x4", tmp_path / "out.mp4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpectraFrameError, match="holds no videos"):
        plan_jobs([str(tmp_path / "empty")], "x4")


def test_the_python_api_takes_folders_as_the_command_does(tmp_path, tiny_weights):
    from spectraframe.upscale.pipeline import UpscaleOptions, upscale

    write_video(tmp_path / "a.mp4", moving_frames(3))
    write_video(tmp_path / "b.mp4", moving_frames(3, seed=1))
    options = UpscaleOptions(weights=tiny_weights, progress=False)
    assert [r.output.name for r in upscale([tmp_path], None, options)] == ["a_x2.mp4", "b_x2.mp4"]
    assert upscale([tmp_path], None, options) == []  # every input is done or one of ours
    (tmp_path / "c.mp4").write_bytes(b"broken")
    with pytest.raises(SpectraFrameError, match="c.mp4: cannot open video"):
        upscale([tmp_path], None, options)


@dataclass
class Finished:
    """Stands for an UpscaleResult in the batch report."""

    name: str

    def summary(self) -> str:
        return self.name


def test_an_unexpected_error_fails_its_input_only_and_ctrl_c_stops_all(tmp_path):
    from spectraframe.upscale.batch import run_jobs

    for name in ("a", "b", "c"):
        write_video(tmp_path / f"{name}.mp4", moving_frames(3))
    plan = plan_jobs([str(tmp_path)], "x2")

    def run(job):
        if job.input.name == "b.mp4":
            raise RuntimeError("out of memory")
        return job.input.name

    report = run_jobs(plan, run)
    assert report.done == ["a.mp4", "c.mp4"]
    assert [(p.input.name, p.reason) for p in report.failed] == [("b.mp4", "RuntimeError: out of memory")]

    def interrupted_at_b(job):
        if job.input.name == "b.mp4":
            raise KeyboardInterrupt
        return Finished(job.input.name)

    with pytest.raises(KeyboardInterrupt) as stop:  # BatchInterrupted, a KeyboardInterrupt with the report
        run_jobs(plan, interrupted_at_b)
    report = stop.value.report
    assert [r.name for r in report.done] == ["a.mp4"]
    assert report.interrupted.name == "b.mp4" and [p.name for p in report.not_started] == ["c.mp4"]
    lines = report.lines()
    assert lines[0] == "upscaled 1 of 3 inputs (0 skipped, 0 failed, 1 interrupted, 1 not started):"
    assert any(line.startswith("  STOPPED") and "b.mp4" in line for line in lines)
    assert any(line.startswith("  not run") and "c.mp4" in line for line in lines)
    assert "again with --resume: finished outputs are skipped" in lines[-1]
