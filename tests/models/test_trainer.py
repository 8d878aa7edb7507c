"""Training end to end on real frames: the loss falls, checkpoints load, resume is bit-exact, bad input
fails before training, NaN steps are skipped then stop the run."""

from __future__ import annotations

import csv

import pytest
import torch

from spectraframe.checkpoints import load_discriminator, load_generator, read_metadata
from spectraframe.errors import SpectraFrameError
from spectraframe.models.config import load_config
from spectraframe.models.trainer import CHECKPOINT, Trainer, load_run_config, train

TRAIN = ["vimeo_septuplet/sequences/00001/0001", "vimeo_septuplet/sequences/00001/0005",
         "vimeo_septuplet/sequences/00002/0003", "vimeo_septuplet/sequences/00002/0006"]
VAL = ["vimeo_septuplet/sequences/00002/0008"]


@pytest.fixture(autouse=True)
def _single_threaded(one_thread):
    """Every test here runs with one torch thread (fixture in conftest.py)."""


@pytest.fixture(scope="module")
def lists(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lists")
    (folder / "train.txt").write_text("\n".join(TRAIN) + "\n")
    (folder / "val.txt").write_text("\n".join(VAL) + "\n")
    return folder


@pytest.fixture(scope="module")
def flow_cache(tmp_path_factory):
    # One flow cache for every training test of the session: each clip's flows are solved once.
    return tmp_path_factory.getbasetemp() / "spectraframe_train_flows"


def tiny(train_corpus, lists, flow_cache, *extra: str):
    """RBPN with 8 filters, one stage, one resblock, 3 frames, 16-pixel LR patches."""
    return load_config("cpu_small", [
        f"data.root={train_corpus}", f"data.train_list={lists / 'train.txt'}", f"val.list={lists / 'val.txt'}",
        f"data.flow_cache={flow_cache}", "data.num_workers=0", "data.lr_patch=16",
        "model.base_filter=8", "model.feat=8", "model.num_stages=1", "model.n_resblock=1", "model.num_frames=3",
        "model.residual=false", "train.batch_size=2", "train.lr=1e-3", "train.lr_d=1e-3",
        "loss.perceptual_weight=0", "val.every=0", "log.progress=false", "log.every=1", *extra,
    ])


def _fixed_batch_loss(trainer: Trainer) -> float:
    batch = [trainer.source.dataset[g] for g in range(4)]
    stacked = {k: torch.stack([b[k] for b in batch]) for k in batch[0]}
    with torch.no_grad():
        sr = trainer.generator(stacked["target"], stacked["neighbours"], stacked["flows"])
    return float(torch.nn.functional.mse_loss(sr, stacked["hr"]))


def test_tiny_gan_trains_on_real_frames_and_its_checkpoints_load(tmp_path, train_corpus, lists, flow_cache):
    config = tiny(train_corpus, lists, flow_cache, "train.iterations=14", "train.warmup_iterations=12",
                  "loss.perceptual_weight=6e-3", "val.every=7", "val.frames=centre", "log.image_every=7",
                  "train.checkpoint_every=7", "data.num_workers=0")
    run = tmp_path / "run"
    trainer = Trainer(config, run)
    before = _fixed_batch_loss(trainer)
    result = trainer.fit()
    after = _fixed_batch_loss(trainer)
    assert result.finished and result.step == 14
    assert after < 0.5 * before, f"pixel loss on fixed samples went {before:.4f} -> {after:.4f}"
    gan_steps = [h for h in result.history if h["phase"] == "gan"]
    assert len(gan_steps) == 2 and all({"adversarial", "perceptual", "tv", "d_real", "d_fake"} <= set(h)
                                       for h in gan_steps)
    # Exported weights and the best checkpoint load and match the trained generator.
    model, metadata = load_generator(run / "generator.safetensors")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 trainer.generator.state_dict().values(), strict=True))
    assert metadata["provenance"]["iterations"] == 14 and metadata["provenance"]["data"]["clips"] == 4
    assert read_metadata(run / "best.safetensors")["provenance"]["val_psnr"] > 15
    state = torch.load(run / CHECKPOINT, weights_only=True)
    assert state["step"] == 14
    rows = list(csv.DictReader((run / "log.csv").open()))
    assert [r["step"] for r in rows if r["val_psnr"]] == ["7", "14"]
    assert any((run / "tensorboard").iterdir())
    assert load_run_config(run) == config


