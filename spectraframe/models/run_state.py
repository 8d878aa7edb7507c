"""What a run carries besides its weights: random-number states, the weight average (EMA), bounded
per-step records, and the stop request of Ctrl-C / SIGTERM."""

from __future__ import annotations

import copy
import logging
import random
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

log = logging.getLogger(__name__)

# Per-step records kept in memory (TrainResult.history, Trainer.step_seconds): the latest this many steps, so a
# 1.2 M-step run does not grow them without bound (log.csv and TensorBoard keep the whole run).
KEPT_STEPS = 10_000


def seed_everything(seed: int) -> None:
    """Python, NumPy and torch seeded alike (every rank the same: identical initial weights)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state(device: torch.device) -> dict:
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"keys": torch.from_numpy(np_state[1].copy()), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "torch": torch.get_rng_state(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy(), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


def ema_copy(model: nn.Module) -> nn.Module:
    """A frozen copy of `model` that `update_ema` keeps as the running average of its weights."""
    average = copy.deepcopy(model).eval()
    average.requires_grad_(False)
    return average


def ema_decay(decay: float, step: int) -> float:
    """The configured decay, ramped up over the first steps so the average soon forgets the initial weights."""
    return min(decay, (1 + step) / (10 + step))


@torch.no_grad()
def update_ema(average: nn.Module, model: nn.Module, decay: float) -> None:
    for avg, new in zip(average.state_dict().values(), model.state_dict().values(), strict=True):
        if avg.is_floating_point():
            avg.lerp_(new, 1.0 - decay)
        else:
            avg.copy_(new)


def keep_latest(records: list) -> None:
    """Trim a per-step list to its latest KEPT_STEPS entries (in batches, so appending stays O(1) on average)."""
    if len(records) >= 2 * KEPT_STEPS:
        del records[:-KEPT_STEPS]


class StopRequest:
    requested = False


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """While inside, the first Ctrl-C / SIGTERM sets `.requested` (the loop finishes its step and checkpoints);
    a second Ctrl-C stops at once (the last checkpoint stays valid). Only the main thread can catch signals."""
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def request_stop(signum, frame):
        if stop.requested:
            raise KeyboardInterrupt
        stop.requested = True
        log.warning("stopping after this step (Ctrl-C again to abort without a checkpoint)")

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def warn_about_changes(state: dict, world_size: int, total_steps: int) -> None:
    """Log what differs between a resumed run and the one that wrote its checkpoint `state`, and what that
    changes."""
    if state["world_size"] != world_size:
        log.warning("resuming a %d-process run with %d processes: the data order changes",
                    state["world_size"], world_size)
    if state.get("torch_threads", torch.get_num_threads()) != torch.get_num_threads():
        # CPU kernels split sums by thread, so the bits of every step depend on the thread count.
        log.warning("the run used %d torch threads, this process %d: training continues correctly but "
                    "not bit-for-bit as an uninterrupted run would", state["torch_threads"],
                    torch.get_num_threads())
    if state["total_steps"] != total_steps:
        if "milestones" in state["scheduler_g"]:
            log.warning("the run had %d steps in total, now %d: the learning-rate decay steps stay as saved "
                        "(%s)", state["total_steps"], total_steps, sorted(state["scheduler_g"]["milestones"]))
        else:
            log.info("the run had %d steps in total, now %d: the cosine schedule follows the new total",
                     state["total_steps"], total_steps)
