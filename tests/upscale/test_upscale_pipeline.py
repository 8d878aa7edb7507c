"""End to end: real video files in, real video files out, with a tiny random generator."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
from helpers.media import moving_frames, read_back, write_video
from helpers.models import tiny_model

from spectraframe.checkpoints import save_generator
from spectraframe.cli import main as cli_main
from spectraframe.upscale.pipeline import UpscaleOptions, Upscaler
from spectraframe.upscale.sinks import work_dir_for


def options(weights, **kw) -> UpscaleOptions:
    kw.setdefault("precision", "fp32")  # the exactness checks (tiled == untiled within 1e-4) are for fp32
    kw.setdefault("segment_frames", 4)
    return UpscaleOptions(weights=weights, progress=False, **kw)


def test_video_with_audio_keeps_size_frames_fps_and_audio(tmp_path, tiny_weights):
    source = write_video(tmp_path / "in.mp4", moving_frames(10), fps=25, audio_seconds=0.4)
    result = Upscaler(options(tiny_weights)).run(source, tmp_path / "out.mp4")
    frames, pts, facts = read_back(tmp_path / "out.mp4")
    _, in_pts, in_facts = read_back(source)
    assert (result.width, result.height, result.frames) == (64, 48, 10)
    assert len(frames) == 10 and frames[0].shape == (48, 64, 3)
    assert facts["fps"] == 25
    assert [p * facts["time_base"] for p in pts] == [p * in_facts["time_base"] for p in in_pts]
    assert facts["audio"] == in_facts["audio"]  # same codec (copied, not re-encoded) and same duration
    assert not work_dir_for(tmp_path / "out.mp4").exists()


def test_resume_after_interruption_is_bit_identical(tmp_path, tiny_weights):
    source = write_video(tmp_path / "in.mp4", moving_frames(11), audio_seconds=0.44)
    Upscaler(options(tiny_weights)).run(source, tmp_path / "whole.mp4")

    def interrupt(index: int) -> None:
        if index == 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Upscaler(options(tiny_weights)).run(source, tmp_path / "resumed.mp4", on_frame=interrupt)
    assert not (tmp_path / "resumed.mp4").exists()  # nothing under the final name
    assert work_dir_for(tmp_path / "resumed.mp4").is_dir()
    with pytest.raises(Exception, match="--resume"):
        Upscaler(options(tiny_weights)).run(source, tmp_path / "resumed.mp4")
    computed = []
    result = Upscaler(options(tiny_weights, resume=True)).run(source, tmp_path / "resumed.mp4",
                                                              on_frame=computed.append)
    assert result.resumed_from == 4 and computed == list(range(4, 11))
    assert (tmp_path / "resumed.mp4").read_bytes() == (tmp_path / "whole.mp4").read_bytes()


def test_resume_with_other_settings_is_refused(tmp_path, tiny_weights):
    source = write_video(tmp_path / "in.mp4", moving_frames(9))

    def interrupt(index: int) -> None:
        if index == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Upscaler(options(tiny_weights)).run(source, tmp_path / "out.mp4", on_frame=interrupt)
    with pytest.raises(Exception, match=r"the quality \(--crf\) was 18 in the interrupted run and is 30 now"):
        Upscaler(options(tiny_weights, resume=True, crf=30)).run(source, tmp_path / "out.mp4")
    other = tmp_path / "other_x2.safetensors"
    save_generator(other, tiny_model(seed=1), flow_method="dis")
    with pytest.raises(Exception, match=r"the model \(--model / --weights / --strength\) was tiny_x2.safetensors in "
                                        r"the interrupted run and is other_x2.safetensors now") as refused:
        Upscaler(options(other, resume=True)).run(source, tmp_path / "out.mp4")
    assert "sha256" not in str(refused.value)


def test_an_interruption_before_the_first_segment_keeps_nothing_and_asks_no_resume(tmp_path, tiny_weights, caplog):
    source = write_video(tmp_path / "in.mp4", moving_frames(6))

    def interrupt(index: int) -> None:
        if index == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Upscaler(options(tiny_weights, segment_frames=100)).run(source, tmp_path / "out.mp4", on_frame=interrupt)
    assert "--resume" not in caplog.text and "nothing was kept" in caplog.text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_tiled_run_equals_untiled(tmp_path, tiny_weights):
    source = tmp_path / "frames"
    source.mkdir()
    from spectraframe.io.images import write_image

    for i, image in enumerate(moving_frames(5, width=40, height=30)):
        write_image(source / f"{i:03d}.png", image)
    whole = Upscaler(options(tiny_weights, tile=0)).run(source, tmp_path / "whole")
    tiled = Upscaler(options(tiny_weights, tile=12)).run(source, tmp_path / "tiled")
    assert whole.frames == tiled.frames == 5
    for name in sorted(p.name for p in (tmp_path / "whole").glob("*.png")):
        a = np.asarray(av.open(str(tmp_path / "whole" / name)).decode(video=0).__next__().to_ndarray(format="rgb24"))
        b = np.asarray(av.open(str(tmp_path / "tiled" / name)).decode(video=0).__next__().to_ndarray(format="rgb24"))
        assert a.shape == (60, 80, 3)
        # Float outputs agree within 1e-4 (test_upscale_tiling); after rounding to 8 bits a value sitting
        # on a .5 boundary may land one level apart.
        difference = np.abs(a.astype(int) - b.astype(int))
        assert difference.max() <= 1 and (difference == 0).mean() > 0.999, name


def test_ensemble_run_writes_the_self_ensemble_and_resume_keeps_to_it(tmp_path, tiny_weights):
    import torch

    from spectraframe.generator import SelfEnsemble
    from spectraframe.inference import super_resolve_frame
    from spectraframe.io.images import read_frames, write_image
    from spectraframe.io.tensors import to_tensor

    source = tmp_path / "frames"
    source.mkdir()
    frames = moving_frames(3, width=20, height=16)
    for i, image in enumerate(frames):
        write_image(source / f"{i:03d}.png", image)
    upscaler = Upscaler(options(tiny_weights, ensemble=True, tile=0))
    assert upscaler.describe().endswith("self-ensemble x8")
    assert upscaler.run(source, tmp_path / "ensemble").frames == 3
    Upscaler(options(tiny_weights, tile=0)).run(source, tmp_path / "single")
    ensemble = read_frames(sorted((tmp_path / "ensemble").glob("*.png")))
    single = read_frames(sorted((tmp_path / "single").glob("*.png")))
    assert any(not np.array_equal(a, b) for a, b in zip(ensemble, single, strict=True))
    # frame 1 is what SelfEnsemble (tests/test_generator.py) gives with the flows the weights were trained with
    plain = Upscaler(options(tiny_weights, tile=0)).generator
    expected = super_resolve_frame(SelfEnsemble(plain), to_tensor(frames[1]),
                                   torch.stack([to_tensor(frames[0]), to_tensor(frames[2])]),
                                   flow_method=upscaler.flow_method)
    written = torch.from_numpy(ensemble[1].copy()).permute(2, 0, 1).float() / 255
    assert float((written - expected).abs().max()) <= 0.5 / 255 + 1e-4  # rounding to 8 bits only
    with pytest.raises(Exception, match="ensemble"):  # a resumed run with other settings is refused
        Upscaler(options(tiny_weights, tile=0, resume=True)).run(source, tmp_path / "ensemble")


def test_frame_folder_to_video_uses_given_fps(tmp_path, tiny_weights):
    from spectraframe.io.images import write_image

    folder = tmp_path / "shots"
    for i, image in enumerate(moving_frames(6)):
        write_image(folder / f"f{i:02d}.png", image)
    Upscaler(options(tiny_weights, fps=Fraction(30000, 1001))).run(folder, tmp_path / "shots.mkv")
    frames, _, facts = read_back(tmp_path / "shots.mkv")
    assert len(frames) == 6 and abs(float(facts["fps"]) - 29.97) < 0.01


def test_variable_frame_rate_keeps_each_timestamp(tmp_path, tiny_weights):
    pts = [0, 40, 120, 160, 240, 280, 360, 400]
    source = write_video(tmp_path / "vfr.mkv", moving_frames(8), pts=pts, time_base=Fraction(1, 1000))
    result = Upscaler(options(tiny_weights)).run(source, tmp_path / "out.mkv")
    assert any("variable frame rate" in note for note in result.notes)
    _, out_pts, facts = read_back(tmp_path / "out.mkv")
    assert [p * facts["time_base"] for p in out_pts] == [Fraction(p, 1000) for p in pts]


def test_scene_cut_stops_neighbours(tmp_path, tiny_weights):
    scene_a = moving_frames(5, seed=1)
    scene_b = [f // 4 + 160 for f in moving_frames(5, seed=2)]  # another place: brighter, flatter
    source = write_video(tmp_path / "cut.mkv", scene_a + scene_b, codec="ffv1", pix_fmt="yuv444p")
    windows = []
    upscaler = Upscaler(options(tiny_weights))
    original = upscaler._super_resolve

    def spy(decoded, t, indices, *rest):
        windows.append((t, list(indices)))
        return original(decoded, t, indices, *rest)

    upscaler._super_resolve = spy
    upscaler.run(source, tmp_path / "out.mkv")
    assert dict(windows)[4] == [3, 4] and dict(windows)[5] == [5, 6]
    windows.clear()
    plain = Upscaler(options(tiny_weights, scene_detect=False))
    original = plain._super_resolve
    plain._super_resolve = spy
    plain.run(source, tmp_path / "plain.mkv")
    assert dict(windows)[4] == [3, 5]


def test_cli_upscale_several_inputs_with_summary(tmp_path, tiny_weights, capsys):
    a = write_video(tmp_path / "a.mp4", moving_frames(4))
    b = write_video(tmp_path / "b.mp4", moving_frames(5, seed=3))
    code = cli_main(["upscale", str(a), str(b), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights),
                     "--no-progress", "--flow-method", "dis"])
    out = capsys.readouterr().out
    assert code == 0
    assert "upscaled 2 of 2 inputs" in out and "64x48, 4 frames" in out and "64x48, 5 frames" in out
    assert len(read_back(tmp_path / "out" / "b_x2.mp4")[0]) == 5


def test_frame_folders_play_in_natural_order(tmp_path):
    from spectraframe.io.images import list_frames, write_image
    from spectraframe.upscale.sources import FrameSource

    image = moving_frames(1)[0]
    for name in ["10.png", "2.png", "1.png", "frame_010.png", "frame_002.png", "frame_001.png"]:
        write_image(tmp_path / name, image)
    assert [p.name for p in list_frames(tmp_path)] == [
        "1.png", "2.png", "10.png", "frame_001.png", "frame_002.png", "frame_010.png"]
    assert FrameSource(tmp_path).info.frame_names[:3] == ["1", "2", "10"]


def test_default_output_keeps_mkv_and_mov(tmp_path):
    from spectraframe.upscale.pipeline import default_output

    for name, expected in [("a.mkv", "a_x2.mkv"), ("b.MOV", "b_x2.MOV"), ("c.avi", "c_x2.mp4"),
                           ("d.webm", "d_x2.mp4"), ("e.mp4", "e_x2.mp4")]:
        (tmp_path / name).write_bytes(b"")
        assert default_output(tmp_path / name, 2) == tmp_path / expected
    (tmp_path / "shots").mkdir()
    assert default_output(tmp_path / "shots", 2, tmp_path / "out") == tmp_path / "out" / "shots_x2"


def test_upscale_only_is_accepted_as_a_no_op():
    from spectraframe.cli import build_parser

    for flag in ("--upscale-only", "--upscale_only"):
        args = build_parser().parse_args(["upscale", "clip.mp4", flag])
        assert args.upscale_only


def test_subtitles_of_an_mkv_are_copied_by_default(tmp_path, tiny_weights):
    from helpers.media import add_subtitles, subtitle_texts

    video = write_video(tmp_path / "plain.mkv", moving_frames(6))
    source = add_subtitles(video, tmp_path / "film.mkv", [(0.0, 0.1, "hello"), (0.12, 0.2, "world")])
    code = cli_main(["upscale", str(source), "--weights", str(tiny_weights), "--no-progress", "--flow-method", "dis"])
    assert code == 0
    output = tmp_path / "film_x2.mkv"  # the default keeps Matroska, which holds the subtitles
    assert subtitle_texts(output) == [b"hello", b"world"]
    assert len(read_back(output)[0]) == 6


def test_audio_the_container_cannot_hold_is_reencoded(tmp_path, tiny_weights):
    source = write_video(tmp_path / "in.mkv", moving_frames(8), audio_seconds=0.32, audio_codec="pcm_s16le")
    result = Upscaler(options(tiny_weights, codec="vp9")).run(source, tmp_path / "out.webm")
    assert any("(pcm_s16le) cannot go into webm: re-encoded as" in note for note in result.notes), result.notes
    frames, _, facts = read_back(tmp_path / "out.webm")
    assert len(frames) == 8
    assert [codec for codec, _ in facts["audio"]] == ["opus"]


def test_cli_batch_with_a_failing_input(tmp_path, tiny_weights, capsys):
    a = write_video(tmp_path / "a.mp4", moving_frames(4))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video" * 100)
    b = write_video(tmp_path / "b.mp4", moving_frames(5, seed=3))
    code = cli_main(["upscale", str(a), str(broken), str(b), "-o", str(tmp_path / "out"), "--weights",
                     str(tiny_weights), "--no-progress", "--flow-method", "dis"])
    out = capsys.readouterr().out
    assert code == 1  # some inputs failed (2 is for a command that could not start)
    assert "upscaled 2 of 3 inputs (0 skipped, 1 failed)" in out and f"FAILED   {broken}: cannot open video" in out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_x2.mp4", "b_x2.mp4"]
    assert len(read_back(tmp_path / "out" / "b_x2.mp4")[0]) == 5
