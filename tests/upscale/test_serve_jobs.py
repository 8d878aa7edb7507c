"""What the web page runs, tested without a browser: limits, uploads, one job at a time, cancel, comparison."""

from __future__ import annotations

import threading
import zipfile

import numpy as np
import pytest
from helpers.media import moving_frames, read_back, write_video

from spectraframe.errors import SpectraFrameError
from spectraframe.io.images import write_image
from spectraframe.web.jobs import (
    JobRunner,
    JobSettings,
    Limits,
    ProgressMeter,
    Workspace,
    comparison,
    parse_size,
    prepare_input,
)


def frames_zip(path, count=4, extra: dict[str, bytes] | None = None):
    folder = path.parent / "zip_frames"
    with zipfile.ZipFile(path, "w") as archive:
        for i, image in enumerate(moving_frames(count)):
            write_image(folder / f"{i}.png", image)
            archive.write(folder / f"{i}.png", f"clip/{i}.png")
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return path


def test_sizes_from_the_page():
    assert parse_size("network scale") == (None, None)
    assert parse_size("x2") == (None, 2.0)
    assert parse_size("x2.5") == (None, 2.5)
    assert parse_size("1080p") == (1080, None)
    assert parse_size(" 720 ") == (720, None)
    with pytest.raises(SpectraFrameError, match="such as x2"):
        parse_size("big")


@pytest.mark.parametrize(("size", "message"), [("x0.05", "smaller than the input"),
                                              ("8p", "smaller than the 24-pixel")])
def test_the_page_keeps_the_command_line_size_rule(tmp_path, tiny_weights, size, message):
    # A tiny size in the page's box used to write a 2x2 video (its 4:3 picture made square) without a word.
    runner = JobRunner(Workspace(tmp_path / "work"), Limits())
    clip = write_video(tmp_path / "clip.mp4", moving_frames(3))
    height, outscale = parse_size(size)
    with pytest.raises(SpectraFrameError, match=message):
        runner.run(clip, JobSettings(weights=tiny_weights, height=height, outscale=outscale), "a")
    assert list(runner.workspace.jobs.iterdir()) == []


def test_limits_say_which_option_raises_them(tmp_path):
    limits = Limits(max_upload_bytes=1000, max_frames=10, max_input_pixels=100)
    (tmp_path / "big.mp4").write_bytes(b"0" * 2000)
    with pytest.raises(SpectraFrameError, match="--max-upload-mb"):
        limits.check_upload(tmp_path / "big.mp4")
    with pytest.raises(SpectraFrameError, match="11 frames.*--max-frames"):
        limits.check_input(5, 5, 11)
    with pytest.raises(SpectraFrameError, match="11x10.*--max-pixels"):
        limits.check_input(11, 10, 3)


def test_a_zip_of_frames_is_extracted_flat_and_only_images_are_taken(tmp_path):
    job = tmp_path / "job"
    job.mkdir()
    upload = frames_zip(tmp_path / "frames.zip", extra={"__MACOSX/._0.png": b"fork"})
    folder = prepare_input(upload, job, Limits())
    assert sorted(p.name for p in folder.iterdir()) == ["0.png", "1.png", "2.png", "3.png"]
    # A name climbing out of the folder lands inside it (only the base name is used).
    escaping = frames_zip(tmp_path / "escape.zip", count=1, extra={"../../outside.png": b"x"})
    (tmp_path / "job2").mkdir()
    prepare_input(escaping, tmp_path / "job2", Limits())
    assert not (tmp_path / "outside.png").exists()
    assert (tmp_path / "job2" / "frames" / "outside.png").exists()
    script = frames_zip(tmp_path / "script.zip", count=1, extra={"run.py": b"print(1)"})
    (tmp_path / "job3").mkdir()
    with pytest.raises(SpectraFrameError, match="run.py, which is not a frame"):
        prepare_input(script, tmp_path / "job3", Limits())


def test_other_uploads_are_refused(tmp_path):
    (tmp_path / "weights.pth").write_bytes(b"not for us")
    with pytest.raises(SpectraFrameError, match="neither a video"):
        prepare_input(tmp_path / "weights.pth", tmp_path, Limits())
    (tmp_path / "broken.zip").write_bytes(b"PK no zip")
    (tmp_path / "job").mkdir()
    with pytest.raises(SpectraFrameError, match="not a readable zip"):
        prepare_input(tmp_path / "broken.zip", tmp_path / "job", Limits())