def test_resume_is_bit_exact(tmp_path, train_corpus, lists, flow_cache):
    config = tiny(train_corpus, lists, flow_cache, "train.iterations=4", "train.warmup_iterations=1",
                  "train.lr_decay_at=[0.6]", "train.checkpoint_every=100", "data.num_workers=1")
    straight = train(config, tmp_path / "straight")
    first = train(config, tmp_path / "interrupted", max_steps=2)
    assert not first.finished and first.step == 2
    resumed = train(load_run_config(tmp_path / "interrupted"), tmp_path / "interrupted", resume=True)
    assert resumed.step == 4
    a = torch.load(tmp_path / "straight" / CHECKPOINT, weights_only=True)
    b = torch.load(tmp_path / "interrupted" / CHECKPOINT, weights_only=True)
    for part in ("generator", "discriminator"):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part]), part
    for part in ("optimizer_g", "optimizer_d"):
        for key, values in a[part]["state"].items():
            assert all(torch.equal(values[n], b[part]["state"][key][n]) for n in values)
    assert a["scheduler_g"]["_last_lr"] == b["scheduler_g"]["_last_lr"] == [1e-4]
    assert straight.history[2:] == resumed.history
    rows = [r["step"] for r in csv.DictReader((tmp_path / "interrupted" / "log.csv").open())]
    assert rows == [str(s) for s in range(1, 5)]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["data.lr_patch=70"], "smaller than the 70x70 LR patch"),
        (["data.train_list=missing.txt"], "list file not found"),
        (["val.every=5", "val.list=nope.txt"], "validation list"),
        (["data.root=null"], "set data.root"),
    ],
)
def test_bad_input_fails_before_training(tmp_path, train_corpus, lists, flow_cache, extra, message):
    with pytest.raises(SpectraFrameError, match=message):
        Trainer(tiny(train_corpus, lists, flow_cache, *extra), tmp_path / "run")
    assert not (tmp_path / "run" / CHECKPOINT).exists()


def test_val_holdout_validates_on_training_clips_it_never_trains_on(tmp_path, train_corpus, lists, flow_cache,
                                                                     caplog):
    config = tiny(train_corpus, lists, flow_cache, "data.val_holdout=1", "val.list=null", "val.every=5")
    trainer = Trainer(config, tmp_path / "run")
    assert [c.name for c in trainer.val_clips] == [TRAIN[2]]  # the centre of the 4-clip list, every time
    assert [s.name for s in trainer.source.sources] == [TRAIN[0], TRAIN[1], TRAIN[3]]
    source = trainer.source
    assert {source.sources[source.dataset.item_for(g)[0]].name for g in range(6)} == {TRAIN[0], TRAIN[1], TRAIN[3]}
    data = trainer.provenance()["data"]
    assert (data["clips"], data["held_out_clips"], data["samples_per_epoch"]) == (3, 1, 3)
    # Validating on a test list is allowed but said out loud: best.safetensors would be chosen on it.
    test_list = tmp_path / "sep_testlist.txt"
    test_list.write_text(VAL[0] + "\n")
    Trainer(tiny(train_corpus, lists, flow_cache, f"val.list={test_list}", "val.every=5"), tmp_path / "other")
    assert "chosen on the test set" in caplog.text


