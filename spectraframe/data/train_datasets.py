"""Training samples: HR clips on disk -> (LR target, LR neighbours, flows, HR target) patches.

Sources, each entry of a list file relative to the dataset root:
- a folder of frames (sorted file names = temporal order), e.g. `davis2016_val/blackswan_00`;
- a Vimeo-90K septuplet `XXXXX/YYYY`, found under `ROOT/sequences/` (list `sep_trainlist.txt`);
- a video file (decoded with PyAV): one target every `video_stride` frames. A sample seeks to the keyframe
  before its window instead of decoding from frame 0 (`spectraframe.io.video.read_video_window`).

The LR frames are made on the fly from the HR frames (MATLAB bicubic "bi" or blur "bd", rounded to
uint8). The flows from the target to each neighbour are estimated once on the whole LR frames and kept
in the flow cache; each sample then takes one random crop + flip/rotation for all its frames, and the
same crop and transform of the flows (see `augment.py`). Nothing is re-solved per random patch. The LR
patch is the degradation of the transformed HR region (with a margin), so LR and HR stay aligned for
BD, whose subsampling grid is not symmetric under flips.

With "realworld" the LR patch comes from the real-world pipeline (`spectraframe.degradation.realworld`: blur,
resize, noise, JPEG, then libx264 / mpeg4 over the frames in temporal order), drawn once per sample from a
generator seeded with (seed, g). Its region has a wider margin (`REALWORLD_MARGIN`), so the codec works on a
64x64 LR crop around a 48x48 patch, whole 16x16 macroblocks as in a real stream, and the blur and sinc kernels'
borders stay out of the patch. Its flows are estimated on the degraded crop itself, as `upscale` estimates them on
the compressed frames it is given (a model must be trained with the flow it runs with); the cache cannot hold
them, since every sample draws new degradations, but DIS on a 64x64 crop costs well under a millisecond a pair.

Reproducibility: item `g` of the dataset is the g-th sample of an endless stream. Its clip is
`permutation(seed, epoch)[g % len]` with `epoch = g // len`, and its crop and flips come from a
generator seeded with (seed, g). A sample is therefore a pure function of (seed, g): the worker count,
the process and a resume in the middle of an epoch do not change it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from spectraframe.data.augment import random_crop, random_symmetry
from spectraframe.data.eval_datasets import read_list_file
from spectraframe.data.windows import neighbour_indices
from spectraframe.degradation.realworld import RealWorldConfig
from spectraframe.errors import SpectraFrameError
from spectraframe.flow.api import DEFAULT_FLOW_METHOD
from spectraframe.io.formats import VIDEO_SUFFIXES
from spectraframe.io.images import IMAGE_SUFFIXES, list_frames, read_frames

if TYPE_CHECKING:
    from spectraframe.io.video import FrameIndex

log = logging.getLogger(__name__)

VIMEO_TRAIN_LIST = "sep_trainlist.txt"
# LR pixels of context degraded around each patch: covers the bicubic (2 LR px) and BD (1.5 LR px) kernels.
PATCH_MARGIN = 3
# The same for "realworld": a 48x48 patch is encoded in a 64x64 crop (4x4 macroblocks), and the final sinc kernel
# (up to 21 LR px wide) keeps its borders out of the patch.
REALWORLD_MARGIN = 8
DEFAULT_LISTS = (VIMEO_TRAIN_LIST, "train.txt")


@dataclass(frozen=True)
class ClipSource:
    """One clip: a folder's frame files, or a video file with its frame count."""

    name: str
    frame_paths: tuple[Path, ...] = ()
    video: Path | None = None
    video_frames: int = 0
    video_index: FrameIndex | None = field(default=None, repr=False)  # video only: to seek near a window

    @property
    def length(self) -> int:
        return self.video_frames if self.video is not None else len(self.frame_paths)

    def frame_size(self) -> tuple[int, int]:
        """(width, height) of the first frame, read from the file header only."""
        if self.video is not None:
            from spectraframe.io.video import probe_video  # PyAV: only for video files

            info = probe_video(self.video)
            return info.width, info.height
        try:
            with Image.open(self.frame_paths[0]) as image:
                return image.size
        except OSError as exc:
            raise SpectraFrameError(f"cannot read image {self.frame_paths[0]}: {exc}") from exc

    def read(self, indices: list[int]) -> list[np.ndarray]:
        """Frames `indices` (sorted, unique) as (H, W, 3) uint8 arrays."""
        if self.video is None:
            return read_frames([self.frame_paths[i] for i in indices])
        from spectraframe.io.video import read_video_window

        first, last = indices[0], indices[-1]
        frames = read_video_window(self.video, first, last, self.video_index)
        if len(frames) < last - first + 1:
            raise SpectraFrameError(f"{self.video}: frame {last} is past the end ({first + len(frames)} frames)")
        return [frames[i - first] for i in indices]


