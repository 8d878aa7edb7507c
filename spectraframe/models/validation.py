"""Validation of a training run: the evaluation protocol (`spectraframe.evaluate`) on the in-memory generator."""

from __future__ import annotations

import torch
from torch import Tensor

from spectraframe.generator import Generator, generator_device
from spectraframe.models.run_log import image_row


def validate(
    model: Generator,
    clips: list,
    *,
    scale: int,
    degradation: str,
    flow_method: str,
    frames: str = "all",
    flow_cache=None,
    autocast_dtype: torch.dtype | None = None,
) -> tuple[float, float, Tensor | None]:
    """The evaluation protocol (`spectraframe.evaluate`, Y channel, no border) on the in-memory generator: mean
    over clips of the per-clip mean PSNR / SSIM, and a preview row bicubic|SR|HR of the first scored frame."""
    from spectraframe.evaluate import EvalProtocol, EvalReport, generator_clip_method, score_clips

    previews: list[Tensor] = []

    def keep_first(clip, t: int, panels: list[tuple[str, Tensor]]) -> None:
        if not previews:
            previews.append(image_row(*(image.float() / 255.0 for _, image in panels)))

    was_training = model.training
    model.eval()
    try:
        method = generator_clip_method(model, flow_method, flow_cache=flow_cache, autocast_dtype=autocast_dtype)
        scores = score_clips(clips, method, EvalProtocol(scale, degradation, frames=frames),
                             device=generator_device(model), on_frame=keep_first)
    finally:
        model.train(was_training)
    means = EvalReport(scores).mean_of_clip_means()
    return means["psnr_y"], means["ssim_y"], previews[0] if previews else None