def test_missing_list_entries_fail_before_training(tmp_path, train_corpus, lists, flow_cache):
    bad = tmp_path / "bad.txt"
    bad.write_text(TRAIN[0] + "\nvimeo_septuplet/sequences/00009/0001\n")
    with pytest.raises(SpectraFrameError, match="00009/0001"):
        Trainer(tiny(train_corpus, lists, flow_cache, f"data.train_list={bad}"), tmp_path / "run")


def test_nonfinite_losses_are_skipped_then_stop_the_run(tmp_path, train_corpus, lists, flow_cache, caplog):
    config = tiny(train_corpus, lists, flow_cache, "train.iterations=10", "train.max_nonfinite_steps=2")
    trainer = Trainer(config, tmp_path / "run")
    trainer.loss.weights.pixel = float("nan")  # configs refuse NaN: a loss that goes non-finite by itself
    initial = {k: v.clone() for k, v in trainer.generator.state_dict().items()}
    with pytest.raises(SpectraFrameError, match="3 steps had NaN/Inf"):
        trainer.fit()
    assert "update skipped" in caplog.text
    assert all(torch.equal(initial[k], v) for k, v in trainer.generator.state_dict().items())


@pytest.mark.parametrize("warmup", [10, 0], ids=["warmup", "gan"])
def test_nonfinite_guard_with_an_enabled_grad_scaler(tmp_path, train_corpus, lists, flow_cache, caplog, warmup):
    # fp16 needs CUDA; an enabled CPU GradScaler has the same bookkeeping: update() without a step() since the
    # last update raises, so a skipped step must not call it. In the GAN phase D still steps, G is skipped.
    config = tiny(train_corpus, lists, flow_cache, "train.iterations=10", "train.max_nonfinite_steps=2",
                  f"train.warmup_iterations={warmup}")
    trainer = Trainer(config, tmp_path / "run")
    trainer.loss.weights.pixel = float("nan")
    trainer.scaler = torch.amp.GradScaler("cpu")
    assert trainer.scaler.is_enabled()
    initial = {k: v.clone() for k, v in trainer.generator.state_dict().items()}
    with pytest.raises(SpectraFrameError, match="3 steps had NaN/Inf"):
        trainer.fit()
    assert caplog.text.count("update skipped") == 3
    assert all(torch.equal(initial[k], v) for k, v in trainer.generator.state_dict().items())


def test_generator_adversarial_term_uses_a_fresh_pass_of_the_updated_discriminator(
    tmp_path, train_corpus, lists, flow_cache
):
    """The published code reused D's output from before D's update; here every D forward is recorded with
    the weights it ran with, and the adversarial value must come from a pass with the updated weights."""
    from spectraframe.losses import adversarial_loss

    trainer = Trainer(tiny(train_corpus, lists, flow_cache, "train.warmup_iterations=0"), tmp_path / "run")
    discriminator = trainer.discriminator
    calls = []
    original = discriminator.logits

    def recording_logits(images):
        out = original(images)
        weights = [p.detach().clone() for p in discriminator.parameters()]
        calls.append({"weights": weights, "logits": out.detach().clone(), "into_g": images.requires_grad})
        return out

    discriminator.logits = recording_logits  # DiscriminatorLogits and the generator step both call this
    before = [p.detach().clone() for p in discriminator.parameters()]
    batch = next(iter(trainer.source.loader(0, 1)))
    values = trainer.train_step(batch)
    after = [p.detach().clone() for p in discriminator.parameters()]

    def same(a, b):
        return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))

    assert values is not None and values["phase"] == "gan"
    assert not same(before, after), "the discriminator was not updated"
    assert len(calls) == 3  # D step on HR and on SR, then the generator step's own pass
    assert all(same(c["weights"], before) and not c["into_g"] for c in calls[:2])
    fresh = calls[2]
    assert same(fresh["weights"], after) and fresh["into_g"]
    adversarial = values["adversarial"]
    assert adversarial == pytest.approx(float(adversarial_loss(fresh["logits"])), rel=1e-6, abs=0)
    # ... and not the stale value of the D step's pass over the same SR.
    assert adversarial != pytest.approx(float(adversarial_loss(calls[1]["logits"])), rel=1e-6, abs=0)


