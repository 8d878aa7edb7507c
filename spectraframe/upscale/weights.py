"""The weights shipped inside the package (spectraframe/weights/), by file and by the short names users type."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from spectraframe.errors import SpectraFrameError

# Short name -> file in spectraframe/weights/, with one line on when to use it.
SHIPPED_WEIGHTS: dict[str, tuple[str, str]] = {
    "efficient": ("spectraframe_efficient_x4.safetensors",
                  "the default: as sharp as compact, about 3x faster (efficient RBPN, 3 frames, DIS flow)"),
    "compact": ("spectraframe_compact_x4.safetensors",
                "the previous default (compact RBPN, 3 frames, coarse2fine flow), kept for comparison"),
    "perceptual": ("spectraframe_compact_x4_perceptual.safetensors",
                   "a short GAN fine-tune of compact: experimental, not better than the default yet"),
}
DEFAULT_NAME = "efficient"
DEFAULT_WEIGHTS = SHIPPED_WEIGHTS[DEFAULT_NAME][0]


def shipped_weights_path(name: str = DEFAULT_NAME) -> Path:
    """Path of a shipped weights file by short name; an error saying to pass --weights FILE if absent."""
    if name not in SHIPPED_WEIGHTS:
        raise SpectraFrameError(f"no shipped weights are called {name!r}; choose one of {', '.join(SHIPPED_WEIGHTS)}"
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
