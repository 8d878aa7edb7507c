"""Names that say the model, and container tags that say model, strength, scale and version."""

from __future__ import annotations

from helpers.media import moving_frames, write_video

from spectraframe import __version__
from spectraframe.cli import main as cli_main
from spectraframe.upscale.provenance import made_by_us, model_label, name_tag, names_a_video, read_output_tags
from spectraframe.upscale.trim import Trim
from spectraframe.upscale.weights import default_weights_path, model_weights_path, shipped_weights_path


def test_names_say_the_model_when_it_is_not_the_default(tmp_path):
    assert model_label(default_weights_path()) is None
    assert model_label(model_weights_path("real")) == "real"
    assert model_label(shipped_weights_path("compact")) == "compact"
    assert model_label(model_weights_path("perceptual"), ("perceptual", 0.5)) == "perceptual-0.5"
    assert model_label(model_weights_path("real"), ("real", 1.0)) == "real"
    copy = tmp_path / model_weights_path("real").name  # somebody's file of the same name is not the shipped one
    copy.write_bytes(b"")
    assert model_label(copy) is None
    assert name_tag(4, label="real") == "x4_real"
    assert name_tag(4, height=1080, label="perceptual-0.5") == "1080p_perceptual-0.5"
    assert name_tag(2, trim=Trim(30, 10)) == "x2_30s-40s" and name_tag(2, trim=Trim(1.5)) == "x2_1.5s-end"
    assert names_a_video(tmp_path / "clip_x4_real.mp4")
    assert not names_a_video(tmp_path / "shots_x2_perceptual-0.5") and not names_a_video(tmp_path / "shots_x1.5")


def test_a_blend_run_names_and_tags_its_output(tmp_path, capsys):
    source = write_video(tmp_path / "clip.mp4", moving_frames(3))
    for extra, name, tags in [
        ([], "clip_x4.mp4", {"model": "default", "scale": "x4"}),
        (["--model", "perceptual", "--strength", "0.5"], "clip_x4_perceptual-0.5.mp4",
         {"model": "perceptual", "strength": "0.5", "scale": "x4"}),
    ]:
        assert cli_main(["upscale", str(source), "--no-progress", *extra]) == 0
        found = read_output_tags(tmp_path / name)
        assert found is not None and {k: found[k] for k in tags} == tags and found["version"] == __version__
        assert found["comment"].startswith(f"upscaled by spectraframe {__version__}: x4, model ")
        assert "an output of spectraframe" in made_by_us(tmp_path / name)
    assert made_by_us(source) is None