def test_bf16_autocast_on_cpu_trains_both_phases(tmp_path, train_corpus, lists, flow_cache):
    config = tiny(train_corpus, lists, flow_cache, "train.iterations=2", "train.warmup_iterations=1",
                  "train.amp=bf16")
    result = train(config, tmp_path / "run")
    assert [h["phase"] for h in result.history] == ["warmup", "gan"]
    assert all(torch.isfinite(torch.tensor(h["loss_g"])) for h in result.history)
    with pytest.raises(SpectraFrameError, match="fp16 needs CUDA"):
        Trainer(tiny(train_corpus, lists, flow_cache, "train.amp=fp16"), tmp_path / "other")



def test_init_from_starts_a_fine_tune_from_given_weights(tmp_path, train_corpus, lists, flow_cache):
    from spectraframe.archs.rbpn import RBPN
    from spectraframe.checkpoints import save_generator

    first = Trainer(tiny(train_corpus, lists, flow_cache), tmp_path / "a")
    torch.manual_seed(123)
    source = RBPN(first.rbpn_config)
    weights = save_generator(tmp_path / "pixel.safetensors", source)
    tuned = Trainer(tiny(train_corpus, lists, flow_cache, f"model.init_from={weights}"), tmp_path / "b")
    for name, value in source.state_dict().items():
        assert torch.equal(tuned.generator.state_dict()[name], value), name
    # A longer window starts from the shorter one's weights; a shorter one or another width is refused.
    wider = Trainer(tiny(train_corpus, lists, flow_cache, f"model.init_from={weights}", "model.num_frames=5"),
                    tmp_path / "c")
    assert wider.generator.config.num_frames == 5
    assert torch.equal(wider.generator.state_dict()["feat0.conv.weight"], source.state_dict()["feat0.conv.weight"])
    five = save_generator(tmp_path / "five.safetensors", wider.generator)
    with pytest.raises(SpectraFrameError, match="five.safetensors was trained for 5 frames, model has 3"):
        Trainer(tiny(train_corpus, lists, flow_cache, f"model.init_from={five}"), tmp_path / "d")
    with pytest.raises(SpectraFrameError, match="has feat=.*, model has feat=6"):
        Trainer(tiny(train_corpus, lists, flow_cache, f"model.init_from={weights}", "model.feat=6"), tmp_path / "e")


def _straight_and_resumed_agree(config, tmp_path) -> tuple[Trainer, dict]:
    """Train `config` straight through, and again stopped after 2 steps and resumed; the two runs' generator and EMA
    states must be bit-identical. The straight run's trainer and checkpoint."""
    straight = Trainer(config, tmp_path / "straight")
    straight.fit()
    train(config, tmp_path / "interrupted", max_steps=2)
    Trainer(load_run_config(tmp_path / "interrupted"), tmp_path / "interrupted", resume=True).fit()
    a = torch.load(tmp_path / "straight" / CHECKPOINT, weights_only=True)
    b = torch.load(tmp_path / "interrupted" / CHECKPOINT, weights_only=True)
    for part in ("generator", "generator_ema"):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part]), part
    return straight, a


def test_pixel_run_with_ema_and_cosine_resumes_bit_exact_and_ships_the_average(tmp_path, train_corpus, lists,
                                                                               flow_cache):
    config = tiny(train_corpus, lists, flow_cache, "train.iterations=4", "train.warmup_iterations=4",
                  "train.lr_schedule=cosine", "train.lr_min_ratio=0.1", "train.ema=0.9", "loss.pixel=charbonnier",
                  "model.layout=lr", "model.residual=true", "train.checkpoint_every=100")
    straight, a = _straight_and_resumed_agree(config, tmp_path)
    # A pixel-loss run keeps no discriminator: the checkpoint stays small enough to commit.
    assert a["discriminator"] is None and a["optimizer_d"] is None
    assert not (tmp_path / "straight" / "discriminator.safetensors").exists()
    # Cosine from 1e-3 to 1e-4 over 4 steps: at the end the minimum.
    assert a["scheduler_g"]["_last_lr"] == pytest.approx([1e-4])
    # The exported weights are the average, which differs from the raw weights.
    model, _ = load_generator(tmp_path / "straight" / "generator.safetensors")
    exported = model.state_dict()
    assert all(torch.equal(exported[k], v) for k, v in straight.ema.state_dict().items())
    assert not all(torch.equal(exported[k], v) for k, v in straight.generator.state_dict().items())


