"""The whole training corpus held on the training device, sampled a batch at a time without a DataLoader.

On a GPU, `TrainingSamples` (a Python dict per sample from disk, on CPU workers) cannot keep up with a small
network. This module prepares what `TrainingSamples` computes once per clip — the MATLAB-bicubic LR frames
(rounded to uint8) and the flows from each target to its neighbours on the whole LR frames — and keeps the HR
and LR frames as uint8 and the flows as float32 in padded device tensors. A batch is then one gather per tensor:
uniform targets, uniform crops, and the 8 symmetries of `augment.Symmetry`, applied by `Symmetry` itself (frames
and flow vectors transformed the same way). `patches` with a given crop and symmetry returns what
`TrainingSamples` returns for them, within uint8 rounding of the LR (tests/data/test_resident.py); with
`temporal` a batch also holds the next frame's window and the flow to it, as `TrainingSamples(temporal=True)`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from spectraframe.data.augment import Symmetry
from spectraframe.data.windows import neighbour_indices
from spectraframe.errors import SpectraFrameError

log = logging.getLogger(__name__)

HOLDOUT = "holdout.txt"  # a pack's held-out clips (benchmarks/gpu_run.py pack)
ORDER = "order.txt"  # a pack's clips in train.txt's order


@dataclass
class PreparedClip:
    """One clip ready for the device: HR (T,3,H,W) uint8 (modcropped), LR (T,3,h,w) uint8, flows (T,F-1,2,h,w)
    from each target to its neighbours, and those neighbours' indices (T,F-1) within the clip."""

    name: str
    hr: Tensor
    lr: Tensor
    flows: Tensor
    neighbours: Tensor


def prepare_clip(name: str, frames: Sequence[np.ndarray], scale: int, num_frames: int,
                 flow_method: str) -> PreparedClip:
    """What `TrainingSamples.window_at` computes for every frame of a clip: LR by MATLAB bicubic rounded to uint8,
    flows from each target to its RBPN-ordered neighbours estimated on the whole LR frames."""
    from spectraframe.data.train_datasets import frames_to_tensor
    from spectraframe.degradation import degrade, modcrop
    from spectraframe.flow.api import estimate_flow

    hr = modcrop(frames_to_tensor(list(frames)), scale)
    lr = degrade(hr, scale, "bi", quantize=True)
    length = len(frames)
    order = [neighbour_indices(t, length, num_frames) for t in range(length)]
    flows = torch.stack([estimate_flow(lr[t], lr[order[t]], method=flow_method).float() for t in range(length)])
    as_uint8 = lambda x: x.mul(255).round_().to(torch.uint8)  # noqa: E731
    return PreparedClip(name, as_uint8(hr), as_uint8(lr), flows, torch.tensor(order, dtype=torch.long))


def _prepare_packed(job: tuple) -> dict:
    torch.set_num_threads(1)
    from spectraframe.data.packed import decode_clip

    folder, clip, scale, num_frames, flow_method = job
    frames = decode_clip(Path(folder) / clip.file, clip.frames)
    return prepare_clip(clip.name, frames, scale, num_frames, flow_method).__dict__


def _prepare_folder(job: tuple) -> dict:
    torch.set_num_threads(1)
    from spectraframe.io.images import read_frames

    name, paths, scale, num_frames, flow_method = job
    return prepare_clip(name, read_frames(paths), scale, num_frames, flow_method).__dict__


def pack_parts(pack: str | Path) -> list[Path]:
    """A pack folder (index.json) or a folder of pack parts (part*/index.json), in name order."""
    pack = Path(pack)
    if (pack / "index.json").is_file():
        return [pack]
    parts = sorted(p.parent for p in pack.glob("*/index.json"))
    if not parts:
        raise SpectraFrameError(f"no packed clips in {pack} (data.pack): expected index.json there or in its part "
                                "folders; make them with `make gpu-pack` in the repository, or train on a folder "
                                "of clips with data.pack=null data.root=FOLDER")
    return parts


def prepared_name(name: str, scale: int, num_frames: int, flow_method: str) -> str:
    return f"{name}-x{scale}-{num_frames}f-{flow_method}.pt"


def prepare_files(jobs: dict[str, tuple], target: Path, workers: int) -> Path:
    """Prepare clips into `target` (a list of PreparedClip dicts), on `workers` processes, unless it exists.
    `jobs`: {"packed" or "folder": [per-clip argument tuples]}."""
    from multiprocessing import get_context

    if target.is_file():
        return target
    kind, arguments = next(iter(jobs.items()))
    function = _prepare_packed if kind == "packed" else _prepare_folder
    start = time.perf_counter()
    if workers > 1:
        with get_context("spawn").Pool(workers) as pool:
            prepared = pool.map(function, arguments, chunksize=2)
    else:
        prepared = [function(job) for job in arguments]
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    torch.save(prepared, partial)
    partial.replace(target)
    log.info("prepared %d clips in %.1f s -> %s", len(prepared), time.perf_counter() - start, target)
    return target


