"""Score a super-resolution method on an evaluation set with the standard video-SR protocol.

Per clip: HR frames cropped to a multiple of the scale; LR = degrade(HR) ("bi": MATLAB bicubic
imresize, "bd": Gaussian blur + subsample), rounded to uint8, then the degradation's steps if it has any
(`bi+h264:crf=28`: the LR clip encoded by libx264 as one sequence and decoded back, see
`spectraframe.degradation.steps`), which the bicubic baseline and the method both get; the method's output
rounded to uint8;
PSNR/SSIM (Y of BT.601 by default) per scored frame; mean over the clip's frames, then over clips.
A method is "bicubic" or any callable `sr_clip(lr (T,3,h,w) float [0,1], targets) -> (len(targets),3,H,W)`
returning the frames `targets` of the clip (all of them unless only some are scored, as in Vimeo-90K-T);
neighbours beyond a clip's ends are the method's business (the generator path replicates the nearest frame).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from spectraframe.comparison import comparison_image
from spectraframe.data.eval_datasets import load_eval_clips
from spectraframe.data.windows import require_odd_window
from spectraframe.degradation import bicubic_upsample, degrade, modcrop
from spectraframe.degradation.steps import apply_steps, parse_degradation
from spectraframe.errors import SpectraFrameError
from spectraframe.flow.api import DEFAULT_FLOW_METHOD
from spectraframe.io.images import write_image
from spectraframe.io.tensors import quantize as quantize_uint8_grid
from spectraframe.io.tensors import round_to_uint8
from spectraframe.metrics.psnr_ssim import CHANNELS, SSIM_WINDOW, psnr_ssim
from spectraframe.paths import Output, check_outputs, hidden_sibling, install_output, is_ours, mark_ours

log = logging.getLogger(__name__)

# sr_clip(lr clip (T,3,h,w) float [0,1], target indices) -> super-resolved targets (len(targets),3,H,W)
SrClip = Callable[[torch.Tensor, list[int]], torch.Tensor]


@dataclass
class FrameScore:
    frame: str
    psnr: float
    ssim: float
    lpips: float | None = None


@dataclass
class ClipScore:
    name: str
    frames: list[FrameScore]
    tof: float | None = None

    def mean(self, metric: str) -> float | None:
        if metric == "tof":
            return self.tof
        values = [getattr(f, metric) for f in self.frames]
        return None if any(v is None for v in values) else float(np.mean(values))


@dataclass
class EvalReport:
    """Scores per frame, per clip and the mean of clip means, with the settings that produced them."""

    clips: list[ClipScore]
    settings: dict = field(default_factory=dict)

    @property
    def metrics(self) -> list[str]:
        names = ["psnr", "ssim"]
        if self.settings.get("lpips"):
            names.append("lpips")
        if self.settings.get("tof"):
            names.append("tof")
        return names

    def key(self, metric: str) -> str:
        """Result key of a metric: PSNR/SSIM carry the channel they were computed on (psnr_y, ssim_rgb)."""
        return f"{metric}_{self.settings.get('channel', 'y')}" if metric in ("psnr", "ssim") else metric

    def mean_of_clip_means(self) -> dict[str, float]:
        means = {}
        for metric in self.metrics:
            values = [c.mean(metric) for c in self.clips]
            values = [v for v in values if v is not None and not math.isnan(v)]
            means[self.key(metric)] = float(np.mean(values)) if values else float("nan")
        return means

    def to_dict(self) -> dict:
        clips = {}
        for clip in self.clips:
            entry: dict = {"frames": len(clip.frames)}
            entry.update({self.key(m): clip.mean(m) for m in self.metrics})
            entry["per_frame"] = [
                {("frame" if k == "frame" else self.key(k)): v for k, v in asdict(f).items() if v is not None}
                for f in clip.frames
            ]
            clips[clip.name] = entry
        return {"settings": self.settings, "clips": clips, "mean_of_clip_means": self.mean_of_clip_means()}

    def write_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    def write_csv(self, path: str | Path) -> Path:
        """One row per clip, then the mean-of-clip-means row."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        keys = [self.key(m) for m in self.metrics]
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["clip", "frames", *keys])
            for clip in self.clips:
                writer.writerow([clip.name, len(clip.frames), *(clip.mean(m) for m in self.metrics)])
            means = self.mean_of_clip_means()
            writer.writerow(["mean_of_clip_means", sum(len(c.frames) for c in self.clips), *(means[k] for k in keys)])
        return path

    def format_table(self) -> str:
        """A plain-text table: one row per clip and the mean row."""
        formats = {"psnr": "{:.4f}", "ssim": "{:.4f}", "lpips": "{:.4f}", "tof": "{:.4f}"}
        header = ["clip", "frames", *(self.key(m).upper().replace("_", "-") for m in self.metrics)]

        def cells(values: list[float | None]) -> list[str]:
            return [("-" if v is None else formats[m].format(v)) for m, v in zip(self.metrics, values, strict=True)]

        rows = [[c.name, str(len(c.frames)), *cells([c.mean(m) for m in self.metrics])] for c in self.clips]
        means = self.mean_of_clip_means()
        rows.append(["mean of clip means", str(sum(len(c.frames) for c in self.clips)),
                     *cells([means[self.key(m)] for m in self.metrics])])
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths,
                                                                                                strict=True)))]
        lines.append("-" * len(lines[0]))
        for n, row in enumerate(rows):
            if n == len(rows) - 1:
                lines.append("-" * len(lines[0]))
            lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                   for i, (c, w) in enumerate(zip(row, widths, strict=True))))
        return "\n".join(lines)