def test_cosine_schedule_follows_a_new_total_on_resume(tmp_path, train_corpus, lists, flow_cache):
    config = tiny(train_corpus, lists, flow_cache, "train.iterations=4", "train.warmup_iterations=100",
                  "train.lr_schedule=cosine", "train.lr_min_ratio=0")
    train(config, tmp_path / "run", max_steps=2)
    longer = load_run_config(tmp_path / "run", ["train.iterations=8", "train.warmup_iterations=100"])
    trainer = Trainer(longer, tmp_path / "run", resume=True)
    # step 2 of 8 on the cosine: lr * 0.5 * (1 + cos(pi / 4))
    assert trainer.opt_g.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.5 * (1 + 0.7071067811865476))


def test_per_step_records_stay_bounded(tmp_path, train_corpus, lists, flow_cache, monkeypatch):
    # history and step_seconds grew by one entry per step (the paper preset runs ~1.2 M steps).
    from spectraframe.models import run_state

    monkeypatch.setattr(run_state, "KEPT_STEPS", 2)
    trainer = Trainer(tiny(train_corpus, lists, flow_cache, "train.iterations=7", "train.warmup_iterations=7",
                           "log.tensorboard=false"), tmp_path / "run")
    result = trainer.fit()
    assert result.step == 7
    assert 2 <= len(result.history) < 4 and 2 <= len(trainer.step_seconds) < 4
    with (tmp_path / "run" / "log.csv").open() as handle:  # the log keeps every step
        assert [int(row["step"]) for row in csv.DictReader(handle)] == list(range(1, 8))


