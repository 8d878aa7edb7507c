"""The shipped training configs (`spectraframe/configs/<name>.yaml`) by name. No torch: the CLI lists them in
`spectraframe train --help`."""

from __future__ import annotations

from importlib import resources


def preset_names() -> list[str]:
    folder = resources.files("spectraframe").joinpath("configs")
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))