def generator_method(weights: str | Path, device: str | torch.device = "cpu", scale: int | None = None,
                     degradation: str | None = None, ensemble: bool = False) -> SrClip:
    """An `sr_clip` callable running a trained RBPN checkpoint (flows with the method it was trained with);
    `ensemble`: its x8 self-ensemble (`spectraframe.generator.SelfEnsemble`).

    With `degradation`, warns when the checkpoint records training on another one: its scores would
    then measure the mismatch more than the model."""
    from spectraframe.checkpoints import load_generator

    model, metadata = load_generator(weights, device, scale=scale)
    require_odd_window(model.config.num_frames, str(weights))
    trained_on = metadata.get("provenance", {}).get("config", {}).get("data", {}).get("degradation")
    # A model trained on a clean degradation is warned about another clean one; the steps after it (a codec,
    # noise) are what an evaluation of robustness adds on purpose, and the real-world model expects them.
    base = None if degradation is None else parse_degradation(degradation).base
    if base is not None and trained_on in ("bi", "bd") and trained_on != base:
        log.warning("%s was trained on %s degradation, but the evaluation uses %s", weights, trained_on, degradation)
    return generator_clip_method(model, metadata.get("flow_method", DEFAULT_FLOW_METHOD), ensemble=ensemble)


def generator_clip_method(model, flow_method: str = DEFAULT_FLOW_METHOD, *, flow_cache=None,
                          autocast_dtype: torch.dtype | None = None, ensemble: bool = False) -> SrClip:
    """An `sr_clip` callable running an in-memory generator (what training validation scores); `ensemble`: its x8
    self-ensemble."""
    from spectraframe.generator import SelfEnsemble
    from spectraframe.inference import super_resolve_clip

    model = SelfEnsemble(model) if ensemble else model

    def sr_clip(lr_frames: torch.Tensor, targets: list[int]) -> torch.Tensor:
        return super_resolve_clip(model, lr_frames, flow_method=flow_method, targets=targets, flow_cache=flow_cache,
                                  autocast_dtype=autocast_dtype)

    return sr_clip


@dataclass(frozen=True)
class EvalProtocol:
    """How a clip is scored (see the module doc); `frames="centre"` scores only each clip's middle frame (a quick
    validation), "all" the clip's scored frames (the protocol)."""

    scale: int = 4
    degradation: str = "bi"
    channel: str = "y"
    border: int = 0
    frames: str = "all"

    def check(self) -> None:
        parse_degradation(self.degradation)
        if self.channel not in CHANNELS:
            raise SpectraFrameError(f"unknown channel {self.channel!r}: choose one of {', '.join(CHANNELS)}")
        if self.scale < 1 or int(self.scale) != self.scale:
            raise SpectraFrameError(f"scale must be a positive integer, got {self.scale}")
        if self.border < 0:
            raise SpectraFrameError(f"border must be >= 0, got {self.border}")


# on_frame(clip, frame index, [("bicubic", uint8 (3,H,W)), ("output", ...), ("ground truth", ...)]) per scored frame
OnFrame = Callable[[object, int, list[tuple[str, torch.Tensor]]], None]


