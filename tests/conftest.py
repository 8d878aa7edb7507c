"""Shared fixtures. `../shared` (next to the repo) holds real clips and reference facts."""

from __future__ import annotations

import sys
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


# OpenVINO's CPU plugin starts a TBB thread pool, and a process forked after that (DataLoader workers,
# multiprocessing, Ray) can crash: the tests that run OpenVINO carry the `openvino` marker, and `make test` runs
# them in a pytest process of their own (`-m openvino`) after all the others (`-m "not openvino"`). Everywhere
# else OpenVINO is as not installed, so `--precision auto` never loads it for the shipped int8 model; in a run of
# everything (plain `pytest`) the openvino tests go last, after every test that forks.
OPENVINO = "openvino"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker(OPENVINO) is not None)  # stable: the order is kept


@pytest.fixture(autouse=True)
def openvino_only_where_marked(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker(OPENVINO) is None:
        monkeypatch.setitem(sys.modules, OPENVINO, None)  # `import openvino` now raises ImportError


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A run without the openvino tests fails if OpenVINO was loaded all the same (at import or collection)."""
    if session.config.getoption("markexpr", "").replace(" ", "") == f"not{OPENVINO}" and \
            sys.modules.get(OPENVINO) is not None:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        session.config.get_terminal_writer().line(
            "error: OpenVINO was loaded in the run without the openvino tests (-m 'not openvino'): a test that "
            "forks later may crash; mark the test that needs it @pytest.mark.openvino", red=True)


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
