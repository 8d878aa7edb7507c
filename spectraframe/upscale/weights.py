"""Shipped weights turned into generators: `--model MODEL --strength S` blends a fine-tune with the default.

Names and files of the shipped models live in `spectraframe.zoo` (no torch); this module loads them.
"""

from __future__ import annotations

from pathlib import Path

from spectraframe.errors import SpectraFrameError
from spectraframe.zoo import (  # noqa: F401 (names importers of this module used before the zoo existed)
    check_strength,
    default_weights_path,
    installed,
    load_zoo,
    model_weights_path,
    resolve_weights,
    shipped_weights_path,
    weights_from_arguments,
)


def blended_model(model: str, strength: float, device="cpu", scale: int | None = None):
    """The generator of `--model MODEL --strength S` (ESRGAN's network interpolation): every weight S of the way
    from the default's to MODEL's, so S trades the default's fidelity for the fine-tune's texture or robustness.
    Returns (model, metadata): MODEL's metadata, with the blend recorded in its provenance."""
    from spectraframe.checkpoints import interpolate_generators, load_generator

    check_strength(model, strength)
    tuned_path, base_path = model_weights_path(model), default_weights_path()
    tuned, metadata = load_generator(tuned_path, device, scale=scale)
    base, base_metadata = load_generator(base_path, device, scale=scale)
    if metadata["flow_method"] != base_metadata["flow_method"]:
        raise SpectraFrameError(f"{tuned_path.name} runs with {metadata['flow_method']} flow and {base_path.name} "
                                f"with {base_metadata['flow_method']}: they cannot be blended")
    blend = {"default": base_path.name, "model": tuned_path.name, "strength": strength}
    provenance = {**metadata.get("provenance", {}), "blend": blend}
    return interpolate_generators(base, tuned, strength, tuned_path.name), {**metadata, "provenance": provenance}


def selected_generator(weights: Path, blend: tuple[str, float] | None = None, device="cpu"):
    """(model, metadata) of what a command was given: the weights file, or with `blend` = (MODEL, STRENGTH) from
    `--model MODEL --strength S` that model blended with the default."""
    from spectraframe.checkpoints import load_generator

    return load_generator(weights, device) if blend is None else blended_model(*blend, device)


def __getattr__(name: str):
    """The constants of before the zoo (MODELS, SHIPPED_WEIGHTS, BLENDABLE_MODELS, DEFAULT_NAME), derived from it for
    code that still imports them from here; new code reads `spectraframe.zoo`."""
    from spectraframe import zoo

    catalogue = zoo.load_zoo()
    if name == "MODELS":
        return {model.name: (model.name, model.use_for) for model in catalogue.models}
    if name == "SHIPPED_WEIGHTS":
        return {alias: (model.file, model.summary) for model in catalogue.models
                for alias in (model.name, *model.aliases)}
    if name == "BLENDABLE_MODELS":
        return zoo.blendable_models()
    if name == "DEFAULT_NAME":
        return catalogue.default_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