def test_perceptual_recipe_options_train_end_to_end_and_d_carries_over(tmp_path, train_corpus, lists, flow_cache):
    """The issue-16 recipe on a tiny model: G alone, D alone, then both with D every other step; RaGAN, L1 on
    conv5_3, the temporal term. A new run can start D from the first run's exported discriminator."""
    recipe = ["train.iterations=7", "train.warmup_iterations=1", "train.d_warmup_iterations=2",
              "train.d_update_every=2", "loss.gan_form=ragan", "loss.perceptual_weight=1",
              "loss.perceptual_layers=[conv5_3]", "loss.perceptual_criterion=l1", "loss.vgg_imagenet_normalize=true",
              "loss.temporal_weight=1", "loss.pixel=l1", "train.ema=0.9"]
    first = tmp_path / "first"
    result = train(tiny(train_corpus, lists, flow_cache, *recipe), first)
    phases = [h["phase"] for h in result.history]
    assert phases == ["warmup", "d_warmup", "d_warmup", "gan", "gan", "gan", "gan"]
    gan_steps = result.history[3:]
    assert all({"temporal", "perceptual", "adversarial"} <= set(h) for h in gan_steps)
    assert ["loss_d" in h for h in gan_steps] == [True, False, True, False]
    with open(first / "log.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["phase"] for r in rows] == phases and all(r["temporal"] for r in rows[3:])
    second = Trainer(tiny(train_corpus, lists, flow_cache, *recipe,
                          f"model.discriminator_from={first / 'discriminator.safetensors'}"), tmp_path / "second")
    exported = load_discriminator(first / "discriminator.safetensors")
    assert all(torch.equal(a, b) for a, b in zip(second.discriminator.state_dict().values(),
                                                 exported.state_dict().values(), strict=True))


def test_pixel_loss_run_needs_no_vgg_weights(tmp_path, train_corpus, lists, flow_cache):
    """A run that never leaves the pixel-loss warm-up builds no VGG16 (the GPU machine has none to load), while one
    that reaches the GAN phase still fails before training when the VGG16 file is missing."""
    missing = f"loss.vgg_weights={tmp_path / 'no_vgg16.pth'}"
    config = tiny(train_corpus, lists, flow_cache, "train.iterations=2", "train.warmup_iterations=2",
                  "loss.perceptual_weight=6e-3", missing)
    trainer = Trainer(config, tmp_path / "pixel")
    assert trainer.loss.perceptual is None and trainer.fit().run_dir == tmp_path / "pixel"
    gan = tiny(train_corpus, lists, flow_cache, "train.iterations=2", "train.warmup_iterations=1",
               "loss.perceptual_weight=6e-3", missing)
    with pytest.raises(SpectraFrameError, match="no_vgg16"):
        Trainer(gan, tmp_path / "gan")


def test_overparameterised_run_resumes_bit_exact_and_exports_a_plain_generator(tmp_path, train_corpus, lists,
                                                                               flow_cache):
    from spectraframe.archs.overparameterise import fused_state_dict, is_overparameterised

    config = tiny(train_corpus, lists, flow_cache, "train.iterations=4", "train.warmup_iterations=4",
                  "train.ema=0.9", "model.layout=lr", "model.residual=true", "model.overparameterise=2")
    straight, a = _straight_and_resumed_agree(config, tmp_path)
    assert is_overparameterised(straight.generator) and is_overparameterised(straight.ema)
    assert any(".squeeze" in k for k in a["generator"])  # the branches are the trained state
    model, _ = load_generator(tmp_path / "straight" / "generator.safetensors")
    assert not is_overparameterised(model)
    exported = model.state_dict()
    assert all(torch.equal(exported[k], v) for k, v in fused_state_dict(straight.ema).items())


def test_quantization_aware_run_starts_from_float_weights_and_resumes_exactly(tmp_path, train_corpus, lists,
                                                                              flow_cache):
    from spectraframe.archs.rbpn import RBPN
    from spectraframe.archs.rbpn_int8 import QuantizedRBPN
    from spectraframe.checkpoints import file_digest, save_generator

    first = Trainer(tiny(train_corpus, lists, flow_cache), tmp_path / "a")
    torch.manual_seed(123)
    weights = save_generator(tmp_path / "pixel.safetensors", RBPN(first.rbpn_config))
    config = tiny(train_corpus, lists, flow_cache, f"model.init_from={weights}", "model.quantize=int8",
                  "train.iterations=4", "train.ema=0.9")
    straight, _ = _straight_and_resumed_agree(config, tmp_path)
    assert isinstance(straight.generator, QuantizedRBPN)
    ranges = straight.generator.hr_quant[0]  # calibrated on whole training frames before the first step
    assert bool(ranges.calibrated) and ranges.low < 0 < ranges.high
    model, metadata = load_generator(tmp_path / "straight" / "generator.safetensors")
    assert isinstance(model, QuantizedRBPN) and metadata["quantize"] == "int8"
    assert metadata["provenance"]["quantized_from"] == {"weights_file": "pixel.safetensors",
                                                        "weights_sha256": file_digest(weights)}
    with pytest.raises(SpectraFrameError, match="(?s)fine-tunes trained weights: set model.init_from.*fake "
                                                "quantization is float32.*set train.amp=none"):
        Trainer(tiny(train_corpus, lists, flow_cache, "model.quantize=int8", "train.amp=bf16"), tmp_path / "b")
    with pytest.raises(SpectraFrameError, match="model.quantize must be one of none, int8"):
        Trainer(tiny(train_corpus, lists, flow_cache, "model.quantize=int4"), tmp_path / "c")
