"""The shipped models, read from `spectraframe/weights/zoo.yaml`: their names, files, provenance and figures.

Training (`model.init_from: default`), upscaling, evaluation and the CLI all name shipped weights through this module,
which imports no torch. Users have one set of names: `--model NAME` and `--weights NAME` both take a model's `name`
or one of its `aliases` (`efficient`, the default's file name before the zoo, still works); `--weights` also takes a
file. A model listed here whose file is not installed is an error that says so, and `installed()` lets lists leave it
out.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from spectraframe.errors import SpectraFrameError, did_you_mean

ZOO_FILE = "zoo.yaml"
# The metric keys of an evaluation set, in the order tables show them, with their column titles.
METRICS = {"psnr_y": "PSNR-Y", "ssim_y": "SSIM-Y", "lpips": "LPIPS ↓", "tof": "tOF ↓"}


@dataclass(frozen=True)
class ZooModel:
    """One shipped weights file and what a user needs to choose it; see zoo.yaml for the fields."""

    name: str
    file: str
    sha256: str
    summary: str
    use_for: str
    recipe: str
    command: str
    trained_on: str
    training_parts: tuple[str, ...]
    training_clips: str
    aliases: tuple[str, ...] = ()
    fine_tune_of: str | None = None
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The model's int8 form for CPUs (OpenVINO IR beside the weights; keys: file, sha256, bin_sha256, command,
    # summary), or None.
    int8: dict[str, str] | None = None


@dataclass(frozen=True)
class Zoo:
    models: tuple[ZooModel, ...]
    default_model: str
    evaluation_sets: dict[str, dict[str, str]]
    bicubic: dict[str, dict[str, Any]]
    training_data: dict[str, Any]

    def names(self) -> tuple[str, ...]:
        return tuple(model.name for model in self.models)

    def get(self, name: str) -> ZooModel | None:
        """The model called `name` or having it as an alias; None if there is none."""
        for model in self.models:
            if name == model.name or name in model.aliases:
                return model
        return None


def zoo_path() -> Path:
    try:
        return Path(str(resources.files("spectraframe").joinpath("weights", ZOO_FILE)))
    except (ModuleNotFoundError, TypeError) as exc:  # pragma: no cover - a broken install
        raise SpectraFrameError(f"cannot locate the spectraframe package data: {exc}") from exc


def parse_zoo(values: dict[str, Any]) -> Zoo:
    """A Zoo from zoo.yaml's content; an error naming the entry at fault when a field is missing or unknown."""
    models = []
    for entry in values.get("models", []):
        entry = dict(entry)
        for key in ("aliases", "training_parts"):
            entry[key] = tuple(entry.get(key) or ())
        try:
            models.append(ZooModel(**entry))
        except TypeError as exc:
            raise SpectraFrameError(f"{ZOO_FILE}: the model {entry.get('name')!r} is malformed: {exc}") from exc
    zoo = Zoo(tuple(models), values["default_model"], values["evaluation_sets"], values["bicubic"],
              values["training_data"])
    if zoo.get(zoo.default_model) is None:
        raise SpectraFrameError(f"{ZOO_FILE}: default_model {zoo.default_model!r} is not one of its models")
    return zoo


@functools.cache
def load_zoo() -> Zoo:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser: 30x faster, and the CLI waits for it
    return parse_zoo(yaml.load(zoo_path().read_text(encoding="utf-8"), Loader=loader))


def _model(name: str, option: str = "--model") -> ZooModel:
    zoo = load_zoo()
    model = zoo.get(name)
    if model is None:
        names = zoo.names()
        hint = did_you_mean(name, names)
        raise SpectraFrameError(f"unknown model {name!r}{hint}: choose one of {', '.join(names)} "
                                "(`spectraframe models` says which to use when), or pass a checkpoint with "
                                f"--weights FILE" if option == "--model" else
                                f"no shipped weights are called {name!r}{hint}; choose one of "
                                f"{', '.join(names)} or pass a file")
    return model


def _file_path(model: ZooModel) -> Path:
    return zoo_path().parent / model.file


def installed(name: str) -> bool:
    """Whether the file of the shipped model `name` (or alias) is in this installation."""
    model = load_zoo().get(name)
    return model is not None and _file_path(model).is_file()


def model_weights_path(name: str) -> Path:
    """The weights file of a shipped model name; an error naming the choices, or saying it is not installed."""
    model = _model(name)
    path = _file_path(model)
    if not path.is_file():
        raise SpectraFrameError(
            f"the {model.name!r} model (spectraframe/weights/{model.file}) is not installed with this copy of "
            "spectraframe; pass a generator checkpoint with --weights FILE (.safetensors or a published .pth)")
    return path


def shipped_weights_path(name: str | None = None) -> Path:
    """The weights file of a shipped name as `--weights` takes it (the default model when None)."""
    return model_weights_path(_model(name or load_zoo().default_model, option="--weights").name)


def default_weights_path() -> Path:
    """Path of the default x4 weights shipped with the package."""
    return model_weights_path(load_zoo().default_model)


def resolve_weights(value: str | Path | None) -> Path:
    """What a --weights value (or a config's `model.init_from`) names: None is the default, a shipped name its
    file unless a file of that name exists here, anything else a path."""
    if value is None or str(value) == "":
        return default_weights_path()
    path = Path(value)
    if load_zoo().get(str(value)) is not None and not path.exists():
        return model_weights_path(str(value))
    return path


def weights_from_arguments(model: str | None, weights: str | Path | None) -> Path:
    """What --model / --weights of a command name (they exclude each other): the default when neither is given."""
    if model is not None and weights is not None:
        raise SpectraFrameError("give --model NAME or --weights FILE, not both")
    return model_weights_path(model) if model is not None else resolve_weights(weights)


def blendable_models() -> tuple[str, ...]:
    """The models that are fine-tunes of the default: `--strength S` blends them with it."""
    zoo = load_zoo()
    return tuple(model.name for model in zoo.models if model.fine_tune_of == zoo.default_model)


def check_strength(model: str | None, strength: float | None) -> None:
    """--strength needs a --model that is a fine-tune of the default, and a value from 0 to 1."""
    if strength is None:
        return
    blendable = blendable_models()
    if model not in blendable:
        given = f", not --model {model}" if model else ""
        raise SpectraFrameError(f"--strength blends a fine-tuned model with the default: give it with --model "
                                f"{' or --model '.join(blendable)}{given}")
    if not 0.0 <= strength <= 1.0:
        raise SpectraFrameError(f"--strength must be from 0 (the default model) to 1 (the {model} model), "
                                f"got {strength}")
