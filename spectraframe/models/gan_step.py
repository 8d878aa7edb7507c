"""One iteration of the SpectraFrame GAN, on its own: modules and optimisers in, losses out (no run folder).

1. SR = G(LR target, neighbours, flows) (with the temporal term: and of the next frame's window, one batch);
2. in the GAN phase, the discriminator step on D(HR) and D(SR detached), unless `update_d=False`;
3. the generator step: pixel + adversarial + perceptual + TV (+ temporal), the adversarial term from a NEW
   forward pass of the just-updated D (the published code reused a stale graph, which current PyTorch
   rejects); skipped with `update_g=False` (the discriminator warm-up: G frozen).
A NaN/Inf loss or gradient on any rank skips that update on every rank.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from spectraframe.archs.srgan_discriminator import Discriminator
from spectraframe.losses import GeneratorLoss, discriminator_loss
from spectraframe.models.distributed import Distributed
from spectraframe.models.run_state import ema_decay, update_ema


class DiscriminatorLogits(nn.Module):
    """D whose forward returns logits, so DDP (which wraps forward) can carry it."""

    def __init__(self, discriminator: Discriminator):
        super().__init__()
        self.discriminator = discriminator

    def forward(self, images: Tensor) -> Tensor:
        return self.discriminator.logits(images)


def grads_finite(module: nn.Module) -> bool:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return True
    return bool(torch.stack([torch.isfinite(g).all() for g in grads]).all())


@dataclass
class StepOutcome:
    sr: Tensor  # the generator's output (detached)
    values: dict  # losses and D scores as floats, and "phase"
    skipped: bool  # an update was skipped for a NaN/Inf loss or gradient


@dataclass
class GanStep:
    """`step(batch, step=n, gan_phase=...)` runs one iteration on a batch already on the device (see the module
    doc); the step number only ramps the weight average's decay. Schedules, the NaN budget and which network
    is updated when (warm-ups, D's update ratio: `update_d`, `update_g`) are the caller's."""

    generator: nn.Module
    discriminator: Discriminator
    loss: GeneratorLoss
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    gan_form: str = "paper"
    autocast: Callable[[], AbstractContextManager] = nullcontext  # a fresh autocast context per call
    scaler: torch.amp.GradScaler = field(default_factory=lambda: torch.amp.GradScaler("cpu", enabled=False))
    ddp: Distributed = field(default_factory=Distributed)
    ema: nn.Module | None = None  # the weight average, updated after each generator update
    ema_decay: float = 0.0
    g_train: nn.Module | None = None  # what computes G's training forward: G or its DDP wrapper (default G)
    d_train: nn.Module | None = None  # likewise for D's logits (default DiscriminatorLogits(D))

    def __post_init__(self) -> None:
        self.g_train = self.g_train or self.generator
        self.d_train = self.d_train or DiscriminatorLogits(self.discriminator)

    def __call__(self, batch: dict[str, Tensor], *, step: int, gan_phase: bool, update_d: bool = True,
                 update_g: bool = True) -> StepOutcome:
        hr = batch["hr"]
        temporal = gan_phase and update_g and self.loss.weights.temporal > 0
        with self.autocast(), torch.set_grad_enabled(update_g):
            sr, sr_next = self._generate(batch, with_next_frame=temporal)
        values: dict = {}
        stepped = skipped = False  # GradScaler.update() needs a scaler.step() since the last update
        if gan_phase and update_d:  # D on HR and on G's output (no gradient into G)
            with self.autocast():
                real_logits, fake_logits = self.d_train(hr), self.d_train(sr.detach())
            loss_d = discriminator_loss(real_logits, fake_logits, self.gan_form)
            stepped = self._update(self.opt_d, loss_d, self.discriminator)
            skipped = not stepped
            values.update(loss_d=float(loss_d.detach()), d_real=float(real_logits.detach().float().sigmoid().mean()),
                          d_fake=float(fake_logits.detach().float().sigmoid().mean()))
        if update_g and not skipped:
            with self.autocast():
                fake_logits, real_logits = self._fresh_logits(sr, hr) if gan_phase else (None, None)
                next_frame = (sr_next, batch["next_hr"], batch["next_flow"]) if temporal else None
                loss_g, parts = self.loss(sr, hr, fake_logits, real_logits=real_logits, temporal=next_frame)
            if self._update(self.opt_g, loss_g, self.generator):
                stepped = True
                if self.ema is not None:
                    update_ema(self.ema, self.generator, ema_decay(self.ema_decay, step))
            else:
                skipped = True
            values.update(loss_g=float(loss_g.detach()), **{k: float(v) for k, v in parts.items()})
        if stepped:  # a fully skipped step keeps the scale: the loss, not the scaled gradients, was bad
            self.scaler.update()
        values["phase"] = ("gan" if update_g else "d_warmup") if gan_phase else "warmup"
        return StepOutcome(sr.detach(), values, skipped)

    def _generate(self, batch: dict[str, Tensor], *, with_next_frame: bool) -> tuple[Tensor, Tensor | None]:
        """G's output, and with `with_next_frame` also that of the next frame's window (one forward pass).
        An over-parameterised G's kernels are computed once per pass (`parametrize.cached`), not at every use."""
        with parametrize.cached():
            if not with_next_frame:
                return self.g_train(batch["target"], batch["neighbours"], batch["flows"]), None
            both = self.g_train(*(torch.cat([batch[key], batch[f"next_{key}"]]) for key in ("target", "neighbours",
                                                                                             "flows")))
        return both.chunk(2)

    def _fresh_logits(self, sr: Tensor, hr: Tensor) -> tuple[Tensor, Tensor | None]:
        """D's logits of SR by the updated D, for G's adversarial term: gradients reach G, not D. "ragan" also
        needs D's logits of HR (no gradient), else None."""
        self.discriminator.requires_grad_(False)
        try:
            real_logits = None
            if self.gan_form == "ragan":
                with torch.no_grad():
                    real_logits = self.discriminator.logits(hr)
            return self.discriminator.logits(sr), real_logits
        finally:
            self.discriminator.requires_grad_(True)

    def _update(self, optimizer: torch.optim.Optimizer, loss: Tensor, module: nn.Module) -> bool:
        """Backward and step, unless the loss or a gradient is NaN/Inf on any rank: then False, no step."""
        optimizer.zero_grad(set_to_none=True)
        bad = not bool(torch.isfinite(loss))
        if not bad:
            self.scaler.scale(loss).backward()
            bad = not self.scaler.is_enabled() and not grads_finite(module)
        if self.ddp.any(bad):
            optimizer.zero_grad(set_to_none=True)
            return False
        self.scaler.step(optimizer)
        return True
