"""`upscale --cluster ray`: a local Ray cluster of two single-CPU actors must write what one machine writes."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import sys
import threading

import av
import numpy as np
import pytest
import torch
from helpers.media import moving_frames, read_back, write_video

from spectraframe.cli import main as cli_main
from spectraframe.upscale.pipeline import UpscaleOptions, Upscaler
from spectraframe.upscale.sinks import work_dir_for


@pytest.fixture(scope="module")
def local_cluster():
    """One Ray session for the module (starting one takes seconds): two CPUs, a small object store."""
    ray = pytest.importorskip("ray")  # the cluster extra: `make setup` installs it, so CI runs these
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=80 * 2**20,
             logging_level=logging.WARNING)
    yield
    ray.shutdown()


@contextlib.contextmanager
def threads_of_one_actor():
    """The network's CPU sums are split by thread (oneDNN), so the reference is run with each actor's one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def single_machine_run(weights, source, output) -> None:
    with threads_of_one_actor():
        Upscaler(options(weights)).run(source, output)


def options(weights, **kw) -> UpscaleOptions:
    return UpscaleOptions(weights=weights, progress=False, segment_frames=4, precision="fp32", **kw)


def packets(path) -> list[tuple[str, int | None, int | None, bytes]]:
    """Every packet of every stream, in file order (Matroska writes random IDs, so whole files may differ)."""
    with av.open(str(path)) as container:
        return [(p.stream.type, p.pts, p.dts, bytes(p)) for p in container.demux() if p.size]


def tags(path) -> dict[str, str]:
    with av.open(str(path)) as container:
        return dict(container.metadata)


def assert_same_output(cluster_output, single_output) -> None:
    assert packets(cluster_output) == packets(single_output)
    written = tags(single_output)  # model, scale, version: upper case in Matroska
    assert tags(cluster_output) == written and "spectraframe_model" in {key.lower() for key in written}
    cluster_frames, cluster_pts, _ = read_back(cluster_output)
    single_frames, single_pts, _ = read_back(single_output)
    assert cluster_pts == single_pts and len(cluster_frames) == len(single_frames)
    assert all(np.array_equal(a, b) for a, b in zip(cluster_frames, single_frames, strict=True))


