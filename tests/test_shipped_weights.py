"""The weights we ship are installed with the package and are the compact preset."""

from __future__ import annotations

from spectraframe.archs.rbpn import PRESETS
from spectraframe.checkpoints import load_generator
from spectraframe.upscale.weights import default_weights_path


def test_default_weights_are_package_data_of_the_compact_preset() -> None:
    path = default_weights_path()
    assert path.parent.name == "weights" and path.parent.parent.name == "spectraframe"
    model, metadata = load_generator(path)
    assert model.config == PRESETS["compact"]
    assert metadata["flow_method"] == "coarse2fine"
    # the training run is recorded: steps of its last run (training/README.md has the whole chain) and the
    # validation PSNR it was picked at (centre frames of val.txt; bicubic: about 28.1 dB)
    provenance = metadata["provenance"]
    assert provenance["iterations"] >= 3000 and provenance["val_psnr"] > 29.5


def test_perceptual_weights_load_beside_them() -> None:
    model, _ = load_generator(default_weights_path().with_name("spectraframe_compact_x4_perceptual.safetensors"))
    assert model.config == PRESETS["compact"]
