"""The GPU run's GAN mode, on the CPU with tiny sizes: the half-precision VGG16 that travels, and a GAN fine-tune
on the device-resident corpus that reaches the GAN phase and writes what the GPU call brings back."""

from __future__ import annotations

import csv
from dataclasses import replace

import numpy as np
import torch

from benchmarks.gpu_run import (
    RECIPES,
    init_overrides,
    pack_vgg,
    real_command,
    train_base,
    train_gan_one,
    write_frames_corpus,
)
from spectraframe.archs.rbpn import RBPNConfig
from spectraframe.archs.vgg import VGG16Features
from spectraframe.checkpoints import load_generator
from spectraframe.data.resident import prepare_clip
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


def test_gan_recipe_trains_past_the_discriminator_warmup(tmp_path):
    cache, pack_root, out = tmp_path / "cache", tmp_path / "pack", tmp_path / "out"
    cache.mkdir()
    torch.save([_clip("train_a", 0), _clip("held_b", 1)], cache / "part1.pt")
    (pack_root / "part1").mkdir(parents=True)
    (pack_root / "part1" / "holdout.txt").write_text("held_b\n")
    vgg = tmp_path / "vgg16_fp16.pt"
    pack_vgg(vgg)
    # A step count, not a time, makes the run reach the GAN phase on any machine.
    result = train_gan_one("gan_multi", cache, out, seconds=1.0, device="cpu", pack_root=pack_root, vgg=vgg,
                           batch=1, d_warmup=1, min_steps=3)
    assert result["steps"] >= 3
    with open(out / "gan_multi.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    gan_rows = [row for row in rows if row["perceptual"]]
    assert gan_rows and all(float(row["temporal"]) >= 0 for row in gan_rows)  # the GAN phase with its temporal term
    assert float(rows[-1]["val_psnr"]) > 10  # validated on the held-out clip, not on nothing
    for name in ("gan_multi.safetensors", "gan_multi_half.safetensors"):
        _, metadata = load_generator(out / name)
        assert metadata["provenance"]["recipe"]["config"] == "efficient_gan"


def test_frames_corpus_keeps_the_list_order_and_the_held_out_clips(tmp_path):
    cache, pack_root = tmp_path / "cache", tmp_path / "pack"
    cache.mkdir()
    clips = [_clip("train_a", 0), _clip("held_b", 1)]
    torch.save(clips, cache / "part1.pt")
    (pack_root / "part1").mkdir(parents=True)
    (pack_root / "part1" / "holdout.txt").write_text("held_b\n")
    (pack_root / "part1" / "order.txt").write_text("held_b\ntrain_a\n")
    frames, held_out = write_frames_corpus(cache, pack_root, tmp_path / "frames", workers=2)
    assert (frames / "train.txt").read_text().split() == ["held_b", "train_a"] and held_out == 1
    written = read_frames(sorted((frames / "train_a").glob("im*.png")))
    assert len(written) == 4 and np.array_equal(written[2], clips[0]["hr"][2].permute(1, 2, 0).numpy())
    command = real_command(frames, tmp_path / "run", "cpu", held_out, iterations=10, batch=4, workers=2)
    overrides = command[command.index("--out") + 2:]
    config = load_config("real", overrides)
    assert (config.data.root, config.data.val_holdout, config.train.iterations) == (str(frames), 1, 10)
    assert config.data.degradation == "realworld" and config.train.warmup_iterations == 10  # pixel loss only


def test_base_stage_trains_a_wider_generator_that_the_gan_and_real_runs_start_from(tmp_path):
    cache, pack_root, work = tmp_path / "cache", tmp_path / "pack", tmp_path / "work"
    cache.mkdir()
    work.mkdir()
    # LR frames of 52x52: one 48x48 patch of the pixel-loss recipes fits
    torch.save([_clip("train_a", 0, (208, 208)), _clip("held_b", 1, (208, 208))], cache / "part1.pt")
    (pack_root / "part1").mkdir(parents=True)
    (pack_root / "part1" / "holdout.txt").write_text("held_b\n")
    weights = train_base("wide_deep", cache, work, seconds=1.0, device="cpu", pack_root=pack_root,
                         options=("--batch", "2"))
    model, metadata = load_generator(weights)
    wide = RBPNConfig.from_dict(RECIPES["wide_deep"]().model)
    assert model.config == wide and metadata["provenance"]["recipe"]["batch"] == 2
    # the GAN recipe's config and the real-world run's describe the base's architecture and start from its file
    gan = load_config("efficient_gan", init_overrides(str(weights)))
    assert gan.model.rbpn_config() == wide and gan.model.init_from == str(weights)
    command = real_command(tmp_path / "frames", tmp_path / "run", "cpu", 1, iterations=4, batch=2, workers=1,
                           init_from=str(weights))
    real = load_config("real", command[command.index("--out") + 2:])
    assert real.model.rbpn_config() == wide and real.model.init_from == str(weights)
    # a shipped name needs no architecture fields: its preset is the config's
    assert init_overrides("efficient") == ["model.init_from=efficient"]


def test_overparameterised_recipe_exports_the_plain_efficient_network(tmp_path):
    from benchmarks.gpu_run import train_one

    cache, pack_root = tmp_path / "cache", tmp_path / "pack"
    cache.mkdir()
    torch.save([_clip("train_a", 0, (208, 208)), _clip("held_b", 1, (208, 208))], cache / "part1.pt")
    (pack_root / "part1").mkdir(parents=True)
    (pack_root / "part1" / "holdout.txt").write_text("held_b\n")
    recipe = replace(RECIPES["efficient_op"](), batch=2)
    result = train_one(recipe, cache, tmp_path / "out", seconds=1.0, device="cpu", pack_root=pack_root)
    model, metadata = load_generator(tmp_path / "out" / "efficient_op.safetensors")
    assert result["steps"] > 0 and model.config == RBPNConfig.from_dict(RECIPES["efficient"]().model)
    assert metadata["provenance"]["recipe"]["overparameterise"] == 2
