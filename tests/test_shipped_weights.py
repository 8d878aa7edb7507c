"""The weights we ship are installed with the package: the efficient default, its GAN fine-tune, and the compact
previous default."""

from __future__ import annotations

from spectraframe.archs.rbpn import PRESETS
from spectraframe.checkpoints import load_generator
from spectraframe.zoo import default_weights_path, shipped_weights_path

# Y-PSNR of bicubic on the centre frames of the 12 training clips the efficient run holds out.
HELD_OUT_BICUBIC_PSNR = 29.14


def test_default_weights_are_package_data_of_the_efficient_preset() -> None:
    path = default_weights_path()
    assert path.parent.name == "weights" and path.parent.parent.name == "spectraframe"
    model, metadata = load_generator(path)
    assert model.config == PRESETS["efficient"]
    assert metadata["flow_method"] == "dis"
    # the training run is recorded (training/README.md has the whole chain, from the ladder's candidate A) and
    # the held-out validation PSNR it was picked at
    provenance = metadata["provenance"]
    assert provenance["iterations"] >= 1000 and provenance["data"]["held_out_clips"] == 12
    assert provenance["val_psnr"] > HELD_OUT_BICUBIC_PSNR + 0.5


def test_compact_weights_stay_available_by_name() -> None:
    model, metadata = load_generator(shipped_weights_path("compact"))
    assert model.config == PRESETS["compact"] and metadata["flow_method"] == "coarse2fine"


def test_perceptual_weights_are_a_gan_fine_tune_of_the_default() -> None:
    model, metadata = load_generator(shipped_weights_path("perceptual"))
    assert model.config == PRESETS["efficient"] and metadata["flow_method"] == "dis"
    loss = metadata["provenance"]["config"]["loss"]
    # the recipe that keeps flicker down: an adversarial term, the multi-layer VGG loss and the temporal term
    assert loss["adversarial_weight"] > 0 and len(loss["perceptual_layers"]) == 5 and loss["temporal_weight"] > 0
    assert "lineage" in metadata["provenance"]


def test_every_shipped_file_names_the_config_that_makes_it() -> None:
    """`spectraframe train` makes every shipped file: its provenance names a config of spectraframe/configs/ that
    exists and resolves with the recorded overrides, and the command that reproduces it."""
    import shlex
    from importlib import resources

    from spectraframe.models.config import load_config

    files = sorted(resources.files("spectraframe").joinpath("weights").iterdir(), key=lambda p: p.name)
    shipped = [f for f in files if f.name.endswith(".safetensors")]
    assert len(shipped) >= 4
    for path in shipped:
        provenance = load_generator(path)[1]["provenance"]
        recipe = provenance["recipe"]
        config_file = resources.files("spectraframe").joinpath("configs", f"{recipe['config']}.yaml")
        assert config_file.is_file(), f"{path.name}: no config {recipe['config']}"
        config = load_config(recipe["config"], recipe["overrides"])
        command = shlex.split(provenance["reproduce"])
        assert command[:4] == ["spectraframe", "train", "--config", recipe["config"]], path.name
        assert command[6:] == recipe["overrides"], path.name
        # what the recipe resolves to is what the file records it trained with (the fields that existed then)
        recorded = provenance["config"]
        for section in ("model", "loss"):
            for key, value in recorded[section].items():
                assert getattr(getattr(config, section), key) == value, f"{path.name}: {section}.{key}"
        for key in ("batch_size", "lr", "lr_schedule", "ema", "warmup_iterations", "d_warmup_iterations"):
            if key in recorded["train"]:
                assert getattr(config.train, key) == recorded["train"][key], f"{path.name}: train.{key}"
