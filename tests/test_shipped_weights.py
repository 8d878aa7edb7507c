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