def evaluate(
    dataset_root: str | Path,
    list_file: str | Path | None = None,
    scale: int = 4,
    method: str | SrClip = "bicubic",
    degradation: str = "bi",
    lpips: bool = False,
    tof: bool = False,
    save_frames: str | Path | None = None,
    border: int = 0,
    channel: str = "y",
    layout: str = "auto",
    device: str | torch.device = "cpu",
    progress: bool = True,
    overwrite: bool = False,
) -> EvalReport:
    """Evaluate `method` on the clips under `dataset_root` (see `spectraframe.data.eval_datasets`).

    `method`: "bicubic" (the protocol's baseline) or `sr_clip(lr, targets)` (see `SrClip`).
    `lpips` adds LPIPS (VGG) per scored frame, `tof` the temporal flow difference per clip,
    `save_frames` a new folder for comparison PNGs (`<clip>/<frame>.png`), written aside and put in place at
    the end; with `overwrite` it may replace a previous one (never a folder spectraframe did not make, never the
    dataset: see `spectraframe.paths.check_outputs`).
    """
    protocol = EvalProtocol(scale, degradation, channel, border)
    protocol.check()
    if isinstance(method, str) and method != "bicubic":
        raise SpectraFrameError(f"unknown method {method!r}: use 'bicubic' or pass trained weights")
    device = torch.device(device)
    if save_frames is not None:
        save_frames = Path(save_frames)
        check_outputs([Output(save_frames, "folder", "--save-frames")], [dataset_root, list_file],
                      overwrite=overwrite)
    clips = load_eval_clips(dataset_root, list_file, layout=layout, exclude=save_frames)
    lpips_model = _lpips_model(device) if lpips else None
    settings = {
        "dataset_root": str(dataset_root),
        "list_file": None if list_file is None else str(list_file),
        "scale": scale,
        "method": method if isinstance(method, str) else getattr(method, "__name__", "callable"),
        "degradation": str(parse_degradation(degradation)),
        "channel": channel,
        "border": border,
        "lpips": lpips,
        "tof": tof,
    }
    staging = _staging_folder(save_frames) if save_frames is not None else None
    try:
        scores = score_clips(clips, method, protocol, lpips_model=lpips_model, tof=tof, device=device,
                             progress=progress, on_frame=partial(_write_comparison, staging) if staging else None)
        if staging is not None:
            install_output(staging, save_frames)
    except BaseException:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    return EvalReport(scores, settings)


def score_clips(clips: list, method: str | SrClip, protocol: EvalProtocol, *, lpips_model=None, tof: bool = False,
                device: str | torch.device = "cpu", progress: bool = False,
                on_frame: OnFrame | None = None) -> list[ClipScore]:
    """The protocol on in-memory clip descriptions (`EvalClip`): what `evaluate` and training validation run."""
    device = torch.device(device)
    scores = []
    bar = tqdm(clips, desc="evaluating", unit="clip", disable=not progress)
    for clip in bar:
        bar.set_postfix_str(clip.name)
        scores.append(_evaluate_clip(clip, method, protocol, lpips_model, tof, device, on_frame))
    return scores


def _write_comparison(folder: Path, clip, t: int, panels: list[tuple[str, torch.Tensor]]) -> None:
    picture = comparison_image([(label, x.permute(1, 2, 0).numpy()) for label, x in panels])
    write_image(folder / clip.name / f"{clip.frame_paths[t].stem}.png", picture)


def _staging_folder(save_frames: Path) -> Path:
    """The hidden folder the comparison pictures go to until the evaluation has finished, marked as ours."""
    staging = hidden_sibling(save_frames, "spectraframe-work")
    if staging.exists() or staging.is_symlink():
        if not is_ours(staging):
            raise SpectraFrameError(f"{staging} is in the way of --save-frames {save_frames} and was not made by "
                                    "spectraframe: remove it yourself or choose another folder")
        shutil.rmtree(staging)  # left by an interrupted evaluation
    mark_ours(staging, "eval")
    return staging


# Frames processed together in the float64 stages: bounds memory on long clips (41 frames of Vid4).
CHUNK_FRAMES = 8


def _degrade_clip(hr_uint8: torch.Tensor, scale: int, degradation: str,
                  clip_name: str = "") -> tuple[torch.Tensor, torch.Tensor]:
    """(LR float32 in [0, 1] on the uint8 grid, bicubic baseline uint8) of a (T, 3, H, W) uint8 clip. The steps
    after the clean degradation (a codec, noise) see the whole LR clip at once: a codec encodes it as one sequence."""
    spec = parse_degradation(degradation)
    lr_chunks = []
    for start in range(0, hr_uint8.shape[0], CHUNK_FRAMES):
        # float64 on the CPU: the protocol's LR is exact to the uint8 grid whatever the device.
        hr = hr_uint8[start : start + CHUNK_FRAMES].to(torch.float64) / 255.0
        lr_chunks.append(degrade(hr, scale, spec.base, quantize=True))
    lr = torch.cat(lr_chunks)
    if spec.steps:
        lr = quantize_uint8_grid(apply_steps(lr, spec, clip_name).double())
    bicubic_chunks = [round_to_uint8(bicubic_upsample(lr[start : start + CHUNK_FRAMES], scale))
                      for start in range(0, lr.shape[0], CHUNK_FRAMES)]
    return lr.float(), torch.cat(bicubic_chunks)


