"""Shipped weights by short name: what --weights accepts besides a path."""

from __future__ import annotations

import pytest

from spectraframe.errors import SpectraFrameError
from spectraframe.upscale.weights import (
    DEFAULT_NAME,
    SHIPPED_WEIGHTS,
    default_weights_path,
    resolve_weights,
    shipped_weights_path,
)


def test_every_shipped_name_is_a_file_of_the_package() -> None:
    for name, (filename, description) in SHIPPED_WEIGHTS.items():
        path = shipped_weights_path(name)
        assert path.name == filename and path.is_file() and description


def test_none_is_the_default_and_names_resolve_to_package_files() -> None:
    assert resolve_weights(None) == default_weights_path() == shipped_weights_path(DEFAULT_NAME)
    assert resolve_weights("compact") == shipped_weights_path("compact")


def test_a_file_named_like_a_shipped_model_wins(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "compact").write_bytes(b"")
    assert resolve_weights("compact").resolve() == (tmp_path / "compact").resolve()
    assert resolve_weights("my/run/best.safetensors").as_posix() == "my/run/best.safetensors"


def test_unknown_name_lists_the_shipped_ones() -> None:
    with pytest.raises(SpectraFrameError, match="efficient, compact, perceptual"):
        shipped_weights_path("huge")
