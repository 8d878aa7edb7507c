"""One training process of many (DDP under torchrun) or the only one: who it is, its device, and agreeing."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from spectraframe.accelerate import resolve_device


@dataclass
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def any(self, flag: bool) -> bool:
        """True on every rank if it is True on any rank (so all ranks skip or stop together)."""
        if not self.enabled:
            return flag
        value = torch.tensor([1.0 if flag else 0.0])
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item() > 0)

    def share(self, value: float | None) -> float | None:
        """Rank 0's value (or None) on every rank."""
        if not self.enabled:
            return value
        tensor = torch.tensor([float("nan") if value is None else value], dtype=torch.float64)
        dist.broadcast(tensor, src=0)
        return None if math.isnan(tensor.item()) else tensor.item()

    def gather(self, value: object) -> list:
        """Every rank's `value`, in rank order, on every rank."""
        if not self.enabled:
            return [value]
        values: list = [None] * self.world_size
        dist.all_gather_object(values, value)
        return values

    def share_buffers(self, *modules: nn.Module) -> None:
        """Give every rank rank 0's buffers (BatchNorm statistics, which each rank updates locally)."""
        if self.enabled:
            for module in modules:
                for buffer in module.buffers():
                    dist.broadcast(buffer, src=0)


def init_distributed(device_name: str) -> Distributed:
    """torchrun sets WORLD_SIZE/RANK/LOCAL_RANK/MASTER_ADDR; NCCL on CUDA, gloo on CPU."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Distributed()
    if not dist.is_initialized():
        cuda = device_name.startswith("cuda") or (device_name == "auto" and torch.cuda.is_available())
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return Distributed(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def training_device(name: str, ddp: Distributed) -> torch.device:
    """train.device resolved; under DDP each CUDA rank takes the GPU of its local rank."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"  # training has no MPS path
    device = resolve_device(name)
    if device.type == "cuda":
        if device.index is None:  # set_device needs an index: the local rank's GPU, else the current one
            device = torch.device("cuda", ddp.local_rank if ddp.enabled else torch.cuda.current_device())
        torch.cuda.set_device(device)
    return device


def for_training(module: nn.Module, ddp: Distributed, device: torch.device) -> nn.Module:
    """The module that computes the training forward: `module` itself, or its DDP wrapper."""
    if not ddp.enabled:
        return module
    return nn.parallel.DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)
