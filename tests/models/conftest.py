"""Fixtures of the training tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def one_thread():
    # Tiny models gain nothing from a second thread, and on a busy 2-core machine OpenMP barriers
    # between two threads make every small op many times slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
