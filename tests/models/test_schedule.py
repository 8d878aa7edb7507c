"""Learning-rate schedules over steps or a wall-time budget, and when a budget ends a run."""

from __future__ import annotations

import math

import pytest
import torch

from spectraframe.models.config import TrainConfig
from spectraframe.models.schedule import UNBOUNDED_STEPS, budget_spent, build_scheduler, cosine_factor, total_steps


def _rates(train: TrainConfig, total: int, clock: list[float], steps: int) -> list[float]:
    optimizer = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=train.lr)
    scheduler = build_scheduler(optimizer, train, total, lambda: clock[0])
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        clock[0] += 1.0  # one second per step
        optimizer.step()
        scheduler.step()
    return rates


def test_cosine_over_a_wall_time_budget_follows_the_clock_not_the_steps():
    train = TrainConfig(lr=1.0, lr_schedule="cosine", lr_min_ratio=0.01, seconds=10.0)
    rates = _rates(train, total_steps(train, 100, 1), [0.0], 11)
    assert total_steps(train, 100, 1) == UNBOUNDED_STEPS
    expected = [0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t / 10)) for t in range(11)]
    assert rates == pytest.approx(expected)
    assert not budget_spent(train, 9.9) and budget_spent(train, 10.0)
    # a cap in steps as well: the schedule follows whichever is further along
    capped = TrainConfig(lr=1.0, lr_schedule="cosine", lr_min_ratio=0.0, seconds=100.0, iterations=10)
    assert _rates(capped, 10, [0.0], 6)[5] == pytest.approx(0.5)


def test_warmup_ramps_linearly_then_the_cosine_takes_over():
    train = TrainConfig(lr=1.0, lr_schedule="cosine", lr_min_ratio=0.0, lr_warmup=0.2)
    rates = _rates(train, 10, [0.0], 4)
    assert rates[:3] == pytest.approx([0.0, 0.5 * cosine_factor(TrainConfig(lr_min_ratio=0.0), 0.1),
                                       cosine_factor(TrainConfig(lr_min_ratio=0.0), 0.2)])
    assert TrainConfig().seconds == 0 and not budget_spent(TrainConfig(), 1e9)