def pack_prepared_file(part: Path, prepared: Path, scale: int, num_frames: int, flow_method: str) -> Path:
    """Where a pack part's prepared clips live: keyed by its index, so another pack's part of the same name (a dry
    run's) never reuses them."""
    import hashlib

    key = hashlib.sha1((Path(part) / "index.json").read_bytes()).hexdigest()[:10]
    return prepared / prepared_name(f"{Path(part).name}-{key}", scale, num_frames, flow_method)


def prepare_pack(part: Path, prepared: Path, scale: int, num_frames: int, flow_method: str, workers: int) -> Path:
    """One pack part's clips decoded and prepared (LR, flows) into the folder `prepared`; returns the file."""
    from spectraframe.data.packed import read_index

    jobs = [(str(part), clip, scale, num_frames, flow_method) for clip in read_index(part)]
    return prepare_files({"packed": jobs}, pack_prepared_file(part, prepared, scale, num_frames, flow_method),
                         workers)


def load_prepared(files: Sequence[Path]) -> list[PreparedClip]:
    return [PreparedClip(**clip) for path in files for clip in torch.load(path, weights_only=False)]


def apply_symmetries(patches: dict[str, Tensor], hflip: Tensor, vflip: Tensor, rot90: Tensor) -> dict[str, Tensor]:
    """Each sample's `augment.Symmetry` (one bool (B,) per transform) on every tensor of a batch: the flows through
    `Symmetry.flows`, which turns the vectors too, everything else through `Symmetry.images`. The batch is split by
    symmetry, so the transforms are exactly the DataLoader path's."""
    code = hflip.long() + 2 * vflip.long() + 4 * rot90.long()
    out = {key: torch.empty_like(value) for key, value in patches.items()}
    for index in range(8):
        chosen = torch.nonzero(code == index)[:, 0]
        symmetry = Symmetry(bool(index & 1), bool(index & 2), bool(index & 4))
        for key, value in patches.items():
            out[key][chosen] = (symmetry.flows(value[chosen]) if key.endswith(("flows", "flow"))
                                else symmetry.images(value[chosen]))
    return out


