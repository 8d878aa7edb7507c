"""Shared fixtures. `../shared` (next to the repo) holds real clips and reference facts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"{SHARED} is missing: the tests read real clips and reference files from it")
    return SHARED


@pytest.fixture(scope="session")
def train_corpus(shared_dir: Path) -> Path:
    return shared_dir / "data" / "train_corpus"
