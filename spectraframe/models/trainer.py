"""The SpectraFrame training loop: every recipe (pixel loss, GAN), resumable bit-exactly, one process or DDP
under torchrun, on the CPU or GPUs.

The parts live beside this file: `data_sources` (batches from a DataLoader or the device-resident corpus),
`building` (models and losses from a Config), `schedule` (learning rates over steps or a wall-time budget, and
which network each step trains), `gan_step` (one iteration; a pixel-loss step is one without D), `run_state`
(RNG, weight average, stop requests), `run_log` (log.csv, TensorBoard, progress), `distributed` and `validation`
(the evaluation protocol, `spectraframe.evaluate`, on the in-memory generator).

Everything a run needs to continue is in `RUN_DIR/checkpoints/last.pt` (models, optimisers, schedulers,
AMP scaler, step, wall time, RNG states, each rank's batch-drawing state, counters), so N steps + resume + N steps
gives the same weights as 2N steps. Under DDP every rank trains, rank 0 writes.

Run folder: config.yaml (resolved), checkpoints/last.pt, generator.safetensors (last),
discriminator.safetensors, best.safetensors (best validation PSNR), log.csv, tensorboard/, flow_cache/.
"""

from __future__ import annotations

import logging
import re
import time
import warnings
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch
from torch import Tensor

from spectraframe.accelerate import autocast_context
from spectraframe.archs.rbpn import RBPN
from spectraframe.archs.srgan_discriminator import Discriminator
from spectraframe.checkpoints import atomic_write, load_discriminator, save_discriminator, save_generator
from spectraframe.errors import SpectraFrameError
from spectraframe.models.building import (
    amp_dtype,
    build_generator,
    build_loss,
    quantization_source,
    read_training_checkpoint,
)
from spectraframe.models.config import Config, config_from_dict, save_config
from spectraframe.models.data_sources import build_source
from spectraframe.models.distributed import for_training, init_distributed, training_device
from spectraframe.models.gan_step import DiscriminatorLogits, GanStep
from spectraframe.models.run_log import RunLog, image_row
from spectraframe.models.run_state import (
    StopRequest,
    ema_copy,
    keep_latest,
    rng_state,
    seed_everything,
    set_rng_state,
    stop_on_signals,
    warn_about_changes,
)
from spectraframe.models.schedule import (
    budget_spent,
    build_scheduler,
    load_scheduler_state,
    step_schedule,
    total_steps,
)
from spectraframe.models.validation import validate
from spectraframe.paths import Output, check_outputs

log = logging.getLogger(__name__)

CHECKPOINT = Path("checkpoints") / "last.pt"


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    total_steps: int
    finished: bool
    history: list[dict] = field(default_factory=list)  # one entry per step, the latest KEPT_STEPS: losses (rank 0)
    best_psnr: float | None = None


# --- the trainer -------------------------------------------------------------------------------