# --- finding clips ---------------------------------------------------------------------------------


def video_source(name: str, path: Path) -> ClipSource:
    """A video clip with its decoded frame count and the index that lets a sample seek to its window."""
    from spectraframe.io.video import index_video  # PyAV: only for video files

    index = index_video(path)
    return ClipSource(name=name, video=path, video_frames=index.frames, video_index=index)


def _source_for(root: Path, entry: str) -> ClipSource | None:
    for candidate in (root / entry, root / "sequences" / entry):
        if candidate.is_dir():
            return ClipSource(name=entry, frame_paths=tuple(list_frames(candidate)))
        if candidate.is_file() and candidate.suffix.lower() in VIDEO_SUFFIXES:
            return video_source(entry, candidate)
    return None


def find_training_clips(root: str | Path, list_file: str | Path | None = None) -> list[ClipSource]:
    """The clips of a training set. See the module docstring for the accepted layouts.

    Without a list: `sep_trainlist.txt` or `train.txt` in root if present, else every folder under root
    that directly holds frames and every video file in root.
    """
    root = Path(root)
    if not root.is_dir():
        raise SpectraFrameError(f"training data folder not found: {root}")
    if list_file is None:
        list_file = next((root / name for name in DEFAULT_LISTS if (root / name).is_file()), None)
    elif not Path(list_file).is_absolute():
        list_file = root / list_file
    if list_file is None:
        return _discover(root)
    entries = read_list_file(list_file)
    sources, missing = [], []
    for entry in entries:
        source = _source_for(root, entry)
        if source is None:
            missing.append(entry)
        else:
            sources.append(source)
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise SpectraFrameError(
            f"{len(missing)} of {len(entries)} entries of {list_file} are neither clip folders nor video files "
            f"under {root} (or {root / 'sequences'}): {shown}"
        )
    return sources


def _discover(root: Path) -> list[ClipSource]:
    sources = []
    for folder in sorted([root, *(p for p in root.rglob("*") if p.is_dir())]):
        if any(p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir()):
            name = folder.relative_to(root).as_posix() if folder != root else root.name
            sources.append(ClipSource(name=name, frame_paths=tuple(list_frames(folder))))
    for video in sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES):
        sources.append(video_source(video.name, video))
    if not sources:
        raise SpectraFrameError(
            f"no training clips under {root}: expected a list file ({' or '.join(DEFAULT_LISTS)}), "
            "clip folders of frames, or video files"
        )
    return sources


