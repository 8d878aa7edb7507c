"""The GPU machine's side, on the CPU with tiny sizes: the half-precision VGG16 that travels, the frames corpus a
DataLoader recipe reads there, and the thin wrapper that runs `spectraframe train` per recipe config."""

from __future__ import annotations

import json

import numpy as np
import torch

from benchmarks.gpu_run import pack_vgg, recipe_command, train, write_frames_corpus
from spectraframe.archs.vgg import VGG16Features
from spectraframe.checkpoints import load_generator
from spectraframe.data.resident import pack_prepared_file, prepare_clip
from spectraframe.io.images import read_frames
from spectraframe.models.config import load_config


def test_half_precision_vgg_gives_the_same_features(tmp_path):
    target = tmp_path / "vgg16_fp16.pt"
    pack_vgg(target)
    assert all(value.dtype == torch.float16 for value in torch.load(target, weights_only=True).values())
    images = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = VGG16Features(layers=("conv5_3",))(images)["conv5_3"]
        half = VGG16Features(target, layers=("conv5_3",))(images)["conv5_3"]
    assert float((full - half).abs().max()) <= 1e-3 * float(full.abs().max())


def _clip(name: str, seed: int, size: tuple[int, int] = (128, 160)) -> dict:
    rng = np.random.default_rng(seed)
    height, width = size
    base = rng.integers(0, 255, (height + 12, width + 12, 3), dtype=np.uint8)
    frames = [np.ascontiguousarray(base[i : i + height, 2 * i : 2 * i + width]) for i in range(4)]  # moving content
    return prepare_clip(name, frames, 4, 3, "dis").__dict__


def _prepared_pack(tmp_path, clips: list[dict]):
    """A pack part as `prepare` leaves it on the machine: its index, held-out list and prepared clips."""
    cache, part = tmp_path / "cache", tmp_path / "pack" / "part1"
    cache.mkdir()
    part.mkdir(parents=True)
    (part / "index.json").write_text(json.dumps({"crf": 15, "clips": [
        {"name": c["name"], "file": f"{i:04d}.mkv", "frames": 4, "width": 160, "height": 128, "psnr": 45.0}
        for i, c in enumerate(clips)]}))
    torch.save(clips, pack_prepared_file(part, cache, 4, 3, "dis"))
    (part / "holdout.txt").write_text("held_b\n")
    return cache, part.parent


def test_frames_corpus_keeps_the_list_order_and_the_held_out_clips(tmp_path):
    clips = [_clip("train_a", 0), _clip("held_b", 1)]
    cache, pack_root = _prepared_pack(tmp_path, clips)
    (pack_root / "part1" / "order.txt").write_text("held_b\ntrain_a\n")
    frames, held_out = write_frames_corpus(cache, pack_root, tmp_path / "frames", workers=2)
    assert (frames / "train.txt").read_text().split() == ["held_b", "train_a"] and held_out == 1
    written = read_frames(sorted((frames / "train_a").glob("im*.png")))
    assert len(written) == 4 and np.array_equal(written[2], clips[0]["hr"][2].permute(1, 2, 0).numpy())
    command = recipe_command("real", tmp_path / "run", "cpu", pack_root, cache, ["train.iterations=10"],
                             (frames, held_out))
    config = load_config("real", command[command.index("--out") + 2:])
    assert (config.data.root, config.data.val_holdout, config.train.iterations) == (str(frames), 1, 10)
    assert config.data.source == "loader" and config.data.degradation == "realworld"


def test_wrapper_runs_spectraframe_train_on_the_prepared_pack(tmp_path):
    cache, pack_root = _prepared_pack(tmp_path, [_clip("train_a", 0), _clip("held_b", 1)])
    out = tmp_path / "out"
    out.mkdir()
    tiny = ["model.preset=null", "model.base_filter=8", "model.feat=8", "model.num_frames=3", "data.lr_patch=16",
            "train.batch_size=2", "train.iterations=2", "val.every=2", "train.amp=none", "train.threads=1"]
    train(["efficient"], out, "cpu", pack_root, cache, tiny, workers=1, timeout=240)
    assert "exit 0" in (out / "recipes.log").read_text()
    _, metadata = load_generator(out / "efficient.safetensors")
    provenance = metadata["provenance"]
    assert provenance["recipe"]["config"] == "efficient" and provenance["iterations"] == 2
    assert provenance["data"]["source"] == "resident" and provenance["data"]["held_out_clips"] == 1
    assert provenance["commands"][0].startswith("spectraframe train --config efficient --out ")
    assert (out / "efficient_best.safetensors").is_file() and (out / "efficient_last.pt").is_file()
