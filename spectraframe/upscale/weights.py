"""The weights shipped inside the package (spectraframe/weights/), by file and by the short names users type.

Two sets of names: `SHIPPED_WEIGHTS` names every weights file (`--weights efficient`), `MODELS` the choices a user
makes by footage (`--model default|real|perceptual`), each the name of one of those files. A file listed here may
not be installed yet (the real-world model before its training has finished): naming it is then an error that says
so, and `installed()` lets lists leave it out."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from spectraframe.errors import SpectraFrameError, did_you_mean

# Short name -> file in spectraframe/weights/, with one line on when to use it.
SHIPPED_WEIGHTS: dict[str, tuple[str, str]] = {
    "efficient": ("spectraframe_efficient_x4.safetensors",
                  "the default: sharper than compact and about 3x faster (efficient RBPN, 3 frames, DIS flow)"),
    "compact": ("spectraframe_compact_x4.safetensors",
                "the previous default (compact RBPN, 3 frames, coarse2fine flow), kept for comparison"),
    "perceptual": ("spectraframe_efficient_x4_perceptual.safetensors",
                   "the default fine-tuned as a GAN (five VGG16 layers, RaGAN, a temporal term against flicker)"),
    "real": ("spectraframe_efficient_x4_real.safetensors",
             "the default fine-tuned on real-world degradations (blur, noise, JPEG, H.264/MPEG-4 compression)"),
}
DEFAULT_NAME = "efficient"
DEFAULT_WEIGHTS = SHIPPED_WEIGHTS[DEFAULT_NAME][0]

# --model NAME -> (the SHIPPED_WEIGHTS name of its file, when to use it).
MODELS: dict[str, tuple[str, str]] = {
    "default": (DEFAULT_NAME, "clean or lightly compressed video (downloads at good bitrates, camera files, "
                              "renders); the sharpest on clean input and the fastest"),
    "real": ("real", "visibly compressed footage (H.264 at CRF 23 or worse: web / phone video at low bitrates, old "
                     "DVD or VHS captures), where the default sharpens blocks and ringing as if they were detail"),
    "perceptual": ("perceptual", "clean footage where texture matters more than fidelity (foliage, fabric, skin): "
                                 "more detail to the eye (lower LPIPS) for a little PSNR and a little more flicker"),
    "compact": ("compact", "the previous default, kept for comparison (about 3x slower than default)"),
}


def shipped_weights_path(name: str = DEFAULT_NAME) -> Path:
    """Path of a shipped weights file by short name; an error saying to pass --weights FILE if absent."""
    if name not in SHIPPED_WEIGHTS:
        raise SpectraFrameError(f"no shipped weights are called {name!r}{did_you_mean(name, SHIPPED_WEIGHTS)}; "
                                f"choose one of {', '.join(SHIPPED_WEIGHTS)}"
                                " or pass a file")
    filename = SHIPPED_WEIGHTS[name][0]
    try:
        candidate = resources.files("spectraframe").joinpath("weights", filename)
    except (ModuleNotFoundError, TypeError) as exc:  # pragma: no cover - a broken install
        raise SpectraFrameError(f"cannot locate the spectraframe package data: {exc}") from exc
    if not candidate.is_file():
        raise SpectraFrameError(
            f"the shipped weights spectraframe/weights/{filename} are not installed with this copy of "
            "spectraframe; pass a generator checkpoint with --weights FILE (.safetensors or a published .pth)"
        )
    return Path(str(candidate))


def installed(name: str) -> bool:
    """Whether the file of shipped weights `name` (a SHIPPED_WEIGHTS name) is in this installation."""
    try:
        shipped_weights_path(name)
    except SpectraFrameError:
        return False
    return True


def model_weights_path(model: str) -> Path:
    """The weights file of a --model name; an error naming the choices, or saying the model is not installed."""
    if model not in MODELS:
        raise SpectraFrameError(f"unknown model {model!r}{did_you_mean(model, MODELS)}: choose one of "
                                f"{', '.join(MODELS)} (`spectraframe models` "
                                "says which to use when), or pass a checkpoint with --weights FILE")
    name = MODELS[model][0]
    if not installed(name):
        raise SpectraFrameError(
            f"the {model!r} model ({SHIPPED_WEIGHTS[name][0]}) is not installed with this copy of spectraframe: it "
            "ships once its training has finished. Use --model default meanwhile, or pass a checkpoint with "
            "--weights FILE")
    return shipped_weights_path(name)


# --model names whose weights are fine-tunes of the default: --strength S blends them with it.
BLENDABLE_MODELS = ("perceptual", "real")


def check_strength(model: str | None, strength: float | None) -> None:
    """--strength needs a --model that is a fine-tune of the default, and a value from 0 to 1."""
    if strength is None:
        return
    if model not in BLENDABLE_MODELS:
        given = f", not --model {model}" if model else ""
        raise SpectraFrameError(f"--strength blends a fine-tuned model with the default: give it with --model "
                                f"{' or --model '.join(BLENDABLE_MODELS)}{given}")
    if not 0.0 <= strength <= 1.0:
        raise SpectraFrameError(f"--strength must be from 0 (the default model) to 1 (the {model} model), "
                                f"got {strength}")


def blended_model(model: str, strength: float, device="cpu", scale: int | None = None):
    """The generator of `--model MODEL --strength S` (ESRGAN's network interpolation): every weight S of the way
    from the default's to MODEL's, so S trades the default's fidelity for the fine-tune's texture or robustness.
    Returns (model, metadata): MODEL's metadata, with the blend recorded in its provenance."""
    from spectraframe.checkpoints import interpolate_generators, load_generator

    check_strength(model, strength)
    tuned_path, base_path = model_weights_path(model), model_weights_path("default")
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


def weights_from_arguments(model: str | None, weights: str | Path | None) -> Path:
    """What --model / --weights of a command name (they exclude each other): the default when neither is given."""
    if model is not None and weights is not None:
        raise SpectraFrameError("give --model NAME or --weights FILE, not both")
    return model_weights_path(model) if model is not None else resolve_weights(weights)


def default_weights_path() -> Path:
    """Path of the default x4 weights shipped with the package."""
    return shipped_weights_path(DEFAULT_NAME)


def resolve_weights(value: str | Path | None) -> Path:
    """What a --weights value names: None is the default, a shipped short name (`compact`) its file unless a
    file of that name exists here, anything else a path."""
    if value is None or str(value) == "":
        return default_weights_path()
    path = Path(value)
    if str(value) in SHIPPED_WEIGHTS and not path.exists():
        return shipped_weights_path(str(value))
    return path


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