def split_holdout(sources: list[ClipSource], count: int) -> tuple[list[ClipSource], list[ClipSource]]:
    """(training clips, `count` held-out validation clips). The held-out clips are spread evenly over the list
    (the centre of each of `count` equal parts), so the choice is fixed by the list alone: the same for every
    seed, world size and resume. Only folders of frames are held out: a video file is too long to validate whole.
    """
    if count == 0:
        return list(sources), []
    folders = [i for i, source in enumerate(sources) if source.video is None]
    if count >= len(sources):
        raise SpectraFrameError(
            f"data.val_holdout={count} would hold out all {len(sources)} training clips: choose fewer, so that "
            "some remain for training"
        )
    if count > len(folders):
        raise SpectraFrameError(
            f"data.val_holdout={count}, but only {len(folders)} of the {len(sources)} training clips are folders of "
            "frames (video files are not held out): lower data.val_holdout, or validate on val.list"
        )
    chosen = {folders[(2 * i + 1) * len(folders) // (2 * count)] for i in range(count)}
    return ([s for i, s in enumerate(sources) if i not in chosen], [s for i, s in enumerate(sources) if i in chosen])


def sample_targets(
    sources: list[ClipSource], num_frames: int, targets: str, video_stride: int
) -> list[tuple[int, int]]:
    """(source index, target frame) of every sample of one epoch."""
    half = num_frames // 2
    items = []
    for i, source in enumerate(sources):
        if source.video is not None:
            items += [(i, t) for t in range(half, source.length - half, video_stride)]
        elif targets == "centre":
            items.append((i, source.length // 2))
        else:
            items += [(i, t) for t in range(source.length)]
    return items


def check_sources(sources: list[ClipSource], *, num_frames: int, scale: int, lr_patch: int) -> None:
    """Fail before training on clips too short for the window or frames too small for the patch."""
    if not sources:
        raise SpectraFrameError("the training set is empty")
    problems = []
    for source in sources:
        if source.length < num_frames:
            problems.append(f"{source.name}: {source.length} frames, the model needs {num_frames} consecutive frames")
            continue
        width, height = source.frame_size()
        if height // scale < lr_patch or width // scale < lr_patch:
            problems.append(
                f"{source.name}: frames of {width}x{height} are {width // scale}x{height // scale} at x{scale}, "
                f"smaller than the {lr_patch}x{lr_patch} LR patch"
            )
    if problems:
        shown = "\n  ".join(problems[:10]) + (f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise SpectraFrameError(
            f"{len(problems)} of {len(sources)} training clips cannot be used:\n  {shown}\n"
            "Remove them from the list, or lower data.lr_patch / model.num_frames."
        )


# --- samples ---------------------------------------------------------------------------------------


def epoch_permutation(seed: int, epoch: int, size: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch, 0x5EED]).permutation(size)


@lru_cache(maxsize=8)
def _cached_permutation(seed: int, epoch: int, size: int) -> np.ndarray:
    return epoch_permutation(seed, epoch, size)


def frames_to_tensor(frames: list[np.ndarray]) -> Tensor:
    """(T,H,W,3) uint8 list -> (T,3,H,W) float32 in [0, 1]."""
    stacked = torch.from_numpy(np.stack(frames))
    return stacked.permute(0, 3, 1, 2).to(torch.float32).div_(255.0)


class TrainingSamples(Dataset):
    """Endless stream of training samples; item g is a dict of float32 tensors in [0, 1]:

    target (3,p,p), neighbours (F-1,3,p,p), flows (F-1,2,p,p) in LR pixels, hr (3,p*s,p*s).
    `len()` is the number of samples in one epoch; any index g >= 0 is valid.
    With `temporal` (the loss's temporal term) a sample also holds the window of the next frame t+1 (t-1 at a
    clip's last frame) with the same crop and flips: next_target, next_neighbours, next_flows, next_hr, and
    next_flow (2,p,p), the LR flow from t to that frame.
    """

    def __init__(
        self,
        sources: list[ClipSource],
        *,
        scale: int,
        num_frames: int,
        lr_patch: int,
        degradation: str = "bi",
        realworld: RealWorldConfig | None = None,
        hflip: bool = True,
        vflip: bool = True,
        rot90: bool = True,
        targets: str = "centre",
        video_stride: int = 7,
        flow_method: str = DEFAULT_FLOW_METHOD,
        flow_cache: str | Path | None = None,
        flow_cache_bytes: int = 2 * 1024**3,
        seed: int = 0,
        temporal: bool = False,
    ):
        if temporal and num_frames < 3:
            raise SpectraFrameError(f"the temporal loss pairs frame t with its neighbour t+1: it needs model."
                                    f"num_frames >= 3, got {num_frames}")
        check_sources(sources, num_frames=num_frames, scale=scale, lr_patch=lr_patch)
        self.sources = sources
        self.items = sample_targets(sources, num_frames, targets, video_stride)
        if not self.items:
            raise SpectraFrameError("the training set yields no samples (videos shorter than one window?)")
        self.scale = scale
        self.num_frames = num_frames
        self.lr_patch = lr_patch
        self.degradation = degradation
        self.realworld = realworld if realworld is not None else RealWorldConfig()
        # The clean degradation of the whole frames the flows are estimated on.
        self.clean_degradation = "bi" if degradation == "realworld" else degradation
        self.flips = (hflip, vflip, rot90)
        self.flow_method = flow_method
        self.flow_cache_dir = None if flow_cache is None else str(flow_cache)
        self.flow_cache_bytes = flow_cache_bytes
        self.seed = seed
        self.temporal = temporal
        self._flow_cache = None

    def __len__(self) -> int:
        return len(self.items)

    def item_for(self, g: int) -> tuple[int, int]:
        epoch, position = divmod(int(g), len(self.items))
        return self.items[int(_cached_permutation(self.seed, epoch, len(self.items))[position])]

    def window(self, g: int, with_flows: bool = True) -> tuple[Tensor, Tensor, Tensor | None]:
        """Whole frames of sample g: HR (F,3,H,W) and LR (F,3,h,w) target first then the neighbours in
        RBPN order, and the flows (F-1,2,h,w) from the LR target to each LR neighbour (None without_flows)."""
        return self.window_at(*self.item_for(g), with_flows=with_flows)

    def window_at(self, source_index: int, t: int,
                  with_flows: bool = True) -> tuple[Tensor, Tensor, Tensor | None]:
        """`window` of frame t of source `source_index`."""
        from spectraframe.degradation import degrade, modcrop

        source = self.sources[source_index]
        order = [t, *neighbour_indices(t, source.length, self.num_frames)]
        unique = sorted(set(order))
        frames = source.read(unique)
        hr = modcrop(frames_to_tensor(frames), self.scale)
        position = {frame: i for i, frame in enumerate(unique)}
        hr_window = hr[[position[f] for f in order]]
        lr_window = degrade(hr_window, self.scale, self.clean_degradation, quantize=True)
        flows = self._flows(lr_window[0], lr_window[1:]) if with_flows else None
        return hr_window, lr_window, flows

    def _flows(self, target: Tensor, neighbours: Tensor, cached: bool = True) -> Tensor:
        from spectraframe.flow.api import estimate_flow

        if not cached:
            return estimate_flow(target, neighbours, method=self.flow_method).float()
        if self._flow_cache is None and self.flow_cache_dir is not None:
            from spectraframe.flow.cache import FlowCache

            self._flow_cache = FlowCache(self.flow_cache_dir, max_bytes=self.flow_cache_bytes)
        return estimate_flow(target, neighbours, method=self.flow_method, cache=self._flow_cache).float()

    def __getitem__(self, g: int) -> dict[str, Tensor]:
        # Real-world samples estimate their flows on the degraded crop (`_patches`); the temporal term's flow
        # from t to t+1 comes from the clean frames' cache.
        hr, lr, flows = self.window(g, with_flows=self.degradation != "realworld" or self.temporal)
        rng = np.random.default_rng([self.seed, int(g), 0xA06])
        crop = random_crop(lr.shape[-2], lr.shape[-1], self.lr_patch, rng)
        symmetry = random_symmetry(rng, *self.flips)
        source_index, t = self.item_for(g)
        sample = self._patches(hr, lr, flows, crop, symmetry, source_index, t, g)
        if self.temporal:
            following = t + 1 if t + 1 < self.sources[source_index].length else t - 1
            next_flow = flows[neighbour_indices(t, self.sources[source_index].length, self.num_frames)
                              .index(following)]
            # The same crop, flips and degradation draw (g's): the two windows look like one video.
            patches = self._patches(*self.window_at(source_index, following, with_flows=self.degradation !=
                                                    "realworld"), crop, symmetry, source_index,
                                    following, g)
            sample.update({f"next_{key}": value for key, value in patches.items()},
                          next_flow=symmetry.flows(crop.lr(next_flow[None]))[0])
        return sample

    def _patches(self, hr: Tensor, lr: Tensor, flows: Tensor | None, crop, symmetry, source_index: int, t: int,
                 g: int) -> dict[str, Tensor]:
        """The patches of the window of frame t of a source (`window_at`), for sample g's crop and flips."""
        realworld = self.degradation == "realworld"
        # The LR patch is the degradation of the *transformed* HR region, not a flipped LR crop: BD samples
        # every s-th pixel from the top-left, so flipping its output would misalign LR and HR by s-1 pixels.
        # A margin of LR pixels around the patch keeps the kernel's border handling out of the patch.
        s, size = self.scale, self.lr_patch
        margin = REALWORLD_MARGIN if realworld else PATCH_MARGIN
        y0, x0 = max(0, crop.y - margin), max(0, crop.x - margin)
        y1, x1 = min(lr.shape[-2], crop.y + size + margin), min(lr.shape[-1], crop.x + size + margin)
        region = symmetry.images(hr[..., y0 * s : y1 * s, x0 * s : x1 * s])
        # Where the patch lands inside the transformed region: transform a mask of it.
        mask = torch.zeros(1, y1 - y0, x1 - x0)
        mask[:, crop.y - y0 : crop.y - y0 + size, crop.x - x0 : crop.x - x0 + size] = 1
        rows, cols = symmetry.images(mask)[0].nonzero(as_tuple=True)
        top, left = int(rows.min()), int(cols.min())
        lead = self._lead_region(source_index, t, (y0 * s, y1 * s, x0 * s, x1 * s), symmetry) if realworld else None
        lr_region = self._degrade_region(region, source_index, t, g, lead)
        lr_patch = lr_region[..., top : top + size, left : left + size]
        if realworld:  # on the degraded, already transformed crop: no symmetry to apply
            patch_flows = self._flows(lr_region[0], lr_region[1:], cached=False)[..., top : top + size,
                                                                                   left : left + size]
        else:
            patch_flows = symmetry.flows(crop.lr(flows))
        return {
            "target": lr_patch[0].contiguous(),
            "neighbours": lr_patch[1:].contiguous(),
            "flows": patch_flows.contiguous(),
            "hr": region[0, :, top * s : (top + size) * s, left * s : (left + size) * s].contiguous(),
        }

    def _lead_region(self, source_index: int, t: int, box: tuple[int, int, int, int], symmetry) -> Tensor | None:
        """The same HR region (top, bottom, left, right) and transform of the `realworld.codec_lead_frames` frames
        before the window of frame t, in temporal order; None when there are none (off, or at a clip's start)."""
        from spectraframe.degradation import modcrop

        count = self.realworld.codec_lead_frames
        source = self.sources[source_index]
        first = min([t, *neighbour_indices(t, source.length, self.num_frames)])
        indices = list(range(max(0, first - count), first))
        if not indices:
            return None
        top, bottom, left, right = box
        hr = modcrop(frames_to_tensor(source.read(indices)), self.scale)
        return symmetry.images(hr[..., top:bottom, left:right])

    def _degrade_region(self, region: Tensor, source_index: int, t: int, g: int, lead: Tensor | None = None) -> Tensor:
        """The LR of an HR region of the window of frame t (target first, then the neighbours in RBPN order), with
        sample g's random degradation; `lead`: the region in the frames before the window (`_lead_region`), coded
        with it and then dropped."""
        from spectraframe.degradation import degrade
        from spectraframe.degradation.realworld import realworld_degrade

        if self.degradation != "realworld":
            return degrade(region, self.scale, self.degradation, quantize=True)
        # The pipeline sees the frames in temporal order: the codec encodes them as the clip they were.
        frames = [t, *neighbour_indices(t, self.sources[source_index].length, self.num_frames)]
        temporal = sorted(range(len(frames)), key=lambda i: frames[i])
        in_time = region[temporal] if lead is None else torch.cat([lead, region[temporal]])
        lr_in_time = realworld_degrade(in_time, self.scale, self.realworld,
                                       np.random.default_rng([self.seed, int(g), 0xDE6]))
        lr_in_time = lr_in_time[len(in_time) - len(frames):]
        lr = torch.empty_like(lr_in_time)
        lr[temporal] = lr_in_time
        return lr


class StreamSampler(Sampler[int]):
    """Global sample numbers for one rank, from a given step on: the data order of a resumable run.

    Step s of rank r uses samples (s * world + r) * batch + j for j < batch, so the run's sample stream
    is fixed by the seed whatever the world size, and resuming at step s needs no other state.
    """

    def __init__(self, batch_size: int, start_step: int = 0, rank: int = 0, world_size: int = 1,
                 end_step: int | None = None):
        self.batch_size = batch_size
        self.start_step = start_step
        self.rank = rank
        self.world_size = world_size
        self.end_step = end_step

    def __iter__(self):
        step = self.start_step
        while self.end_step is None or step < self.end_step:
            first = (step * self.world_size + self.rank) * self.batch_size
            yield from range(first, first + self.batch_size)
            step += 1

    def __len__(self) -> int:
        if self.end_step is None:
            raise TypeError("an endless StreamSampler has no length")
        return max(0, self.end_step - self.start_step) * self.batch_size


def seed_worker(worker_id: int) -> None:
    """DataLoader workers: one thread each (workers run in parallel already) and fixed RNG seeds.

    Samples draw from their own (seed, g) generators, so these seeds only guard stray library randomness.
    """
    import random

    torch.set_num_threads(1)
    info = torch.utils.data.get_worker_info()
    base = info.seed if info is not None else worker_id
    random.seed(base)
    np.random.seed(base % 2**32)
