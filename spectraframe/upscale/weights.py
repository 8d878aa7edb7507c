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


def peek_scale(weights: Path) -> int | None:
    """The scale one of our .safetensors files records, read from its JSON header without loading anything (so a
    command can name its outputs before torch loads); None for other files or a header it cannot read."""
    import json
    import struct

    if weights.suffix != ".safetensors" or not weights.is_file():
        return None
    try:
        with open(weights, "rb") as handle:
            (size,) = struct.unpack("<Q", handle.read(8))
            if size > 100_000_000:
                return None
            header = json.loads(handle.read(size))
        metadata = json.loads(header["__metadata__"]["spectraframe"])
        scale = metadata.get("scale") or metadata["config"]["scale"]
    except (OSError, struct.error, ValueError, KeyError, TypeError):
        return None
    return scale if isinstance(scale, int) and scale > 0 else None
