"""`upscale --height / --outscale`: the final size after the network, on video and frame-folder outputs."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.media import moving_frames, read_back, write_video

from spectraframe.cli import main as cli_main
from spectraframe.errors import SpectraFrameError
from spectraframe.io.images import read_image, write_image
from spectraframe.upscale.output_size import final_size, fit_frame
from spectraframe.upscale.pipeline import UpscaleOptions, Upscaler
from spectraframe.upscale.sinks import work_dir_for


def options(weights, **kw) -> UpscaleOptions:
    return UpscaleOptions(weights=weights, progress=False, precision="fp32", segment_frames=4, **kw)


def test_height_keeps_aspect_and_video_sides_are_even():
    assert final_size(32, 24, 4) == (128, 96)  # nothing asked: the network's size
    assert final_size(32, 24, 4, target_height=72) == (96, 72)
    assert final_size(32, 24, 4, outscale=2.5) == (80, 60)
    # Odd sides are kept for frames; for video each side goes down to an even number, never above what was asked.
    assert final_size(33, 25, 4, outscale=1, even=False) == (33, 25)
    assert final_size(33, 25, 4, outscale=1) == (32, 24)
    assert final_size(33, 25, 4, target_height=99) == (130, 98)  # 130.68 -> 130


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"outscale": 8}, "x4 these weights reach"),
    ({"target_height": 200}, "more than the x4"),
    ({"target_height": 72, "outscale": 2}, "not both"),
    # Smaller than the input: a 2x2 or 1x1 video (its 3:2 picture made square) used to be written with exit 0.
    ({"outscale": 0.01}, "--outscale 0.01 would make the output smaller than the input"),
    ({"outscale": 0}, "smaller than the input"),
    ({"outscale": float("nan")}, "smaller than the input"),
    ({"target_height": 20}, "--height 20 would make the output smaller than the 24-pixel-high input"),
    # The value as typed: 2.0000001 was printed as "4" in "--outscale 4 is more than the x4".
    ({"outscale": 4.0000001}, "--outscale 4.0000001 is more than the x4"),
])
def test_sizes_the_network_does_not_reach_are_refused(kwargs, message):
    with pytest.raises(SpectraFrameError, match=message):
        final_size(32, 24, 4, **kwargs)


@pytest.mark.parametrize(("argument", "message"), [
    (["--outscale", "0.01"], "--outscale 0.01 would make the output smaller than the input"),
    (["--outscale", "nan"], "argument --outscale: 'nan' is not a number more than 0"),
    (["--outscale", "1e400"], "argument --outscale: '1e400' is not a number more than 0"),
    (["--height", "12"], "--height 12 would make the output smaller than the 24-pixel-high input"),
    (["--height", "99999999999999999999999"], "is not a whole number from 1 to 2147483647"),
])
def test_cli_refuses_sizes_no_one_means_in_one_sentence(tmp_path, tiny_weights, capsys, argument, message):
    source = write_video(tmp_path / "in.mp4", moving_frames(3))
    try:
        status = cli_main(["upscale", str(source), "--weights", str(tiny_weights), "-o", str(tmp_path / "out.mp4"),
                           "--no-progress", *argument])
    except SystemExit as exit:  # argparse's own refusal of a value that is not a number
        status = exit.code
    err = capsys.readouterr().err
    assert status == 2 and message in err and "Traceback" not in err
    assert [line for line in err.splitlines() if "error:" in line] == [next(line for line in err.splitlines()
                                                                            if message in line)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_shrinking_is_anti_aliased():
    # One-pixel stripes halved: an anti-aliased filter gives even grey; point sampling would keep one colour.
    stripes = np.zeros((40, 40, 3), dtype=np.uint8)
    stripes[:, ::2] = 255
    half = fit_frame(stripes, (20, 20)).astype(np.float32)
    assert np.abs(half[4:-4, 4:-4] - 127.5).max() < 8
    assert fit_frame(stripes, (40, 40)) is stripes  # the network's own size: untouched


def test_frames_output_is_the_network_output_resized(tmp_path, tiny_weights):
    source = tmp_path / "frames"
    source.mkdir()
    for i, image in enumerate(moving_frames(4, width=33, height=25)):
        write_image(source / f"{i:02d}.png", image)
    Upscaler(options(tiny_weights)).run(source, tmp_path / "network")
    result = Upscaler(options(tiny_weights, outscale=1.5)).run(source, tmp_path / "resized")
    assert (result.width, result.height) == (49, 37)  # 49.5 x 37.5 rounded down: frames need no even sides
    for i in range(4):
        network = read_image(tmp_path / "network" / f"{i:02d}.png")
        resized = read_image(tmp_path / "resized" / f"{i:02d}.png")
        assert network.shape == (50, 66, 3)
        assert np.array_equal(resized, fit_frame(network, (49, 37)))


def test_cli_height_on_video_gives_size_frames_and_default_name(tmp_path, tiny_weights):
    source = write_video(tmp_path / "in.mp4", moving_frames(6, width=32, height=24))
    assert cli_main(["upscale", str(source), "--weights", str(tiny_weights), "--height", "30", "--no-progress"]) == 0
    frames, _, facts = read_back(tmp_path / "in_30p.mp4")
    assert len(frames) == 6 and frames[0].shape == (30, 40, 3)
    assert facts["fps"] == 25


def test_cli_refuses_an_outscale_beyond_the_network_before_any_work(tmp_path, tiny_weights, capsys):
    source = write_video(tmp_path / "in.mp4", moving_frames(5))
    out = tmp_path / "out.mp4"
    assert cli_main(["upscale", str(source), "--weights", str(tiny_weights), "--outscale", "4", "-o", str(out),
                     "--no-progress"]) == 2
    assert "--outscale 4 is more than the x2 these weights reach" in capsys.readouterr().err
    assert cli_main(["upscale", str(source), "--weights", str(tiny_weights), "--height", "100", "-o", str(out),
                     "--no-progress"]) == 2
    assert "--height 100 needs x4.17" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]  # no output, work folder or lock


def test_resume_with_another_size_is_refused(tmp_path, tiny_weights):
    source = write_video(tmp_path / "in.mp4", moving_frames(9))

    def interrupt(index: int) -> None:
        if index == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Upscaler(options(tiny_weights, height=30)).run(source, tmp_path / "out.mp4", on_frame=interrupt)
    assert work_dir_for(tmp_path / "out.mp4").is_dir()
    with pytest.raises(SpectraFrameError, match="size"):
        Upscaler(options(tiny_weights, resume=True, height=40)).run(source, tmp_path / "out.mp4")
