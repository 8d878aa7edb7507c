"""Fixtures of the upscale tests: a tiny random generator's weights (helpers in tests/helpers/)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.models import tiny_model

from spectraframe.checkpoints import save_generator


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "tiny_x2.safetensors"
    save_generator(path, tiny_model(), flow_method="dis")
    return path
