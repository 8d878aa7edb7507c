"""Where a run's batches come from (data.source): a DataLoader over `TrainingSamples` ("loader": per-sample work on
CPU workers, which the real-world degradations need) or the device-resident corpus ("resident": everything prepared
once and held on the training device, a batch one gather; what keeps a GPU busy with a small network).

Both give the Trainer the same things: the batches of steps [start, end) on the device, the validation clips, what
the provenance records, and the state a resume needs to draw the same batches as an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from spectraframe.archs.rbpn import RBPNConfig
from spectraframe.data.train_datasets import ClipSource, StreamSampler, find_training_clips, seed_worker, split_holdout
from spectraframe.errors import SpectraFrameError
from spectraframe.models.building import build_data, validation_clips
from spectraframe.models.config import Config
from spectraframe.models.distributed import Distributed

log = logging.getLogger(__name__)

# Rank r of a resident run draws from seed + r * RANK_STRIDE: rank 0 draws what a single process draws.
RANK_STRIDE = 1_000_003


class DataSource(Protocol):
    val_clips: list  # EvalClip-like clips that validation scores
    samples_per_epoch: int
    flow_cache_dir: Path  # where validation caches its flows

    def batches(self, start: int, end: int) -> Iterator[dict[str, Tensor]]: ...

    def provenance(self) -> dict: ...

    def state_dict(self) -> dict | None: ...

    def load_state_dict(self, state: dict | None) -> None: ...


class LoaderSource:
    """`TrainingSamples` through a DataLoader whose order is a pure function of (seed, step): no state to save."""

    def __init__(self, config: Config, rbpn: RBPNConfig, run_dir: Path, ddp: Distributed, device: torch.device):
        self.config, self.ddp, self.device = config, ddp, device
        data = build_data(config, rbpn, run_dir)
        self.sources, self.holdout, self.dataset = data.sources, data.holdout, data.dataset
        self.flow_cache_dir = data.flow_cache_dir
        self.samples_per_epoch = len(self.dataset)
        self.val_clips = validation_clips(config, self.holdout)

    def loader(self, start: int, end: int) -> DataLoader:
        workers = self.config.data.num_workers
        sampler = StreamSampler(self.config.train.batch_size, start, self.ddp.rank, self.ddp.world_size,
                                end_step=end)
        return DataLoader(
            self.dataset, batch_size=self.config.train.batch_size, sampler=sampler, num_workers=workers,
            worker_init_fn=seed_worker, generator=torch.Generator().manual_seed(self.config.train.seed),
            pin_memory=self.device.type == "cuda", prefetch_factor=2 if workers else None,
            multiprocessing_context="fork" if workers and os.name == "posix" else None,
        )

    def batches(self, start: int, end: int) -> Iterator[dict[str, Tensor]]:
        for batch in self.loader(start, end):
            yield {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    def provenance(self) -> dict:
        data = self.config.data
        return {"source": "loader", "root": data.root, "train_list": data.train_list, "clips": len(self.sources),
                "held_out_clips": len(self.holdout), "samples_per_epoch": self.samples_per_epoch,
                "degradation": data.degradation}

    def state_dict(self) -> None:
        return None

    def load_state_dict(self, state: dict | None) -> None:
        pass


class ResidentSource:
    """The corpus prepared once (data.pack's packed clips, or data.root's folder clips) and held on the device;
    each rank draws its own batches from its own generator, whose state the checkpoint keeps."""

    def __init__(self, config: Config, rbpn: RBPNConfig, run_dir: Path, ddp: Distributed, device: torch.device):
        from spectraframe.data.resident import ResidentCorpus, load_prepared

        self.config, self.ddp, self.device = config, ddp, device
        data = config.data
        self.prepared_dir = Path(data.prepared) if data.prepared else run_dir / "prepared"
        self.flow_cache_dir = Path(data.flow_cache) if data.flow_cache else run_dir / "flow_cache"
        order, files, held_out = self._prepare(rbpn)
        clips = load_prepared(files)
        by_name = {clip.name: clip for clip in clips}
        order = [name for name in order if name in by_name] or list(by_name)
        train = [name for name in order if name not in held_out]
        if not train:
            raise SpectraFrameError(f"data.source=resident: every clip of {self.origin} is held out: lower "
                                    "data.val_holdout")
        self.corpus = ResidentCorpus(clips, rbpn.scale, device)
        position = {name: i for i, name in enumerate(self.corpus.names)}
        self.targets = self.corpus.frames_of([position[name] for name in train])
        self.train_clips, self.held_out = len(train), [by_name[name] for name in order if name in held_out]
        self.samples_per_epoch = len(self.targets)
        self.val_clips = self._validation_clips()
        self.rng = torch.Generator(device=device).manual_seed(config.train.seed + ddp.rank * RANK_STRIDE)
        self._check_patch()

    @property
    def origin(self) -> str:
        return self.config.data.pack or self.config.data.root

    def _prepare(self, rbpn: RBPNConfig) -> tuple[list[str], list[Path], set[str]]:
        """(clip order, prepared files, held-out names); rank 0 prepares what is missing, the others wait."""
        from spectraframe.data.resident import (
            HOLDOUT,
            ORDER,
            pack_parts,
            pack_prepared_file,
            prepare_files,
            prepare_pack,
            prepared_name,
        )

        data = self.config.data
        flow, workers = data.flow_method, max(1, data.num_workers)
        if data.pack is not None:
            parts = pack_parts(data.pack)
            files = [pack_prepared_file(p, self.prepared_dir, rbpn.scale, rbpn.num_frames, flow) for p in parts]
            if self.ddp.is_main:
                for part in parts:
                    prepare_pack(part, self.prepared_dir, rbpn.scale, rbpn.num_frames, flow, workers)
            self.ddp.barrier()
            order = [n for p in parts if (p / ORDER).is_file() for n in (p / ORDER).read_text().split()]
            listed = {n for p in parts if (p / HOLDOUT).is_file() for n in (p / HOLDOUT).read_text().split()}
            names = order or [n for p in parts for n in _index_names(p)]
            held = listed if listed and data.val_holdout else _held_out(names, data.val_holdout)
            return names, files, held
        sources = find_training_clips(data.root, data.train_list)
        videos = [s.name for s in sources if s.video is not None]
        if videos:
            raise SpectraFrameError(f"data.source=resident reads folders of frames; {videos[0]} is a video file: "
                                    "use data.source=loader, or pack it")
        # Keyed by the folder and its clips: another folder (or list) of the same name never reuses this one's.
        key = hashlib.sha1("\n".join([str(Path(data.root).resolve()), *(source.name for source in sources)]).encode())
        name = f"{Path(data.root).resolve().name}-{key.hexdigest()[:10]}"
        target = self.prepared_dir / prepared_name(name, rbpn.scale, rbpn.num_frames, flow)
        if self.ddp.is_main:
            jobs = [(s.name, list(s.frame_paths), rbpn.scale, rbpn.num_frames, flow) for s in sources]
            prepare_files({"folder": jobs}, target, workers)
        self.ddp.barrier()
        names = [s.name for s in sources]
        return names, [target], _held_out(names, data.val_holdout)

    def _validation_clips(self) -> list:
        from spectraframe.data.eval_datasets import MemoryClip

        if self.config.val.every == 0:
            return []
        if self.held_out:
            clips = [MemoryClip(c.name, c.hr.permute(0, 2, 3, 1).numpy()) for c in self.held_out]
            return clips[: self.config.val.max_clips] if self.config.val.max_clips else clips
        return validation_clips(self.config, []) if self.config.data.root else []

    def _check_patch(self) -> None:
        size = self.config.data.lr_patch
        smallest = self.corpus.lr_size[self.targets].min(0).values.tolist()
        if min(smallest) < size:
            raise SpectraFrameError(f"data.lr_patch={size} does not fit the smallest LR frame of {self.origin} "
                                    f"({smallest[1]}x{smallest[0]}): lower data.lr_patch")

    def batches(self, start: int, end: int) -> Iterator[dict[str, Tensor]]:
        cfg = self.config
        temporal = cfg.loss.temporal_weight > 0
        for _ in range(start, end):
            yield self.corpus.sample(self.targets, cfg.train.batch_size, cfg.data.lr_patch, self.rng,
                                     temporal=temporal)

    def provenance(self) -> dict:
        data = self.config.data
        return {"source": "resident", "pack": data.pack, "root": data.root, "train_list": data.train_list,
                "clips": self.train_clips, "held_out_clips": len(self.held_out),
                "samples_per_epoch": self.samples_per_epoch, "degradation": data.degradation}

    def state_dict(self) -> dict:
        """Every rank's generator state (rank 0 writes the checkpoint)."""
        return {"generators": self.ddp.gather(self.rng.get_state())}

    def load_state_dict(self, state: dict | None) -> None:
        states = (state or {}).get("generators") or []
        if len(states) == self.ddp.world_size:
            self.rng.set_state(states[self.ddp.rank])
        else:
            log.warning("the checkpoint holds no batch-drawing state for %d processes: the batches are drawn anew",
                        self.ddp.world_size)


def _index_names(part: Path) -> list[str]:
    from spectraframe.data.packed import read_index

    return [clip.name for clip in read_index(part)]


def _held_out(names: list[str], count: int) -> set[str]:
    """The clips `split_holdout` holds out of this list (spread evenly over it)."""
    return {source.name for source in split_holdout([ClipSource(name) for name in names], count)[1]}


def build_source(config: Config, rbpn: RBPNConfig, run_dir: Path, ddp: Distributed,
                 device: torch.device) -> DataSource:
    source = ResidentSource if config.data.source == "resident" else LoaderSource
    return source(config, rbpn, run_dir, ddp, device)
