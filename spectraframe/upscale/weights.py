"""The default weights shipped inside the package (spectraframe/weights/)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from spectraframe.errors import SpectraFrameError

DEFAULT_WEIGHTS = "spectraframe_compact_x4.safetensors"


def default_weights_path() -> Path:
    """Path of the default x4 weights shipped with the package; an error saying to pass --weights if absent."""
    try:
        candidate = resources.files("spectraframe").joinpath("weights", DEFAULT_WEIGHTS)
    except (ModuleNotFoundError, TypeError) as exc:  # pragma: no cover - a broken install
        raise SpectraFrameError(f"cannot locate the spectraframe package data: {exc}") from exc
    if not candidate.is_file():
        raise SpectraFrameError(
            f"the default weights spectraframe/weights/{DEFAULT_WEIGHTS} are not installed with this copy of "
            "spectraframe; pass a generator checkpoint with --weights FILE (.safetensors or a published .pth)"
        )
    return Path(str(candidate))