def test_progress_line_has_rate_and_time_left():
    now = [0.0]
    meter = ProgressMeter(100, clock=lambda: now[0])
    assert meter.describe() == "0/100 frames, starting"
    for _ in range(10):
        meter.tick()
    now[0] = 5.0
    assert meter.describe() == "10/100 frames, 2.00 frames/s, ETA 0:45"


def test_progress_is_shown_at_the_ends_and_at_most_once_per_interval():
    now = [0.0]
    meter = ProgressMeter(5, clock=lambda: now[0])
    shown = []
    for step in range(5):
        now[0] = step * 0.2
        meter.tick()
        if meter.due(interval_s=0.5):
            shown.append(meter.done)
    assert shown == [1, 4, 5]  # t = 0 (first), 0.6 (0.5 s after), last frame


def test_a_job_runs_through_the_pipeline_and_the_comparison_matches_the_output(tmp_path, tiny_weights):
    workspace = Workspace(tmp_path / "work")
    runner = JobRunner(workspace, Limits())
    clip = write_video(tmp_path / "clip.mp4", moving_frames(6))
    seen = []
    result, source = runner.run(clip, JobSettings(weights=tiny_weights, height=30, precision="fp32"), "a",
                                lambda meter: seen.append(meter.done))
    frames, _, _ = read_back(result.output)
    assert len(frames) == 6 and frames[0].shape == (30, 40, 3)
    assert seen == [1, 2, 3, 4, 5, 6]
    assert result.output.parent.parent == workspace.jobs
    assert result.output.name == "clip_30p.mp4"  # what the download is called: the upload's name and the size
    bicubic, upscaled, side_by_side = comparison(source, result.output, 3)
    assert bicubic.shape == upscaled.shape == (30, 40, 3)
    assert np.array_equal(upscaled, frames[3])
    assert side_by_side.shape == (60, 80, 3)
    workspace.close()
    assert not (tmp_path / "work" / "jobs").exists() and not (tmp_path / "work" / "uploads").exists()


