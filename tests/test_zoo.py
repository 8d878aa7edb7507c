"""The model zoo (spectraframe/weights/zoo.yaml through spectraframe.zoo): one set of names for --model and --weights,
old names kept as aliases, and every entry true to its shipped file."""

from __future__ import annotations

import hashlib

import pytest

from spectraframe.errors import SpectraFrameError
from spectraframe.zoo import (
    default_weights_path,
    installed,
    load_zoo,
    model_weights_path,
    parse_zoo,
    resolve_weights,
    shipped_weights_path,
    weights_from_arguments,
)


def test_every_model_is_its_file_with_the_recorded_digest_and_recipe() -> None:
    from spectraframe.checkpoints import load_generator
    from spectraframe.models.config import read_config_file

    zoo = load_zoo()
    assert zoo.names() == ("default", "real", "perceptual", "compact")
    for model in zoo.models:
        path = model_weights_path(model.name)
        assert path.name == model.file and installed(model.name)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == model.sha256, f"{model.file}: update zoo.yaml"
        generator, _ = load_generator(path)
        assert generator.config.scale == 4
        assert read_config_file(model.recipe.removeprefix("spectraframe/configs/").removesuffix(".yaml"))
        assert model.use_for and model.summary and model.command and model.metrics["val"]["psnr_y"] > 0
        assert set(model.metrics) <= set(zoo.evaluation_sets)
        if model.int8:  # the IR pair beside the weights
            xml = path.with_name(model.int8["file"])
            assert xml == path.with_name(path.stem + ".int8.xml")
            for part, key in ((xml, "sha256"), (xml.with_suffix(".bin"), "bin_sha256")):
                assert hashlib.sha256(part.read_bytes()).hexdigest() == model.int8[key], f"{part.name}: update zoo.yaml"
            assert model.int8["command"] and model.int8["summary"]


def test_model_and_weights_take_the_same_names_and_the_old_ones() -> None:
    assert resolve_weights(None) == default_weights_path() == shipped_weights_path(None)
    for name in load_zoo().names():
        assert resolve_weights(name) == model_weights_path(name) == weights_from_arguments(name, None)
    # `efficient` named the default's file before the zoo: it stays an alias everywhere
    assert model_weights_path("efficient") == resolve_weights("efficient") == default_weights_path()
    assert weights_from_arguments(None, None) == default_weights_path()
    assert weights_from_arguments(None, "some/file.safetensors").as_posix() == "some/file.safetensors"


def test_a_file_named_like_a_shipped_model_wins(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "compact").write_bytes(b"")
    assert resolve_weights("compact").resolve() == (tmp_path / "compact").resolve()
    assert resolve_weights("my/run/best.safetensors").as_posix() == "my/run/best.safetensors"


def test_unknown_and_conflicting_names_fail_with_a_sentence() -> None:
    with pytest.raises(SpectraFrameError, match="unknown model 'efficent': choose one of default, real, perceptual"):
        model_weights_path("efficent")
    with pytest.raises(SpectraFrameError, match="no shipped weights are called 'huge'; choose one of default"):
        shipped_weights_path("huge")
    with pytest.raises(SpectraFrameError, match="not both"):
        weights_from_arguments("default", "x.safetensors")


def test_a_malformed_zoo_names_the_entry() -> None:
    import yaml

    from spectraframe.zoo import zoo_path

    values = yaml.safe_load(zoo_path().read_text())
    values["models"][1]["colour"] = "blue"
    with pytest.raises(SpectraFrameError, match="the model 'real' is malformed"):
        parse_zoo(values)
    values["models"][1].pop("colour")
    values["default_model"] = "nope"
    with pytest.raises(SpectraFrameError, match="default_model 'nope'"):
        parse_zoo(values)