class ResidentCorpus:
    """Prepared clips in padded device tensors; `sample` draws a training batch, `window` a whole frame."""

    def __init__(self, clips: Sequence[PreparedClip], scale: int, device: torch.device | str = "cpu"):
        if not clips:
            raise SpectraFrameError("the resident corpus needs at least one prepared clip")
        self.scale, self.device = scale, torch.device(device)
        self.names = [c.name for c in clips]
        sizes = torch.tensor([c.lr.shape[-2:] for c in clips for _ in range(len(c.lr))])
        self.lr_size = sizes.to(self.device)  # (N, 2): each frame's own LR height and width
        h, w = (int(v) for v in sizes.max(0).values)
        s = scale
        total = sum(len(c.lr) for c in clips)
        n = clips[0].flows.shape[1]
        self.hr = torch.zeros(total, 3, h * s, w * s, dtype=torch.uint8, device=self.device)
        self.lr = torch.zeros(total, 3, h, w, dtype=torch.uint8, device=self.device)
        self.flows = torch.zeros(total, n, 2, h, w, dtype=torch.float32, device=self.device)
        self.neighbours = torch.zeros(total, n, dtype=torch.long, device=self.device)
        self.clip_of = torch.zeros(total, dtype=torch.long)
        # The temporal loss's partner of each frame: t+1, or t-1 at a clip's last frame (TrainingSamples' rule),
        # and its first slot among the frame's neighbours (whose flow is the flow from t to it).
        self.following = torch.zeros(total, dtype=torch.long, device=self.device)
        self.first_frame = []
        start = 0
        for index, clip in enumerate(clips):
            length, (ch, cw) = len(clip.lr), clip.lr.shape[-2:]
            frames = slice(start, start + length)
            self.hr[frames, :, : ch * s, : cw * s] = clip.hr.to(self.device)
            self.lr[frames, :, :ch, :cw] = clip.lr.to(self.device)
            self.flows[frames, :, :, :ch, :cw] = clip.flows.to(self.device)
            self.neighbours[frames] = clip.neighbours.to(self.device) + start
            self.clip_of[frames] = index
            self.first_frame.append(start)
            steps = torch.arange(length, device=self.device)
            self.following[frames] = start + torch.where(steps + 1 < length, steps + 1, (steps - 1).clamp(min=0))
            start += length
        self.frames_total = total
        self.following_slot = (self.neighbours == self.following[:, None]).int().argmax(1)

    def frames_of(self, clip_indices: Sequence[int]) -> Tensor:
        """Global frame indices of the given clips (the targets a sampler draws from)."""
        return torch.nonzero(torch.isin(self.clip_of, torch.tensor(list(clip_indices))))[:, 0].to(self.device)

    def patches(self, frames: Tensor, y: Tensor, x: Tensor, size: int, hflip: Tensor, vflip: Tensor,
                rot90: Tensor) -> dict[str, Tensor]:
        """The training sample of each target frame for an LR crop (y, x, size) and a symmetry: float32 in [0, 1],
        target (B,3,p,p), neighbours (B,F-1,3,p,p), flows (B,F-1,2,p,p) in LR pixels, hr (B,3,ps,ps)."""
        s, dev = self.scale, self.device
        span = torch.arange(size, device=dev)
        rows, cols = (y[:, None] + span), (x[:, None] + span)
        rows_hr = (y[:, None] * s + torch.arange(size * s, device=dev))
        cols_hr = (x[:, None] * s + torch.arange(size * s, device=dev))
        channels = torch.arange(3, device=dev)
        b = frames[:, None, None, None]
        target = self.lr[b, channels[None, :, None, None], rows[:, None, :, None], cols[:, None, None, :]]
        hr = self.hr[b, channels[None, :, None, None], rows_hr[:, None, :, None], cols_hr[:, None, None, :]]
        neighbour_frames = self.neighbours[frames][:, :, None, None, None]
        neighbours = self.lr[neighbour_frames, channels[None, None, :, None, None], rows[:, None, None, :, None],
                             cols[:, None, None, None, :]]
        n = self.neighbours.shape[1]
        flows = self.flows[frames[:, None, None, None, None], torch.arange(n, device=dev)[None, :, None, None, None],
                           torch.arange(2, device=dev)[None, None, :, None, None], rows[:, None, None, :, None],
                           cols[:, None, None, None, :]]
        as_float = lambda t: t.float().div_(255.0)  # noqa: E731
        return apply_symmetries({"target": as_float(target), "neighbours": as_float(neighbours), "flows": flows,
                                 "hr": as_float(hr)}, hflip, vflip, rot90)

    def next_flow(self, frames: Tensor, y: Tensor, x: Tensor, size: int, hflip: Tensor, vflip: Tensor,
                  rot90: Tensor) -> Tensor:
        """The LR flow (B,2,p,p) from each target to its `following` frame, for a crop and a symmetry."""
        dev = self.device
        span = torch.arange(size, device=dev)
        rows, cols = (y[:, None] + span), (x[:, None] + span)
        flow = self.flows[frames[:, None, None, None], self.following_slot[frames][:, None, None, None],
                          torch.arange(2, device=dev)[None, :, None, None], rows[:, None, :, None],
                          cols[:, None, None, :]]
        return apply_symmetries({"flow": flow}, hflip, vflip, rot90)["flow"]

    def sample(self, targets: Tensor, batch: int, size: int, generator: torch.Generator,
               temporal: bool = False) -> dict[str, Tensor]:
        """A batch of uniformly drawn targets (from the frame indices `targets`), crops and symmetries; with
        `temporal` also next_target, next_neighbours, next_flows, next_hr (the following frame's window, same crop
        and symmetry) and next_flow (the flow from the target to that frame)."""
        dev = self.device
        pick = torch.randint(len(targets), (batch,), device=dev, generator=generator)
        frames = targets[pick]
        limits = self.lr_size[frames] - size + 1
        if bool((limits < 1).any()):
            raise SpectraFrameError(f"an LR frame of the corpus is smaller than the {size}x{size} patch")
        y = (torch.rand(batch, device=dev, generator=generator) * limits[:, 0]).long()
        x = (torch.rand(batch, device=dev, generator=generator) * limits[:, 1]).long()
        flips = torch.rand(3, batch, device=dev, generator=generator) < 0.5
        patches = self.patches(frames, y, x, size, flips[0], flips[1], flips[2])
        if temporal:
            following = self.patches(self.following[frames], y, x, size, flips[0], flips[1], flips[2])
            patches.update({f"next_{key}": value for key, value in following.items()},
                           next_flow=self.next_flow(frames, y, x, size, flips[0], flips[1], flips[2]))
        return patches

    def window(self, frame: int) -> dict[str, Tensor]:
        """Frame `frame` whole (its own size, no padding): target, neighbours, flows and hr as in `patches`."""
        h, w = (int(v) for v in self.lr_size[frame])
        s = self.scale
        return {"target": self.lr[frame, :, :h, :w].float() / 255,
                "neighbours": self.lr[self.neighbours[frame], :, :h, :w].float() / 255,
                "flows": self.flows[frame, :, :, :h, :w], "hr": self.hr[frame, :, : h * s, : w * s].float() / 255}
