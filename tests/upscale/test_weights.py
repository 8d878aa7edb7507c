"""--model MODEL --strength S: a fine-tune blended with the default (names: tests/test_zoo.py)."""

from __future__ import annotations

import pytest

from spectraframe.errors import SpectraFrameError
from spectraframe.zoo import check_strength, default_weights_path, model_weights_path


def test_strength_blends_a_fine_tune_with_the_default() -> None:
    import torch

    from spectraframe.checkpoints import load_generator
    from spectraframe.upscale.weights import blended_model

    model, metadata = blended_model("perceptual", 0.25)
    default, _ = load_generator(model_weights_path("default"))
    perceptual, _ = load_generator(model_weights_path("perceptual"))
    name = next(n for n, v in model.state_dict().items() if v.is_floating_point() and v.numel() > 1)
    expected = 0.75 * default.state_dict()[name] + 0.25 * perceptual.state_dict()[name]
    assert torch.allclose(model.state_dict()[name], expected, atol=1e-6)
    assert metadata["provenance"]["blend"] == {"default": default_weights_path().name,
                                               "model": model_weights_path("perceptual").name, "strength": 0.25}
    assert metadata["flow_method"] == "dis"


@pytest.mark.parametrize("model, strength, message", [
    (None, 0.5, "give it with --model real or --model perceptual$"),
    ("default", 0.5, "--model real or --model perceptual, not --model default"),
    ("perceptual", 1.2, r"from 0 \(the default model\) to 1 \(the perceptual model\), got 1.2"),
    ("real", -0.1, "got -0.1"),
])
def test_strength_errors_say_what_to_give(model, strength, message) -> None:
    with pytest.raises(SpectraFrameError, match=message):
        check_strength(model, strength)
    check_strength(model, None)  # no --strength: nothing to check
