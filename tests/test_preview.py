"""`spectraframe preview`: the comparison picture of one frame of one's own clip, and the estimate."""

from __future__ import annotations

import pytest
from helpers.media import moving_frames, write_video
from PIL import Image

from spectraframe.cli import main as cli_main
from spectraframe.io.images import list_frames, read_image
from spectraframe.upscale.pipeline import UpscaleOptions, Upscaler


def test_a_preview_of_a_user_clip_is_the_frame_upscale_makes(tmp_path, tiny_weights, capsys):
    source = write_video(tmp_path / "holiday.mp4", moving_frames(20, width=40, height=32), fps=10)
    code = cli_main(["preview", str(source), "--at", "1.2", "--weights", str(tiny_weights), "--precision", "fp32"])
    assert code == 0
    out = capsys.readouterr().out
    picture = tmp_path / "holiday_x2_preview.png"
    assert f"comparison picture: {picture}" in out and "frame 12 at 00:00:01.20" in out
    assert "the whole clip (20 frames) would take about" in out and "s a frame" in out
    image = read_image(picture)
    assert image.shape == (2 * 64, 2 * 80, 3)  # bicubic | model at x2, the zoomed detail below
    # The right panel is frame 12 as the whole run makes it (same neighbours, same settings).
    Upscaler(UpscaleOptions(weights=tiny_weights, precision="fp32", progress=False)).run(source, tmp_path / "all")
    frame12 = read_image(list_frames(tmp_path / "all")[12]).astype(int)
    panel = image[:64, 80:].astype(int)
    differs = (panel != frame12).any(axis=2) & ~(panel == [255, 0, 0]).all(axis=2)  # the red detail box aside
    assert not differs[20:].any()  # identical below the label


def test_a_moment_past_the_end_and_an_existing_picture_are_refused(tmp_path, tiny_weights, capsys):
    source = write_video(tmp_path / "clip.mp4", moving_frames(5))
    assert cli_main(["preview", str(source), "--at", "10", "--weights", str(tiny_weights)]) == 2
    assert "--at 00:00:10.00 is past the end of" in capsys.readouterr().err
    Image.new("RGB", (4, 4)).save(tmp_path / "mine.png")
    assert cli_main(["preview", str(source), "-o", str(tmp_path / "mine.png"), "--weights", str(tiny_weights)]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err


@pytest.mark.parametrize("at", ["0", "0.4"])
def test_the_first_and_last_frames_can_be_previewed(tmp_path, tiny_weights, at):
    source = write_video(tmp_path / "clip.mp4", moving_frames(11))  # 0.44 s at 25 fps
    assert cli_main(["preview", str(source), "--at", at, "--weights", str(tiny_weights)]) == 0
    assert (tmp_path / "clip_x2_preview.png").is_file()
