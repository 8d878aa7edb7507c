"""What a run reports as it goes: log.csv, TensorBoard and the progress bar, from one object (rank 0 only)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

CSV_COLUMNS = [
    "step", "phase", "lr_g", "lr_d", "loss_g", "pixel", "adversarial", "perceptual", "tv", "temporal",
    "loss_d", "d_real", "d_fake", "val_psnr", "val_ssim", "seconds",
]


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


class RunLog:
    """Per-step values averaged over `every` steps into log.csv and TensorBoard, validations, images, and the
    progress bar. `enabled=False` (the other DDP ranks) makes every method a no-op."""

    def __init__(self, run_dir: Path, *, step: int, total_steps: int, every: int, tensorboard: bool,
                 progress: bool, enabled: bool = True):
        self.every = every
        self.enabled = enabled
        self.window: dict[str, list[float]] = {}
        self.csv = self.writer = self.bar = None
        if not enabled:
            return
        self.csv = CsvLog(run_dir / "log.csv", step if step > 0 else None)
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(run_dir / "tensorboard"), purge_step=step or None)
        from tqdm import tqdm

        self.bar = tqdm(total=total_steps, initial=step, unit="it", desc="training", disable=not progress,
                        dynamic_ncols=True)

    def step(self, step: int, values: dict | None, *, phase: str, lr_g: float, lr_d: float, seconds: float) -> None:
        """One finished step (`values` None when it was skipped); every `every` steps the window's means."""
        if values is not None:
            for k, v in values.items():
                if k != "phase":
                    self.window.setdefault(k, []).append(v)
        if not self.enabled:
            return
        self.bar.update(1)
        if values is not None:
            postfix = {"loss": f"{values.get('loss_g', float('nan')):.4g}", "phase": values["phase"]}
            if "loss_d" in values:
                postfix["D"] = f"{values['loss_d']:.3g}"
            self.bar.set_postfix(postfix, refresh=False)
        if step % self.every == 0 and self.window:
            means = {k: float(np.mean(v)) for k, v in self.window.items()}
            self.window.clear()
            self.csv.write({"step": step, "phase": phase, "lr_g": lr_g, "lr_d": lr_d, "seconds": seconds, **means})
            self.scalars(step, {**{f"train/{k}": v for k, v in means.items()}, "train/lr_g": lr_g, "train/lr_d": lr_d})

    def validation(self, step: int, psnr: float, ssim: float, preview: Tensor | None, seconds: float) -> None:
        if not self.enabled:
            return
        self.csv.write({"step": step, "val_psnr": psnr, "val_ssim": ssim, "seconds": seconds})
        self.scalars(step, {"val/psnr": psnr, "val/ssim": ssim})
        if preview is not None:
            self.image(step, "val/bicubic_sr_hr", preview)
        if self.bar is not None:
            self.bar.unpause()  # keep validation time out of the it/s and ETA

    def scalars(self, step: int, values: dict[str, float]) -> None:
        if self.writer is not None:
            for name, value in values.items():
                self.writer.add_scalar(name, value, step)

    @property
    def writes_images(self) -> bool:
        return self.writer is not None

    def image(self, step: int, name: str, image: Tensor) -> None:
        if self.writer is not None:
            self.writer.add_image(name, image, step)

    def close(self) -> None:
        for part in (self.bar, self.writer):
            if part is not None:
                part.close()
