"""Shared fixtures. `../shared` (next to the repo) holds real clips and reference facts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

torch.set_num_threads(2)


SHARED_MISSING = (f"{SHARED} is missing: the tests that read its real clips and reference files are skipped "
                  "(put the shared test data next to the repository to run them)")


def pytest_report_header() -> str | None:
    return None if SHARED.is_dir() else SHARED_MISSING


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(SHARED_MISSING)
    return SHARED


@pytest.fixture(scope="session")
def train_corpus(shared_dir: Path) -> Path:
    return shared_dir / "data" / "train_corpus"


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    """A tiny random x2 generator's weights (DIS flow): the upscale pipeline end to end in a fraction of a second."""
    from helpers.models import tiny_model

    from spectraframe.checkpoints import save_generator

    path = tmp_path_factory.mktemp("weights") / "tiny_x2.safetensors"
    save_generator(path, tiny_model(), flow_method="dis")
    return path
