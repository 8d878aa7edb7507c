"""When a run ends and how fast it learns: the learning-rate schedules (over steps or a wall-time budget), and which
network each step trains (the pixel-loss warm-up, D's warm-up, D's update ratio)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from spectraframe.models.config import TrainConfig

# The step count of a run bounded only by train.seconds: samplers and the progress bar need a finite end.
UNBOUNDED_STEPS = 2**40


def total_steps(train: TrainConfig, samples_per_epoch: int, world_size: int) -> int:
    """The run's last step: train.iterations, else train.epochs passes (none with a wall-time budget alone)."""
    if train.iterations > 0:
        return train.iterations
    if train.seconds > 0:
        return UNBOUNDED_STEPS
    per_step = train.batch_size * world_size
    return train.epochs * max(1, math.ceil(samples_per_epoch / per_step))


def cosine_factor(train: TrainConfig, progress: float) -> float:
    """The cosine's multiplier of the peak rate at `progress` in [0, 1], after the linear train.lr_warmup."""
    progress = min(1.0, progress)
    factor = train.lr_min_ratio + (1 - train.lr_min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return factor * min(1.0, progress / train.lr_warmup) if train.lr_warmup else factor


def build_scheduler(optimizer: torch.optim.Optimizer, train: TrainConfig, total: int,
                    wall_time: Callable[[], float] = lambda: 0.0) -> torch.optim.lr_scheduler.LRScheduler:
    """The schedule of train.lr_schedule; a cosine follows the larger of step / total and, with train.seconds,
    wall_time() / train.seconds. Built from this run's totals: a resume with new ones stretches the curve."""
    if train.lr_schedule == "cosine":
        def cosine(step: int) -> float:
            progress = step / max(1, total) if total < UNBOUNDED_STEPS else 0.0
            if train.seconds > 0:
                progress = max(progress, wall_time() / train.seconds)
            return cosine_factor(train, progress)

        return torch.optim.lr_scheduler.LambdaLR(optimizer, cosine)
    milestones = sorted({max(1, int(f * total)) for f in train.lr_decay_at})
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma=train.lr_gamma)


def load_scheduler_state(scheduler: torch.optim.lr_scheduler.LRScheduler, state: dict) -> None:
    scheduler.load_state_dict(state)
    if isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR):
        # The next step already follows the (possibly new) total, not the rate saved for the old one.
        for group, base, factor in zip(scheduler.optimizer.param_groups, scheduler.base_lrs,
                                       scheduler.lr_lambdas, strict=True):
            group["lr"] = base * factor(scheduler.last_epoch)


def step_schedule(train: TrainConfig, step: int) -> dict[str, bool]:
    """Which networks step `step` (from 0) trains, as GanStep's keywords: G alone with the pixel loss
    (train.warmup_iterations), then D alone (train.d_warmup_iterations), then both, D on every
    train.d_update_every-th step."""
    gan_start = train.warmup_iterations + train.d_warmup_iterations
    return {"gan_phase": step >= train.warmup_iterations,
            "update_g": not train.warmup_iterations <= step < gan_start,
            "update_d": step < gan_start or (step - gan_start) % train.d_update_every == 0}


def budget_spent(train: TrainConfig, wall_time: float) -> bool:
    """True once the wall-time budget (train.seconds) is used up."""
    return train.seconds > 0 and wall_time >= train.seconds
