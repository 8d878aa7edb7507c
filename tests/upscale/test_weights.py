"""Shipped weights by short name: what --weights accepts besides a path."""

from __future__ import annotations

import pytest

from spectraframe.errors import SpectraFrameError
from spectraframe.upscale.weights import (
    DEFAULT_NAME,
    DEFAULT_WEIGHTS,
    MODELS,
    SHIPPED_WEIGHTS,
    default_weights_path,
    installed,
    model_weights_path,
    resolve_weights,
    shipped_weights_path,
    weights_from_arguments,
)

NOT_SHIPPED_YET = {"real"}  # listed before its training has finished


def test_every_shipped_name_is_a_file_of_the_package() -> None:
    for name, (filename, description) in SHIPPED_WEIGHTS.items():
        assert description
        if name in NOT_SHIPPED_YET and not installed(name):
            with pytest.raises(SpectraFrameError, match=f"{filename} are not installed"):
                shipped_weights_path(name)
            continue
        path = shipped_weights_path(name)
        assert path.name == filename and path.is_file() and installed(name)


def test_none_is_the_default_and_names_resolve_to_package_files() -> None:
    assert resolve_weights(None) == default_weights_path() == shipped_weights_path(DEFAULT_NAME)
    assert resolve_weights("compact") == shipped_weights_path("compact")


def test_a_file_named_like_a_shipped_model_wins(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "compact").write_bytes(b"")
    assert resolve_weights("compact").resolve() == (tmp_path / "compact").resolve()
    assert resolve_weights("my/run/best.safetensors").as_posix() == "my/run/best.safetensors"


def test_unknown_name_lists_the_shipped_ones() -> None:
    with pytest.raises(SpectraFrameError, match="efficient, compact, perceptual, real"):
        shipped_weights_path("huge")


def test_model_names_resolve_to_their_files() -> None:
    assert model_weights_path("default") == default_weights_path()
    assert model_weights_path("perceptual") == shipped_weights_path("perceptual")
    assert set(MODELS) == {"default", "real", "perceptual", "compact"}
    assert all(weights in SHIPPED_WEIGHTS and when for weights, when in MODELS.values())
    assert weights_from_arguments(None, None) == default_weights_path()
    assert weights_from_arguments("default", None) == default_weights_path()
    assert weights_from_arguments(None, "some/file.safetensors").as_posix() == "some/file.safetensors"


def test_unknown_and_missing_models_fail_with_a_sentence() -> None:
    with pytest.raises(SpectraFrameError, match="unknown model 'efficent': choose one of default, real, perceptual"):
        model_weights_path("efficent")
    if not installed("real"):
        with pytest.raises(SpectraFrameError, match="the 'real' model .* is not installed .* --model default"):
            model_weights_path("real")
    with pytest.raises(SpectraFrameError, match="not both"):
        weights_from_arguments("default", "x.safetensors")


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
    assert metadata["provenance"]["blend"] == {"default": DEFAULT_WEIGHTS, "model": SHIPPED_WEIGHTS["perceptual"][0],
                                               "strength": 0.25}
    assert metadata["flow_method"] == "dis"


@pytest.mark.parametrize("model, strength, message", [
    (None, 0.5, "give it with --model perceptual or --model real$"),
    ("default", 0.5, "--model perceptual or --model real, not --model default"),
    ("perceptual", 1.2, r"from 0 \(the default model\) to 1 \(the perceptual model\), got 1.2"),
    ("real", -0.1, "got -0.1"),
])
def test_strength_errors_say_what_to_give(model, strength, message) -> None:
    from spectraframe.upscale.weights import check_strength

    with pytest.raises(SpectraFrameError, match=message):
        check_strength(model, strength)
    check_strength(model, None)  # no --strength: nothing to check