class Trainer:
    """Builds everything from a Config, checks the inputs, then `fit()` trains.

    All input problems (missing data, list entries, frames smaller than the patch, VGG weights) are
    raised as SpectraFrameError from the constructor, before any training step.
    """

    def __init__(self, config: Config, run_dir: str | Path, *, resume: bool = False, origin: dict | None = None):
        config.validate()
        self.config = cfg = config
        self.run_dir = Path(run_dir)
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        self.ddp = init_distributed(cfg.train.device)
        self.device = training_device(cfg.train.device, self.ddp)
        if cfg.train.amp == "fp16" and self.device.type != "cuda":
            raise SpectraFrameError("train.amp=fp16 needs CUDA; on CPU use train.amp=bf16 or none")
        if not resume:
            # A new run writes config.yaml, log.csv, checkpoints...: never into a folder holding anything else.
            # Every rank checks before rank 0 creates anything.
            check_outputs([Output(self.run_dir, "folder", "run folder", empty_ok=True)],
                          [cfg.data.root, cfg.model.init_from, cfg.model.discriminator_from], overwrite=None)
            self.ddp.barrier()
        checkpoint = read_training_checkpoint(self.run_dir / CHECKPOINT, self.run_dir) if resume else None
        seed_everything(cfg.train.seed)  # the same on every rank: identical initial weights

        # Data first: bad input fails before any model is built.
        self.rbpn_config = cfg.model.rbpn_config()
        self.source = build_source(cfg, self.rbpn_config, self.run_dir, self.ddp, self.device)
        self.val_clips = self.source.val_clips
        self.total_steps = total_steps(cfg.train, self.source.samples_per_epoch, self.ddp.world_size)
        self.wall_time = 0.0
        self._build_models(resuming=checkpoint is not None)

        self.step = 0
        # How this run was started and continued: the command of every sitting (the provenance records them).
        self.origins: list[dict] = []
        self.step_seconds: list[float] = []
        self.nonfinite_steps = 0
        self.best_psnr: float | None = None
        if checkpoint is not None:
            self._load_state(checkpoint)
        self.origins.append(origin or {})
        if self.ddp.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(cfg, self.run_dir / "config.yaml")
        self.ddp.barrier()

    def _build_models(self, *, resuming: bool) -> None:
        cfg = self.config
        self.generator = build_generator(cfg, self.rbpn_config, resuming=resuming).to(self.device)
        if cfg.train.channels_last:
            self.generator.to(memory_format=torch.channels_last)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed patch sizes: the fastest kernels are worth finding
        self.discriminator = Discriminator()
        if cfg.model.discriminator_from and not resuming:
            self.discriminator = load_discriminator(cfg.model.discriminator_from)
            log.info("discriminator initialised from %s", cfg.model.discriminator_from)
        self.discriminator.to(self.device)
        # A pixel-loss run never reaches the GAN-phase terms: it needs no VGG16 weights (nor the time to load them).
        self.trains_discriminator = cfg.train.warmup_iterations < self.total_steps
        self.loss = build_loss(cfg, gan_phase=self.trains_discriminator).to(self.device)
        betas = (cfg.train.beta1, cfg.train.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=cfg.train.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=cfg.train.lr_d, betas=betas)
        self.sched_g = build_scheduler(self.opt_g, cfg.train, self.total_steps, lambda: self.wall_time)
        self.sched_d = build_scheduler(self.opt_d, cfg.train, self.total_steps, lambda: self.wall_time)
        # A pixel-loss run never trains D: its state is left out of the checkpoint (small enough to commit).
        self.ema = ema_copy(self.generator) if cfg.train.ema else None
        # A quantization-aware run records which float weights it is the int8 form of (`auto` pairs them).
        self.quantized_from = quantization_source(cfg) if not resuming else None
        self.gan_step = GanStep(
            self.generator, self.discriminator, self.loss, self.opt_g, self.opt_d, gan_form=cfg.loss.gan_form,
            autocast=partial(autocast_context, self.device, amp_dtype(cfg.train.amp)),
            scaler=torch.amp.GradScaler(self.device.type, enabled=cfg.train.amp == "fp16"), ddp=self.ddp,
            ema=self.ema, ema_decay=cfg.train.ema, g_train=for_training(self.generator, self.ddp, self.device),
            d_train=for_training(DiscriminatorLogits(self.discriminator), self.ddp, self.device),
        )

    @property
    def scaler(self) -> torch.amp.GradScaler:
        return self.gan_step.scaler

    @scaler.setter
    def scaler(self, scaler: torch.amp.GradScaler) -> None:
        self.gan_step.scaler = scaler

    @property
    def shipped_generator(self) -> RBPN:
        """What validation scores and the run exports: the weight average when train.ema is on."""
        return self.ema if self.ema is not None else self.generator

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
            "data": self.source.state_dict(),
            "origins": self.origins,
            "quantized_from": self.quantized_from,
        }

    def _load_state(self, state: dict) -> None:
        warn_about_changes(state, self.ddp.world_size, self.total_steps)
        self.wall_time = float(state["wall_time"])  # before the schedules: a budget's cosine follows it
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
        load_scheduler_state(self.sched_g, state["scheduler_g"])
        load_scheduler_state(self.sched_d, state["scheduler_d"])
        self.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"], self.device)
        self.step = int(state["step"])
        self.nonfinite_steps = int(state["nonfinite_steps"])
        self.best_psnr = state["best_psnr"]
        self.source.load_state_dict(state.get("data"))
        self.origins = list(state.get("origins", []))
        self.quantized_from = state.get("quantized_from")

    def save_checkpoint(self) -> None:
        state = self.state_dict()  # on every rank: the data source gathers each rank's state
        if self.ddp.is_main:
            atomic_write(self.run_dir / CHECKPOINT, lambda tmp: torch.save(state, tmp))
        self._checkpoint_step = self.step

    def provenance(self, **extra) -> dict:
        """What an exported file records of how it was made: the config's name and overrides, the command of every
        sitting, the resolved config, the data, the steps and time, and the hardware."""
        first = next((o for o in self.origins if o.get("config")), {})
        return {
            "recipe": {"config": first.get("config"), "overrides": first.get("overrides", [])},
            "commands": [o["command"] for o in self.origins if o.get("command")],
            "iterations": self.step,
            "wall_time_s": round(self.wall_time, 1),
            "samples": self.step * self.config.train.batch_size * self.ddp.world_size,
            "data": self.source.provenance(),
            "config": self.config.to_dict(),
            "world_size": self.ddp.world_size,
            "trained_on": torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu",
            **({"quantized_from": self.quantized_from} if self.quantized_from else {}),
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
        """One iteration on a batch on the device (the schedules advance separately: `advance_schedules`);
        returns the logged values, or None when the step was skipped (NaN/Inf)."""
        outcome = self.gan_step(batch, step=self.step, **step_schedule(self.config.train, self.step))
        if outcome.skipped:
            self._count_nonfinite(outcome.values)
        self._last_sr, self._last_batch = outcome.sr, batch
        return None if outcome.skipped else outcome.values

    def advance_schedules(self) -> None:
        """The learning rates of the next step (after the step count and the wall time have advanced)."""
        with warnings.catch_warnings():
            # In the warm-up D is not stepped; its schedule still counts steps so both decay together.
            warnings.filterwarnings("ignore", message=re.escape("Detected call of `lr_scheduler.step()`"))
            self.sched_g.step()
            self.sched_d.step()

    def _count_nonfinite(self, values: dict) -> None:
        limit = self.config.train.max_nonfinite_steps
        self.nonfinite_steps += 1
        losses = ", ".join(f"{k}={v:.4g}" for k, v in values.items() if k != "phase")
        log.warning("step %d: non-finite loss or gradient (%s), update skipped (%d so far, limit %d)",
                    self.step + 1, losses, self.nonfinite_steps, limit)
        if self.nonfinite_steps > limit:
            raise SpectraFrameError(
                f"training stopped: {self.nonfinite_steps} steps had NaN/Inf losses or gradients "
                f"(limit train.max_nonfinite_steps={limit}). Lower train.lr, use train.amp=none, or check the "
                f"data; the last good state is in {self.run_dir / CHECKPOINT}"
            )

    # --- the loop ---

    def fit(self, max_steps: int | None = None) -> TrainResult:
        """Train to train's total steps, or stop after step `max_steps` (as an interruption would)."""
        cfg = self.config
        end_step = self.total_steps if max_steps is None else min(max_steps, self.total_steps)
        run_log = RunLog(self.run_dir, step=self.step, total_steps=self.total_steps, every=cfg.log.every,
                         tensorboard=cfg.log.tensorboard, progress=cfg.log.progress, enabled=self.ddp.is_main)
        history: list[dict] = []
        self._checkpoint_step, self._validated_step = self.step, None
        try:
            with stop_on_signals() as stop:
                interrupted = self._loop(end_step, run_log, history, stop)
                # A final validation at the end or at --max-steps; an interruption should exit quickly.
                if self.val_clips and not interrupted and self.step > 0 and self._validated_step != self.step:
                    self._validate(run_log)
                # The generator step's D pass updates BatchNorm statistics locally: all ranks end identical.
                self.ddp.share_buffers(self.generator, self.discriminator)
                if self._checkpoint_step != self.step:
                    self.save_checkpoint()
                self.export()
                self.ddp.barrier()
        finally:
            run_log.close()
        finished = self.step >= self.total_steps or budget_spent(cfg.train, self.wall_time)
        return TrainResult(self.run_dir, self.step, self.total_steps, finished, history, self.best_psnr)

    def _loop(self, end_step: int, run_log: RunLog, history: list[dict], stop: StopRequest) -> bool:
        """Steps up to `end_step`; True when a stop request ended them early (after a checkpoint)."""
        cfg = self.config
        self.generator.train()
        self.discriminator.train()
        started = time.perf_counter()
        for batch in self.source.batches(self.step, end_step):
            values = self.train_step(batch)
            self.step += 1
            elapsed = time.perf_counter() - started
            self.wall_time += self.ddp.share(elapsed)  # rank 0's clock: every rank's schedule and stop agree
            self.advance_schedules()
            self.step_seconds.append(elapsed)  # data wait + step: what benchmarks report
            keep_latest(self.step_seconds)
            started = time.perf_counter()
            if values is not None:
                history.append(values)
                keep_latest(history)
            self._log_step(run_log, values)
            if cfg.val.every and self.step % cfg.val.every == 0 and self.step < end_step:
                self._validate(run_log)
                started = time.perf_counter()
            if self.step % cfg.train.checkpoint_every == 0:
                self.save_checkpoint()
            if self.ddp.any(stop.requested):
                log.warning("stop requested: checkpoint written at step %d; continue with --resume %s",
                            self.step, self.run_dir)
                return True
            if budget_spent(cfg.train, self.wall_time):
                log.info("step %d: the wall-time budget train.seconds=%g is spent", self.step, cfg.train.seconds)
                break
        return False

    def _log_step(self, run_log: RunLog, values: dict | None) -> None:
        cfg = self.config
        schedule = step_schedule(cfg.train, self.step - 1)
        phase = ("gan" if schedule["update_g"] else "d_warmup") if schedule["gan_phase"] else "warmup"
        run_log.step(self.step, values, phase=phase, lr_g=self.opt_g.param_groups[0]["lr"],
                     lr_d=self.opt_d.param_groups[0]["lr"], seconds=round(self.wall_time, 2))
        if run_log.writes_images and cfg.log.image_every and self.step % cfg.log.image_every == 0:
            from spectraframe.degradation import bicubic_upsample

            batch = self._last_batch
            bicubic = bicubic_upsample(batch["target"][0].float(), self.rbpn_config.scale)
            run_log.image(self.step, "train/bicubic_sr_hr", image_row(bicubic, self._last_sr[0], batch["hr"][0]))

    def _validate(self, run_log: RunLog) -> None:
        if self.ddp.is_main:
            cfg = self.config
            log.info("step %d: validating on %d clips (%s frames)", self.step, len(self.val_clips), cfg.val.frames)
            from spectraframe.flow.cache import FlowCache

            cache = FlowCache(self.source.flow_cache_dir, max_bytes=int(cfg.data.flow_cache_gb * 1024**3))
            dtype = torch.bfloat16 if cfg.train.amp == "bf16" else None
            psnr, ssim, preview = validate(
                self.shipped_generator, self.val_clips, scale=self.rbpn_config.scale,
                degradation=cfg.validation_degradation(),
                flow_method=cfg.data.flow_method, frames=cfg.val.frames, flow_cache=cache, autocast_dtype=dtype,
            )
            log.info("step %d: validation Y-PSNR %.3f dB, SSIM %.4f on %d clips", self.step, psnr, ssim,
                     len(self.val_clips))
            run_log.validation(self.step, psnr, ssim, preview, round(self.wall_time, 2))
            if self.best_psnr is None or psnr > self.best_psnr:
                self.best_psnr = psnr
                save_generator(self.run_dir / "best.safetensors", self.shipped_generator,
                               flow_method=cfg.data.flow_method,
                               provenance=self.provenance(val_psnr=psnr, val_ssim=ssim))
        # Everyone learns the best PSNR so checkpoints agree; rank 0 computed it.
        self.best_psnr = self.ddp.share(self.best_psnr)
        self._validated_step = self.step


def train(config: Config, run_dir: str | Path, *, resume: bool = False, max_steps: int | None = None,
          origin: dict | None = None) -> TrainResult:
    """Train (or resume) a run; see `Trainer`. `origin`: the command and config name the provenance records."""
    return Trainer(config, run_dir, resume=resume, origin=origin).fit(max_steps=max_steps)


def load_run_config(run_dir: str | Path, overrides: list[str] | None = None) -> Config:
    """The resolved config saved in a run folder, with optional overrides (for --resume)."""
    from spectraframe.models.config import apply_overrides, read_config_file

    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise SpectraFrameError(f"{path} not found: {run_dir} is not a training run folder")
    config = config_from_dict(apply_overrides(read_config_file(path), overrides or []))
    config.validate()
    return config