def test_a_job_with_a_blend_runs_the_fine_tune_mixed_with_the_default(tmp_path):
    from spectraframe.zoo import model_weights_path

    runner = JobRunner(Workspace(tmp_path / "work"), Limits())
    clip = write_video(tmp_path / "clip.mp4", moving_frames(3, width=24, height=16))
    perceptual = model_weights_path("perceptual")

    def frames(**settings):
        result, _ = runner.run(clip, JobSettings(weights=perceptual, precision="fp32", **settings), "a")
        return read_back(result.output)[0]

    default = runner.run(clip, JobSettings(weights=model_weights_path("default"), precision="fp32"), "a")[0]
    at_zero, at_one = frames(blend=("perceptual", 0.0)), frames(blend=("perceptual", 1.0))
    assert all(np.array_equal(a, b) for a, b in zip(at_zero, read_back(default.output)[0], strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(at_one, frames(), strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(at_zero, at_one, strict=True))
    result, _ = runner.run(clip, JobSettings(weights=perceptual, blend=("perceptual", 0.5), precision="fp32"), "a")
    assert result.output.name == "clip_x4_perceptual-0.5.mp4"
    assert runner.run(clip, JobSettings(weights=perceptual, precision="fp32"), "a")[0].output.name == \
        "clip_x4_perceptual.mp4"


def test_frame_limit_is_checked_before_the_run(tmp_path, tiny_weights):
    runner = JobRunner(Workspace(tmp_path / "work"), Limits(max_frames=5))
    clip = write_video(tmp_path / "clip.mp4", moving_frames(6))
    with pytest.raises(SpectraFrameError, match="6 frames"):
        runner.run(clip, JobSettings(weights=tiny_weights), "a")
    assert list(runner.workspace.jobs.iterdir()) == []  # the job folder went with the refusal


def test_cancel_stops_the_job_and_leaves_nothing(tmp_path, tiny_weights):
    runner = JobRunner(Workspace(tmp_path / "work"), Limits())
    clip = write_video(tmp_path / "clip.mp4", moving_frames(8))
    other_session_cancelled = []

    def on_progress(meter):
        if meter.done == 2:
            other_session_cancelled.append(runner.cancel("someone else"))
            assert runner.cancel("me")

    with pytest.raises(SpectraFrameError, match="cancelled"):
        runner.run(clip, JobSettings(weights=tiny_weights, precision="fp32"), "me", on_progress)
    assert other_session_cancelled == [False]
    assert list(runner.workspace.jobs.iterdir()) == []
    # A cancel left over from a job that never started does not stop the next one.
    runner.cancel("me")
    result, _ = runner.run(clip, JobSettings(weights=tiny_weights, precision="fp32"), "me")
    assert result.frames == 8


def test_jobs_run_one_at_a_time(tmp_path, tiny_weights):
    runner = JobRunner(Workspace(tmp_path / "work"), Limits())
    clip = write_video(tmp_path / "clip.mp4", moving_frames(6))
    progress: list[str] = []  # the session of each frame, in the order the frames were made

    def job(session):
        runner.run(clip, JobSettings(weights=tiny_weights, precision="fp32"), session,
                   lambda meter: progress.append(session))

    threads = [threading.Thread(target=job, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(list(runner.workspace.jobs.iterdir())) == 2
    # One job's frames all come before the other's: no interleaving.
    assert progress in (["a"] * 6 + ["b"] * 6, ["b"] * 6 + ["a"] * 6)


def test_workspace_refuses_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(SpectraFrameError, match="--workdir"):
        Workspace(tmp_path / "mine")
    temporary = Workspace()
    assert temporary.root.is_dir()
    temporary.close()
    assert not temporary.root.exists()


def test_a_closed_page_has_its_job_cancelled_and_its_results_removed(tmp_path, tiny_weights):
    # A job whose page closed used to run to the end, holding the cores, and its result stayed on disk.
    runner = JobRunner(Workspace(tmp_path / "work"), Limits())
    clip = write_video(tmp_path / "clip.mp4", moving_frames(8))
    settings = JobSettings(weights=tiny_weights, precision="fp32")
    finished, _ = runner.run(clip, settings, "page")
    assert finished.output.is_file()

    def close_the_page(meter):
        if meter.done == 2:
            runner.leave("page")

    with pytest.raises(SpectraFrameError, match="cancelled"):
        runner.run(clip, settings, "page", close_the_page)
    assert list(runner.workspace.jobs.iterdir()) == []  # the running job's folder and the finished result
    with pytest.raises(SpectraFrameError, match="the page was closed"):  # a job of it still in line never starts
        runner.run(clip, settings, "page")


def test_each_client_has_a_share_of_the_line(tmp_path):
    runner = JobRunner(Workspace(tmp_path / "work"), Limits(), max_jobs_per_client=2)
    runner.admit("tab1", "ana")
    with pytest.raises(SpectraFrameError, match="this page already has a clip in line"):
        runner.admit("tab1", "ana")
    runner.admit("tab2", "ana")
    with pytest.raises(SpectraFrameError, match="you already have 2 clip"):
        runner.admit("tab3", "ana")
    runner.admit("tab4", "bob")  # another person is not held up by ana's share
    runner.cancel("tab1")
    runner.admit("tab3", "ana")
    assert runner.admitted("tab3") and not runner.admitted("tab1")


def test_shutdown_cancels_the_running_job_and_refuses_new_ones(tmp_path, tiny_weights):
    runner = JobRunner(Workspace(tmp_path / "work"), Limits())
    clip = write_video(tmp_path / "clip.mp4", moving_frames(30))
    started, errors = threading.Event(), []

    def job():
        try:
            runner.run(clip, JobSettings(weights=tiny_weights, precision="fp32"), "a", lambda _: started.set())
        except SpectraFrameError as exc:
            errors.append(str(exc))

    thread = threading.Thread(target=job)
    thread.start()
    assert started.wait(60)
    assert runner.shutdown(timeout_s=60)
    thread.join()
    assert errors == ["cancelled: nothing was kept"] and list(runner.workspace.jobs.iterdir()) == []
    with pytest.raises(SpectraFrameError, match="stopping"):
        runner.admit("b", "bob")