def _psnr_ssim_chunked(output: torch.Tensor, target: torch.Tensor, channel: str, border: int) -> tuple[list, list]:
    psnr_values, ssim_values = [], []
    for start in range(0, output.shape[0], CHUNK_FRAMES):
        p, s = psnr_ssim(output[start : start + CHUNK_FRAMES], target[start : start + CHUNK_FRAMES],
                         channel=channel, border=border)
        psnr_values += p.tolist()
        ssim_values += s.tolist()
    return psnr_values, ssim_values


def _run_method(method: str | SrClip, clip_name: str, lr: torch.Tensor, bicubic: torch.Tensor, computed: list[int],
                hr_shape: tuple, device: torch.device) -> torch.Tensor:
    """The method's uint8 output for the frames `computed`, its shape checked."""
    if isinstance(method, str):
        return bicubic[computed]
    with torch.inference_mode():
        result = method(lr.to(device), computed)
    expected = (len(computed), *hr_shape[1:])
    if not isinstance(result, torch.Tensor) or tuple(result.shape) != expected:
        got = tuple(result.shape) if isinstance(result, torch.Tensor) else type(result).__name__
        raise SpectraFrameError(
            f"the method returned {got} for clip {clip_name}, expected {expected} (frames {computed}, 3, H, W) "
            f"from LR frames {tuple(lr.shape)}"
        )
    return round_to_uint8(result)


def _evaluate_clip(clip, method, protocol: EvalProtocol, lpips_model, tof: bool, device: torch.device,
                   on_frame: OnFrame | None) -> ClipScore:
    frames = torch.from_numpy(clip.read()).permute(0, 3, 1, 2)  # (T, 3, H, W) uint8
    hr_uint8 = modcrop(frames, protocol.scale).contiguous()
    _check_scorable(clip.name, hr_uint8.shape[-2:], protocol.border)
    lr, bicubic = _degrade_clip(hr_uint8, protocol.scale, protocol.degradation, clip.name)
    scored = [len(hr_uint8) // 2] if protocol.frames == "centre" else list(clip.scored)
    # tOF compares consecutive output frames: then every frame is needed, else only the scored ones.
    computed = list(range(len(hr_uint8))) if tof else scored
    output = _run_method(method, clip.name, lr, bicubic, computed, tuple(hr_uint8.shape), device)
    position = {t: i for i, t in enumerate(computed)}
    scored_output = output[[position[t] for t in scored]]
    psnr_values, ssim_values = _psnr_ssim_chunked(scored_output, hr_uint8[scored], protocol.channel, protocol.border)
    lpips_values: list[float | None] = [None] * len(scored)
    if lpips_model is not None:
        lpips_values = _lpips_frames(lpips_model, scored_output, hr_uint8[scored], protocol.border, device)
    scores = [
        FrameScore(clip.frame_paths[t].name, float(p), float(s), lp)
        for t, p, s, lp in zip(scored, psnr_values, ssim_values, lpips_values, strict=True)
    ]
    tof_value = None
    if tof:
        from spectraframe.metrics.tof import tof_clip

        tof_value = tof_clip(output, hr_uint8) if len(output) > 1 else float("nan")
    if on_frame is not None:
        for t in scored:
            on_frame(clip, t, [("bicubic", bicubic[t]), ("output", output[position[t]]), ("ground truth", hr_uint8[t])])
    return ClipScore(clip.name, scores, tof_value)


def _check_scorable(clip_name: str, hr_size: torch.Size, border: int) -> None:
    """SSIM's 11x11 window must fit in the frame left after the border crop."""
    height, width = (int(v) for v in hr_size)
    if min(height, width) - 2 * border < SSIM_WINDOW:
        raise SpectraFrameError(
            f"clip {clip_name}: frames of {width}x{height} (after cropping to a multiple of the scale) leave "
            f"{width - 2 * border}x{height - 2 * border} after a border of {border}; SSIM needs at least "
            f"{SSIM_WINDOW}x{SSIM_WINDOW}: use larger frames or a smaller --border"
        )


def _lpips_model(device: torch.device):
    from spectraframe.metrics.lpips import LPIPS

    return LPIPS().to(device)


def _lpips_frames(model, output: torch.Tensor, target: torch.Tensor, border: int, device) -> list[float]:
    values = []
    for out, tgt in zip(output, target, strict=True):  # one frame at a time: VGG activations are large
        if border:
            out, tgt = out[..., border:-border, border:-border], tgt[..., border:-border, border:-border]
        with torch.inference_mode():
            values.append(float(model(out.to(device).float()[None] / 255.0, tgt.to(device).float()[None] / 255.0)))
    return values

