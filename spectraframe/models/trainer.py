"""The SpectraFrame GAN training loop: resumable bit-exactly, single process or DDP under torchrun.

One iteration (after the pixel-loss warm-up):
1. SR = G(LR target, neighbours, flows);
2. discriminator step on D(HR) and D(SR detached);
3. generator step: pixel + adversarial + perceptual + TV, the adversarial term from a NEW forward pass
   of the just-updated D (the published code reused a stale graph, which current PyTorch rejects).

Everything a run needs to continue is in `RUN_DIR/checkpoints/last.pt` (models, optimisers, schedulers,
AMP scaler, step, RNG states, counters); the data order is a pure function of (seed, step), so
N steps + resume + N steps gives the same weights as 2N steps. Under DDP every rank trains, rank 0 writes.

Run folder: config.yaml (resolved), checkpoints/last.pt, generator.safetensors (last),
discriminator.safetensors, best.safetensors (best validation PSNR), log.csv, tensorboard/, flow_cache/.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import random
import re
import signal
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader

from spectraframe.accelerate import resolve_device
from spectraframe.archs.rbpn import RBPN
from spectraframe.archs.srgan_discriminator import Discriminator
from spectraframe.checkpoints import (
    atomic_write,
    load_generator,
    load_torch_file,
    save_discriminator,
    save_generator,
)
from spectraframe.data.train_datasets import (
    StreamSampler,
    TrainingSamples,
    find_training_clips,
    seed_worker,
    split_holdout,
)
from spectraframe.errors import SpectraFrameError
from spectraframe.losses import GeneratorLoss, LossWeights, discriminator_loss
from spectraframe.models.config import Config, config_from_dict, save_config
from spectraframe.paths import Output, check_outputs

log = logging.getLogger(__name__)

CHECKPOINT = Path("checkpoints") / "last.pt"
# Per-step records kept in memory (TrainResult.history, Trainer.step_seconds): the latest this many steps, so a
# 1.2 M-step run does not grow them without bound (log.csv and TensorBoard keep the whole run).
KEPT_STEPS = 10_000
CSV_COLUMNS = [
    "step", "phase", "lr_g", "lr_d", "loss_g", "pixel", "adversarial", "perceptual", "tv",
    "loss_d", "d_real", "d_fake", "val_psnr", "val_ssim", "seconds",
]


# --- distributed setup -------------------------------------------------------------------------


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


def init_distributed(device_kind: str) -> Distributed:
    """torchrun sets WORLD_SIZE/RANK/LOCAL_RANK/MASTER_ADDR; NCCL on CUDA, gloo on CPU."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Distributed()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_kind == "cuda" else "gloo")
    return Distributed(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def training_device(name: str, ddp: Distributed) -> torch.device:
    """train.device resolved; under DDP each CUDA rank takes the GPU of its local rank."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"  # training has no MPS path
    device = resolve_device(name)
    if device.type == "cuda":
        if ddp.enabled and device.index is None:
            device = torch.device("cuda", ddp.local_rank)
        torch.cuda.set_device(device)
    return device


# --- small pieces ------------------------------------------------------------------------------


class DiscriminatorLogits(nn.Module):
    """D whose forward returns logits, so DDP (which wraps forward) can carry it."""

    def __init__(self, discriminator: Discriminator):
        super().__init__()
        self.discriminator = discriminator

    def forward(self, images: Tensor) -> Tensor:
        return self.discriminator.logits(images)


def total_steps(config: Config, samples_per_epoch: int, world_size: int) -> int:
    if config.train.iterations > 0:
        return config.train.iterations
    per_step = config.train.batch_size * world_size
    return config.train.epochs * max(1, math.ceil(samples_per_epoch / per_step))


def autocast_for(amp: str, device: torch.device):
    if amp == "none":
        return nullcontext()
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


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
    import copy

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


def grads_finite(module: nn.Module) -> bool:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return True
    return bool(torch.stack([torch.isfinite(g).all() for g in grads]).all())


def keep_latest(records: list) -> None:
    """Trim a per-step list to its latest KEPT_STEPS entries (in batches, so appending stays O(1) on average)."""
    if len(records) >= 2 * KEPT_STEPS:
        del records[:-KEPT_STEPS]


def image_row(*images: Tensor) -> Tensor:
    """(3,H,W) images of the same size side by side, clamped to [0, 1]: a TensorBoard grid."""
    return torch.cat([im.detach().float().clamp(0, 1).cpu() for im in images], dim=-1)


class CsvLog:
    """log.csv in the run folder; on resume, rows past the checkpoint's step are dropped."""

    def __init__(self, path: Path, resume_step: int | None):
        self.path = path
        if resume_step is not None and path.is_file():
            with path.open(newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
        else:
            rows = []
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)

    def write(self, row: dict) -> None:
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore").writerow(row)


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    total_steps: int
    finished: bool
    history: list[dict] = field(default_factory=list)  # one entry per step, the latest KEPT_STEPS: losses (rank 0)
    best_psnr: float | None = None


# --- validation --------------------------------------------------------------------------------


def validate(
    model: RBPN,
    clips: list,
    *,
    scale: int,
    degradation: str,
    flow_method: str,
    frames: str = "all",
    flow_cache=None,
    autocast_dtype: torch.dtype | None = None,
) -> tuple[float, float, Tensor | None]:
    """Mean over clips of the per-clip mean Y-PSNR / SSIM (the eval protocol: LR rounded to uint8,
    output rounded to uint8, no border). Returns (psnr, ssim, preview row bicubic|SR|HR of the first clip)."""
    from spectraframe.data.windows import neighbour_indices
    from spectraframe.degradation import bicubic_upsample, degrade, modcrop
    from spectraframe.inference import super_resolve_frame
    from spectraframe.metrics.psnr_ssim import psnr_ssim

    was_training = model.training
    model.eval()
    psnr_means, ssim_means, preview = [], [], None
    num_frames = model.config.num_frames
    for clip in clips:
        hr_uint8 = modcrop(torch.from_numpy(clip.read()).permute(0, 3, 1, 2), scale).contiguous()
        lr = degrade(hr_uint8.to(torch.float64) / 255.0, scale, degradation, quantize=True).float()
        length = lr.shape[0]
        scored = [length // 2] if frames == "centre" else list(clip.scored)
        outputs = []
        for t in scored:
            sr = super_resolve_frame(
                model, lr[t], lr[neighbour_indices(t, length, num_frames)], flow_method=flow_method,
                autocast_dtype=autocast_dtype, flow_cache=flow_cache,
            )
            outputs.append((sr.double() * 255.0).round().clamp(0, 255).to(torch.uint8).cpu())
        out = torch.stack(outputs)
        p, s = psnr_ssim(out, hr_uint8[scored])
        psnr_means.append(float(p.mean()))
        ssim_means.append(float(s.mean()))
        if preview is None:
            bicubic = bicubic_upsample(lr[scored[0]], scale)
            preview = image_row(bicubic, out[0].float() / 255.0, hr_uint8[scored[0]].float() / 255.0)
    model.train(was_training)
    return float(np.mean(psnr_means)), float(np.mean(ssim_means)), preview


# --- the trainer -------------------------------------------------------------------------------


class Trainer:
    """Builds everything from a Config, checks the inputs, then `fit()` trains.

    All input problems (missing data, list entries, frames smaller than the patch, VGG weights) are
    raised as SpectraFrameError from the constructor, before any training step.
    """

    def __init__(self, config: Config, run_dir: str | Path, *, resume: bool = False):
        config.validate()
        self.config = config
        self.run_dir = Path(run_dir)
        cfg = config
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        device_kind = "cuda" if (cfg.train.device.startswith("cuda") or
                                 (cfg.train.device == "auto" and torch.cuda.is_available())) else "cpu"
        self.ddp = init_distributed(device_kind)
        self.device = training_device(cfg.train.device, self.ddp)
        if cfg.train.amp == "fp16" and self.device.type != "cuda":
            raise SpectraFrameError("train.amp=fp16 needs CUDA; on CPU use train.amp=bf16 or none")
        if not resume:
            # A new run writes config.yaml, log.csv, checkpoints...: never into a folder holding anything else.
            # Every rank checks before rank 0 creates anything.
            check_outputs([Output(self.run_dir, "folder", "run folder", empty_ok=True)],
                          [cfg.data.root, cfg.model.init_from], overwrite=None)
            self.ddp.barrier()

        checkpoint = None
        if resume:
            path = self.run_dir / CHECKPOINT
            if not path.is_file():
                raise SpectraFrameError(f"cannot resume: {path} not found (was the run started with --out {run_dir}?)")
            checkpoint = load_torch_file(path)
            if not isinstance(checkpoint, dict) or not {"step", "generator", "optimizer_g"} <= set(checkpoint):
                raise SpectraFrameError(f"cannot resume: {path} is not a spectraframe training checkpoint (no step, "
                                        "generator and optimiser state)")

        # Same seed on every rank: identical initial weights (DDP also broadcasts rank 0's).
        random.seed(cfg.train.seed)
        np.random.seed(cfg.train.seed % 2**32)
        torch.manual_seed(cfg.train.seed)

        # Data first: bad input fails before any model is built.
        if cfg.data.root is None:
            raise SpectraFrameError("set data.root to the training data folder (e.g. data.root=path/to/clips)")
        self.rbpn_config = cfg.model.rbpn_config()
        # Held-out clips (data.val_holdout) validate and are never trained on.
        self.sources, self.holdout = split_holdout(find_training_clips(cfg.data.root, cfg.data.train_list),
                                                   cfg.data.val_holdout)
        self.flow_cache_dir = Path(cfg.data.flow_cache) if cfg.data.flow_cache else self.run_dir / "flow_cache"
        self.dataset = TrainingSamples(
            self.sources,
            scale=self.rbpn_config.scale,
            num_frames=self.rbpn_config.num_frames,
            lr_patch=cfg.data.lr_patch,
            degradation=cfg.data.degradation,
            hflip=cfg.data.hflip,
            vflip=cfg.data.vflip,
            rot90=cfg.data.rot90,
            targets=cfg.data.targets,
            video_stride=cfg.data.video_stride,
            flow_method=cfg.data.flow_method,
            flow_cache=self.flow_cache_dir,
            flow_cache_bytes=int(cfg.data.flow_cache_gb * 1024**3),
            seed=cfg.train.seed,
        )
        self.val_clips = self._validation_clips()
        self.total_steps = total_steps(cfg, len(self.dataset), self.ddp.world_size)

        # Models, losses, optimisers.
        self.generator = RBPN(self.rbpn_config)
        if cfg.model.init_from and checkpoint is None:
            initial, _ = load_generator(cfg.model.init_from, expected=self.rbpn_config)
            self.generator.load_state_dict(initial.state_dict())
            log.info("generator initialised from %s", cfg.model.init_from)
        self.generator = self.generator.to(self.device)
        self.discriminator = Discriminator().to(self.device)
        self.loss = GeneratorLoss(
            LossWeights(cfg.loss.pixel_weight, cfg.loss.adversarial_weight, cfg.loss.perceptual_weight,
                        cfg.loss.tv_weight),
            pixel=cfg.loss.pixel,
            gan_form=cfg.loss.gan_form,
            vgg_weights=cfg.loss.vgg_weights,
            vgg_imagenet_normalize=cfg.loss.vgg_imagenet_normalize,
        ).to(self.device)
        betas = (cfg.train.beta1, cfg.train.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=cfg.train.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=cfg.train.lr_d, betas=betas)
        self.sched_g = self._scheduler(self.opt_g)
        self.sched_d = self._scheduler(self.opt_d)
        # A pixel-loss run never trains D: its state is left out of the checkpoint (small enough to commit).
        self.trains_discriminator = cfg.train.warmup_iterations < self.total_steps
        self.ema = ema_copy(self.generator) if cfg.train.ema else None
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=cfg.train.amp == "fp16")

        if self.ddp.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.g_train: nn.Module = nn.parallel.DistributedDataParallel(self.generator, device_ids=ids)
            self.d_train: nn.Module = nn.parallel.DistributedDataParallel(
                DiscriminatorLogits(self.discriminator), device_ids=ids
            )
        else:
            self.g_train = self.generator
            self.d_train = DiscriminatorLogits(self.discriminator)

        self.step = 0
        self.step_seconds: list[float] = []
        self.nonfinite_steps = 0
        self.best_psnr: float | None = None
        self.wall_time = 0.0
        if checkpoint is not None:
            self._load_state(checkpoint)
        if self.ddp.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(cfg, self.run_dir / "config.yaml")
        self.ddp.barrier()

    def _scheduler(self, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
        train_cfg = self.config.train
        if train_cfg.lr_schedule == "cosine":
            # Reads self.total_steps at every step, so a resume with a new total stretches the curve.
            def cosine(step: int) -> float:
                progress = min(1.0, step / max(1, self.total_steps))
                return train_cfg.lr_min_ratio + (1 - train_cfg.lr_min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

            return torch.optim.lr_scheduler.LambdaLR(optimizer, cosine)
        milestones = sorted({max(1, int(f * self.total_steps)) for f in train_cfg.lr_decay_at})
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma=train_cfg.lr_gamma)

    @property
    def shipped_generator(self) -> RBPN:
        """What validation scores and the run exports: the weight average when train.ema is on."""
        return self.ema if self.ema is not None else self.generator

    # --- inputs ---

    def _validation_clips(self) -> list:
        cfg = self.config
        from spectraframe.data.eval_datasets import EvalClip, load_eval_clips

        if cfg.val.every == 0:
            return []
        if self.holdout:
            clips = [EvalClip(name=source.name, frame_paths=list(source.frame_paths)) for source in self.holdout]
        elif cfg.val.list is None:
            return []
        else:
            root = Path(cfg.data.root)
            list_path = Path(cfg.val.list) if Path(cfg.val.list).is_absolute() else root / cfg.val.list
            if not list_path.is_file():
                raise SpectraFrameError(
                    f"validation list {list_path} not found: point val.list at a list of clips under data.root, "
                    "or turn validation off with val.every=0"
                )
            if re.search(r"(?<![a-z])test", list_path.name.lower()):  # test.txt, sep_testlist.txt
                # best.safetensors is picked by validation PSNR: picking it on the test set inflates test scores.
                log.warning("validating on %s, a test list: best.safetensors is then chosen on the test set and "
                            "its scores there are optimistic; hold out training clips instead with "
                            "data.val_holdout=N val.list=null", list_path.name)
            clips = load_eval_clips(root, list_path)
        if cfg.val.max_clips:
            clips = clips[: cfg.val.max_clips]
        return clips

    # --- state ---

    def state_dict(self) -> dict:
        return {
            "step": self.step,
            "generator": self.generator.state_dict(),
            "generator_ema": None if self.ema is None else self.ema.state_dict(),
            "discriminator": self.discriminator.state_dict() if self.trains_discriminator else None,
            "optimizer_g": self.opt_g.state_dict(),
            "optimizer_d": self.opt_d.state_dict() if self.trains_discriminator else None,
            "scheduler_g": self.sched_g.state_dict(),
            "scheduler_d": self.sched_d.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rng_state(self.device),
            "nonfinite_steps": self.nonfinite_steps,
            "best_psnr": self.best_psnr,
            "wall_time": self.wall_time,
            "total_steps": self.total_steps,
            "world_size": self.ddp.world_size,
            "torch_threads": torch.get_num_threads(),
            "config": self.config.to_dict(),
        }

    def _load_state(self, state: dict) -> None:
        if state["world_size"] != self.ddp.world_size:
            log.warning("resuming a %d-process run with %d processes: the data order changes",
                        state["world_size"], self.ddp.world_size)
        if state.get("torch_threads", torch.get_num_threads()) != torch.get_num_threads():
            # CPU kernels split sums by thread, so the bits of every step depend on the thread count.
            log.warning("the run used %d torch threads, this process %d: training continues correctly but "
                        "not bit-for-bit as an uninterrupted run would", state["torch_threads"],
                        torch.get_num_threads())
        if state["total_steps"] != self.total_steps:
            if "milestones" in state["scheduler_g"]:
                log.warning("the run had %d steps in total, now %d: the learning-rate decay steps stay as saved "
                            "(%s)", state["total_steps"], self.total_steps, sorted(state["scheduler_g"]["milestones"]))
            else:
                log.info("the run had %d steps in total, now %d: the cosine schedule follows the new total",
                         state["total_steps"], self.total_steps)
        self.generator.load_state_dict(state["generator"])
        if self.ema is not None:
            # A run that turns EMA on at resume starts the average from the current weights.
            self.ema.load_state_dict(state.get("generator_ema") or state["generator"])
        if state["discriminator"] is not None:
            self.discriminator.load_state_dict(state["discriminator"])
            self.opt_d.load_state_dict(state["optimizer_d"])
        elif self.trains_discriminator:
            log.warning("the checkpoint holds no discriminator (it was a pixel-loss run): the GAN phase starts "
                        "with a new one")
        self.opt_g.load_state_dict(state["optimizer_g"])
        for scheduler, key in ((self.sched_g, "scheduler_g"), (self.sched_d, "scheduler_d")):
            scheduler.load_state_dict(state[key])
            if isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR):
                # The next step already follows the (possibly new) total, not the rate saved for the old one.
                for group, base, factor in zip(scheduler.optimizer.param_groups, scheduler.base_lrs,
                                               scheduler.lr_lambdas, strict=True):
                    group["lr"] = base * factor(scheduler.last_epoch)
        self.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"], self.device)
        self.step = int(state["step"])
        self.nonfinite_steps = int(state["nonfinite_steps"])
        self.best_psnr = state["best_psnr"]
        self.wall_time = float(state["wall_time"])

    def save_checkpoint(self) -> None:
        if self.ddp.is_main:
            state = self.state_dict()
            atomic_write(self.run_dir / CHECKPOINT, lambda tmp: torch.save(state, tmp))

    def provenance(self, **extra) -> dict:
        cfg = self.config
        return {
            "iterations": self.step,
            "wall_time_s": round(self.wall_time, 1),
            "data": {"root": cfg.data.root, "train_list": cfg.data.train_list, "clips": len(self.sources),
                     "held_out_clips": len(self.holdout),
                     "samples_per_epoch": len(self.dataset), "degradation": cfg.data.degradation},
            "config": cfg.to_dict(),
            "world_size": self.ddp.world_size,
            **extra,
        }

    def export(self) -> None:
        if self.ddp.is_main:
            method = self.config.data.flow_method
            save_generator(self.run_dir / "generator.safetensors", self.shipped_generator, flow_method=method,
                           provenance=self.provenance(best_val_psnr=self.best_psnr))
            if self.trains_discriminator:
                save_discriminator(self.run_dir / "discriminator.safetensors", self.discriminator,
                                   provenance=self.provenance())

    # --- one iteration ---

    def train_step(self, batch: dict[str, Tensor]) -> dict[str, float] | None:
        """One iteration; returns the logged values, or None when the step was skipped (NaN/Inf)."""
        cfg = self.config
        batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        hr = batch["hr"]
        gan_phase = self.step >= cfg.train.warmup_iterations
        amp = autocast_for(cfg.train.amp, self.device)
        with amp:
            sr = self.g_train(batch["target"], batch["neighbours"], batch["flows"])
        values: dict[str, float] = {}
        skipped = False
        stepped = False  # GradScaler.update() needs a scaler.step() since the last update (its inf checks)

        if gan_phase:
            # Discriminator step on HR and on the generator's output (no gradient into G).
            with amp:
                real_logits = self.d_train(hr)
                fake_logits = self.d_train(sr.detach())
            loss_d = discriminator_loss(real_logits, fake_logits, cfg.loss.gan_form)
            self.opt_d.zero_grad(set_to_none=True)
            bad = not bool(torch.isfinite(loss_d))
            if not bad:
                self.scaler.scale(loss_d).backward()
                bad = not self.scaler.is_enabled() and not grads_finite(self.discriminator)
            if self.ddp.any(bad):
                skipped = True
                self.opt_d.zero_grad(set_to_none=True)
            else:
                self.scaler.step(self.opt_d)
                stepped = True
            values.update(loss_d=float(loss_d.detach()), d_real=float(real_logits.detach().float().sigmoid().mean()),
                          d_fake=float(fake_logits.detach().float().sigmoid().mean()))

        # Generator step; the adversarial term sees the updated D (a new forward pass, not the stale one).
        if not skipped:
            with amp:
                if gan_phase:
                    self.discriminator.requires_grad_(False)
                    try:
                        fresh_logits = self.discriminator.logits(sr)
                    finally:
                        self.discriminator.requires_grad_(True)
                else:
                    fresh_logits = None
                loss_g, parts = self.loss(sr, hr, fresh_logits)
            self.opt_g.zero_grad(set_to_none=True)
            bad = not bool(torch.isfinite(loss_g))
            if not bad:
                self.scaler.scale(loss_g).backward()
                bad = not self.scaler.is_enabled() and not grads_finite(self.generator)
            if self.ddp.any(bad):
                skipped = True
                self.opt_g.zero_grad(set_to_none=True)
            else:
                self.scaler.step(self.opt_g)
                stepped = True
                if self.ema is not None:
                    update_ema(self.ema, self.generator, ema_decay(self.config.train.ema, self.step))
            values.update(loss_g=float(loss_g.detach()), **{k: float(v) for k, v in parts.items()})
        if stepped:
            # A fully skipped step leaves the scale as it was: the loss, not the scaled gradients, was bad.
            self.scaler.update()
        with warnings.catch_warnings():
            # In the warm-up D is not stepped; its schedule still counts steps so both decay together.
            warnings.filterwarnings("ignore", message=re.escape("Detected call of `lr_scheduler.step()`"))
            self.sched_g.step()
            self.sched_d.step()
        if skipped:
            self.nonfinite_steps += 1
            log.warning("step %d: non-finite loss or gradient (%s), update skipped (%d so far, limit %d)",
                        self.step + 1, ", ".join(f"{k}={v:.4g}" for k, v in values.items()),
                        self.nonfinite_steps, cfg.train.max_nonfinite_steps)
            if self.nonfinite_steps > cfg.train.max_nonfinite_steps:
                raise SpectraFrameError(
                    f"training stopped: {self.nonfinite_steps} steps had NaN/Inf losses or gradients "
                    f"(limit train.max_nonfinite_steps={cfg.train.max_nonfinite_steps}). Lower train.lr, use "
                    "train.amp=none, or check the data; the last good state is in "
                    f"{self.run_dir / CHECKPOINT}"
                )
        values["phase"] = "gan" if gan_phase else "warmup"
        self._last_sr, self._last_batch = sr.detach(), batch
        return None if skipped else values

    # --- the loop ---

    def loader(self, end_step: int) -> DataLoader:
        workers = self.config.data.num_workers
        sampler = StreamSampler(self.config.train.batch_size, self.step, self.ddp.rank, self.ddp.world_size,
                                end_step=end_step)
        return DataLoader(
            self.dataset,
            batch_size=self.config.train.batch_size,
            sampler=sampler,
            num_workers=workers,
            worker_init_fn=seed_worker,
            generator=torch.Generator().manual_seed(self.config.train.seed),
            pin_memory=self.device.type == "cuda",
            prefetch_factor=2 if workers else None,
            multiprocessing_context="fork" if workers and os.name == "posix" else None,
        )

    def fit(self, max_steps: int | None = None) -> TrainResult:
        """Train to train's total steps, or stop after step `max_steps` (as an interruption would)."""
        cfg = self.config
        end_step = self.total_steps if max_steps is None else min(max_steps, self.total_steps)
        main = self.ddp.is_main
        writer = csv_log = bar = None
        if main:
            csv_log = CsvLog(self.run_dir / "log.csv", self.step if self.step > 0 else None)
            if cfg.log.tensorboard:
                from torch.utils.tensorboard import SummaryWriter

                writer = SummaryWriter(str(self.run_dir / "tensorboard"), purge_step=self.step or None)
            from tqdm import tqdm

            bar = tqdm(total=self.total_steps, initial=self.step, unit="it", desc="training",
                       disable=not cfg.log.progress, dynamic_ncols=True)
        stop = {"requested": False}
        previous_handlers = self._install_signal_handlers(stop)
        history: list[dict] = []
        window: dict[str, list[float]] = {}
        started = time.perf_counter()
        last_checkpoint_step = self.step
        last_validation_step = None
        interrupted = False
        try:
            self.generator.train()
            self.discriminator.train()
            for batch in self.loader(end_step):
                values = self.train_step(batch)
                self.step += 1
                elapsed = time.perf_counter() - started
                self.wall_time += elapsed
                self.step_seconds.append(elapsed)  # data wait + step: what benchmarks report
                keep_latest(self.step_seconds)
                started = time.perf_counter()
                if values is not None:
                    history.append(values)
                    keep_latest(history)
                    for k, v in values.items():
                        if k != "phase":
                            window.setdefault(k, []).append(v)
                if main:
                    self._log_step(values, window, writer, csv_log, bar)
                if cfg.val.every and self.step % cfg.val.every == 0 and self.step < end_step:
                    self._validate(writer, csv_log)
                    last_validation_step = self.step
                    started = time.perf_counter()
                    if bar is not None:
                        bar.unpause()  # keep validation time out of the it/s and ETA
                if self.step % cfg.train.checkpoint_every == 0:
                    self.save_checkpoint()
                    last_checkpoint_step = self.step
                if self.ddp.any(stop["requested"]):
                    log.warning("stop requested: checkpoint written at step %d; continue with --resume %s",
                                self.step, self.run_dir)
                    interrupted = True
                    break
            # A final validation at the end or at --max-steps; an interruption should exit quickly.
            if self.val_clips and not interrupted and self.step > 0 and last_validation_step != self.step:
                self._validate(writer, csv_log)
            self._sync_buffers()
            if last_checkpoint_step != self.step:
                self.save_checkpoint()
            self.export()
            self.ddp.barrier()
        finally:
            self._restore_signal_handlers(previous_handlers)
            if bar is not None:
                bar.close()
            if writer is not None:
                writer.close()
        return TrainResult(self.run_dir, self.step, self.total_steps, self.step >= self.total_steps, history,
                           self.best_psnr)

    def _sync_buffers(self) -> None:
        """Give every rank rank 0's BatchNorm statistics (the generator step's D pass updates them locally;
        DDP re-broadcasts them before each D forward anyway), so all ranks end identical."""
        if self.ddp.enabled:
            for module in (self.generator, self.discriminator):
                for buffer in module.buffers():
                    dist.broadcast(buffer, src=0)

    def _install_signal_handlers(self, stop: dict) -> dict:
        import threading

        if threading.current_thread() is not threading.main_thread():
            return {}

        def request_stop(signum, frame):
            if stop["requested"]:
                raise KeyboardInterrupt  # second Ctrl-C: stop at once (the last checkpoint stays valid)
            stop["requested"] = True
            log.warning("stopping after this step (Ctrl-C again to abort without a checkpoint)")

        previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, request_stop)
        return previous

    @staticmethod
    def _restore_signal_handlers(previous: dict) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def _log_step(self, values, window, writer, csv_log, bar) -> None:
        cfg = self.config
        if bar is not None:
            bar.update(1)
            if values is not None:
                postfix = {"loss": f"{values.get('loss_g', float('nan')):.4g}", "phase": values["phase"]}
                if "loss_d" in values:
                    postfix["D"] = f"{values['loss_d']:.3g}"
                bar.set_postfix(postfix, refresh=False)
        if self.step % cfg.log.every == 0 and window:
            means = {k: float(np.mean(v)) for k, v in window.items()}
            window.clear()
            lr_g, lr_d = self.opt_g.param_groups[0]["lr"], self.opt_d.param_groups[0]["lr"]
            phase = "gan" if self.step > cfg.train.warmup_iterations else "warmup"
            csv_log.write({"step": self.step, "phase": phase, "lr_g": lr_g, "lr_d": lr_d,
                           "seconds": round(self.wall_time, 2), **means})
            if writer is not None:
                for k, v in means.items():
                    writer.add_scalar(f"train/{k}", v, self.step)
                writer.add_scalar("train/lr_g", lr_g, self.step)
                writer.add_scalar("train/lr_d", lr_d, self.step)
        if writer is not None and cfg.log.image_every and self.step % cfg.log.image_every == 0:
            from spectraframe.degradation import bicubic_upsample

            batch = self._last_batch
            bicubic = bicubic_upsample(batch["target"][0].float(), self.rbpn_config.scale)
            writer.add_image("train/bicubic_sr_hr", image_row(bicubic, self._last_sr[0], batch["hr"][0]), self.step)

    def _validate(self, writer, csv_log) -> None:
        if self.ddp.is_main:
            cfg = self.config
            log.info("step %d: validating on %d clips (%s frames)", self.step, len(self.val_clips), cfg.val.frames)
            from spectraframe.flow.cache import FlowCache

            cache = FlowCache(self.flow_cache_dir, max_bytes=int(cfg.data.flow_cache_gb * 1024**3))
            dtype = torch.bfloat16 if cfg.train.amp == "bf16" else None
            psnr, ssim, preview = validate(
                self.shipped_generator, self.val_clips, scale=self.rbpn_config.scale, degradation=cfg.data.degradation,
                flow_method=cfg.data.flow_method, frames=cfg.val.frames, flow_cache=cache, autocast_dtype=dtype,
            )
            log.info("step %d: validation Y-PSNR %.3f dB, SSIM %.4f on %d clips", self.step, psnr, ssim,
                     len(self.val_clips))
            csv_log.write({"step": self.step, "val_psnr": psnr, "val_ssim": ssim, "seconds": round(self.wall_time, 2)})
            if writer is not None:
                writer.add_scalar("val/psnr", psnr, self.step)
                writer.add_scalar("val/ssim", ssim, self.step)
                if preview is not None:
                    writer.add_image("val/bicubic_sr_hr", preview, self.step)
            if self.best_psnr is None or psnr > self.best_psnr:
                self.best_psnr = psnr
                save_generator(self.run_dir / "best.safetensors", self.shipped_generator,
                               flow_method=cfg.data.flow_method,
                               provenance=self.provenance(val_psnr=psnr, val_ssim=ssim))
        if self.ddp.enabled:
            # Everyone learns the best PSNR so checkpoints agree; rank 0 computed it.
            value = torch.tensor([float("nan") if self.best_psnr is None else self.best_psnr], dtype=torch.float64)
            dist.broadcast(value, src=0)
            self.best_psnr = None if math.isnan(value.item()) else value.item()


def train(config: Config, run_dir: str | Path, *, resume: bool = False, max_steps: int | None = None) -> TrainResult:
    """Train (or resume) a run; see `Trainer`."""
    return Trainer(config, run_dir, resume=resume).fit(max_steps=max_steps)


def load_run_config(run_dir: str | Path, overrides: list[str] | None = None) -> Config:
    """The resolved config saved in a run folder, with optional overrides (for --resume)."""
    from spectraframe.models.config import apply_overrides, read_config_file

    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise SpectraFrameError(f"{path} not found: {run_dir} is not a training run folder")
    config = config_from_dict(apply_overrides(read_config_file(path), overrides or []))
    config.validate()
    return config