def test_many_inputs_on_two_actors_equal_single_machine_runs(local_cluster, tmp_path, tiny_weights, caplog,
                                                              monkeypatch, capsys):
    from spectraframe.io.images import write_image

    inputs = tmp_path / "in"
    inputs.mkdir()
    audio = write_video(inputs / "audio.mp4", moving_frames(11), audio_seconds=0.44)
    scene_b = [f // 4 + 160 for f in moving_frames(5, seed=2)]  # a scene cut at frame 5
    cut = write_video(inputs / "cut.mkv", moving_frames(5, seed=1) + scene_b, codec="ffv1", pix_fmt="yuv444p")
    folder = inputs / "shots"
    folder.mkdir()
    for i, image in enumerate(moving_frames(6, seed=4)):
        write_image(folder / f"{i}.png", image)
    resumed = write_video(inputs / "resumed.mp4", moving_frames(10, seed=5))
    (inputs / "broken.mp4").write_bytes(b"not a video")
    single, out = tmp_path / "single", tmp_path / "out"
    out.mkdir()
    tag = Upscaler(options(tiny_weights)).output_tag  # the planner's names (batch.plan_jobs): a folder gets .mp4
    names = {source: f"{source.stem}_{tag}.{'mkv' if source == cut else 'mp4'}"
             for source in (audio, cut, folder, resumed)}
    for source, name in names.items():
        single_machine_run(tiny_weights, source, single / name)

    def interrupt(index: int) -> None:  # a driver lost after its first segment
        if index == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Upscaler(options(tiny_weights)).run(resumed, out / names[resumed], on_frame=interrupt)
    caplog.set_level(logging.INFO, logger="spectraframe.upscale.cluster")
    monkeypatch.chdir(tmp_path)  # relative paths too: the actors run in a folder of Ray's
    code = cli_main(["upscale", "in", "-o", "out", "--weights", os.path.relpath(tiny_weights, tmp_path),
                     "--segment-frames", "4", "--precision", "fp32", "--resume", "--no-progress",
                     "--cluster", "ray", "--workers", "2"])
    printed = capsys.readouterr().out
    assert code == 1  # some inputs failed: the others are done, the summary says which
    assert "upscaled 3 of 5 inputs (0 skipped, 2 failed):" in printed
    assert re.search(r"FAILED   in/broken\.mp4: .*broken\.mp4", printed), printed
    # A frame folder's default output is a folder of PNGs, which only a run without --cluster writes.
    assert re.search(r"FAILED   in/shots: --cluster writes videos: give \S+shots_x2 a video extension", printed)
    assert cli_main(["upscale", "in/shots", "-o", f"out/{names[folder]}", "--weights", str(tiny_weights),
                     "--segment-frames", "4", "--precision", "fp32", "--no-progress", "--cluster", "ray",
                     "--workers", "2"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(names.values())
    assert "1 of 3 segments are done" in caplog.text  # the resumed output's first segment is not redone
    assert re.search(r"\S+-\d+: segment \d+ of", caplog.text)  # done by actors (which of the two: their timing)
    for name in names.values():
        assert_same_output(out / name, single / name)
        assert not work_dir_for(out / name).exists()


def test_a_trimmed_run_is_refused_on_the_cluster_before_anything_loads(tmp_path, tiny_weights, capsys):
    source = write_video(tmp_path / "in.mp4", moving_frames(4))
    code = cli_main(["upscale", str(source), "--weights", str(tiny_weights), "--start", "0.1", "--cluster", "ray"])
    assert code == 2
    assert capsys.readouterr().err.strip() == ("error: --cluster upscales whole inputs: leave out --start/--duration, "
                                               "or upscale the section without --cluster")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_an_actor_killed_mid_segment_is_replaced_and_the_output_unchanged(local_cluster, tmp_path, tiny_weights,
                                                                          caplog, capsys):
    # Frames large enough that a segment takes a good fraction of a second: the kill lands inside one.
    source = write_video(tmp_path / "in.mp4", moving_frames(16, width=160, height=120), audio_seconds=0.6)
    single_machine_run(tiny_weights, source, tmp_path / "single.mp4")
    output = tmp_path / "cluster.mp4"
    work = work_dir_for(output)
    killed: list[int] = []
    stop = threading.Event()

    def kill_the_first_worker_seen_encoding() -> None:
        while not stop.is_set() and not killed:
            partials = list(work.glob("*.partial")) if work.is_dir() else []
            for partial in partials:  # segment_K.HOST-PID.partial: written by that actor process right now
                killed.append(int(re.search(r"-(\d+)\.partial$", partial.name).group(1)))
                os.kill(killed[0], signal.SIGKILL)
                break
            stop.wait(0.01)

    killer = threading.Thread(target=kill_the_first_worker_seen_encoding, daemon=True)
    killer.start()
    caplog.set_level(logging.INFO, logger="spectraframe.upscale.cluster")
    try:
        code = cli_main(["upscale", str(source), "-o", str(output), "--weights", str(tiny_weights),
                         "--segment-frames", "4", "--precision", "fp32", "--cluster", "ray", "--workers", "2"])
    finally:
        stop.set()
        killer.join()
    assert killed, "no segment was seen in progress"
    printed = capsys.readouterr()
    assert code == 0 and "320x240, 16 frames" in printed.out
    # The bar counts frames as the actors finish them; the killed actor's frames are taken back, not doubled.
    shown = [int(n) for n in re.findall(r"(\d+)/16 \[", printed.err)]
    assert shown[-1] == 16 and max(shown) == 16, shown
    assert "lost its actor; retrying it on another" in caplog.text
    assert_same_output(output, tmp_path / "single.mp4")
    assert output.read_bytes() == (tmp_path / "single.mp4").read_bytes()


def test_without_ray_the_cluster_option_says_what_to_install(tmp_path, tiny_weights, monkeypatch, capsys):
    source = write_video(tmp_path / "in.mp4", moving_frames(4))
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError, as when not installed
    code = cli_main(["upscale", str(source), "--weights", str(tiny_weights), "--cluster", "ray"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == ("error: --cluster ray needs Ray, which is not installed here: "
                           "pip install 'spectraframe[cluster]' (or pip install ray)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


@pytest.mark.parametrize("spec", ["spark", "ray:", "dask:ray"])
def test_a_cluster_other_than_ray_is_refused(tmp_path, spec, capsys):
    assert cli_main(["upscale", str(tmp_path / "in.mp4"), "--cluster", spec]) == 2
    assert "--cluster must be ray or ray:ADDRESS" in capsys.readouterr().err
