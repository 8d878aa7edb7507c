"""Training throughput with and without the real-world degradation (`spectraframe/configs/real.yaml`).

The real-world recipe on 12 clips of the shared corpus, once with its own degradation ("realworld": blur, resize,
noise, JPEG, libx264 / mpeg4) and once with the clean bicubic one ("bi"), everything else equal. Measured in CPU
seconds of this one process (data loading in the process, `data.num_workers=0`, one torch thread), so a busy
machine does not change the figures: a sample's preparation alone (the flows are cached first, as in a real run
after its first epoch), and whole training steps (preparation + forward + backward).
Run: python -m benchmarks.train_realworld (or make bench BENCH=train_realworld)
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import SHARED, write_result

CLIPS = 12
STEPS = 6
SKIPPED = 1  # the first step: allocator warm-up


def measure(degradation: str, corpus: Path, list_file: Path, folder: Path, published_ranges: bool = False) -> dict:
    import torch

    from spectraframe.degradation.realworld import RealWorldConfig
    from spectraframe.models.config import load_config
    from spectraframe.models.trainer import Trainer

    config = load_config("real", [
        f"data.root={corpus}", f"data.train_list={list_file}", f"data.flow_cache={folder / 'flows'}",
        f"data.degradation={degradation}", "data.num_workers=0", "data.val_holdout=0", "val.every=0",
        f"train.iterations={STEPS}", "train.threads=1", "log.tensorboard=false", "log.progress=false",
        "train.checkpoint_every=1000",
    ])
    label = degradation
    if published_ranges:  # Real-ESRGAN's heavier defaults instead of real.yaml's
        config.realworld = RealWorldConfig()
        label = f"{degradation} (published defaults)"
    trainer = Trainer(config, folder / f"run_{label.replace(' ', '_')}")
    samples = range(STEPS * config.train.batch_size)
    for g in samples:  # fills the flow cache, as the first epoch of a run does
        trainer.source.dataset[g]
    started = time.process_time()
    for g in samples:
        trainer.source.dataset[g]
    sample_seconds = (time.process_time() - started) / len(samples)
    step_seconds = []
    original = trainer.train_step

    def timed_step(batch):
        started = time.process_time()
        result = original(batch)
        step_seconds.append(time.process_time() - started)
        return result

    trainer.train_step = timed_step
    loader_started = time.process_time()
    trainer.fit()
    total = time.process_time() - loader_started
    model_seconds = statistics.median(step_seconds[SKIPPED:])
    per_step = total / STEPS  # data + model, all in this process
    return {
        "degradation": label,
        "sample_cpu_s": round(sample_seconds, 4),
        "samples_per_s_data_only": round(1 / sample_seconds, 2),
        "model_step_cpu_s": round(model_seconds, 3),
        "step_cpu_s": round(per_step, 3),
        "samples_per_s_training": round(config.train.batch_size / per_step, 2),
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    corpus = SHARED / "data" / "train_corpus"
    entries = (corpus / "train.txt").read_text().split()[:: max(1, 141 // CLIPS)][:CLIPS]
    rows = []
    with tempfile.TemporaryDirectory(prefix="spectraframe-train-rw-") as tmp:
        folder = Path(tmp)
        list_file = folder / "train.txt"
        list_file.write_text("\n".join(entries) + "\n")
        for degradation, published in (("bi", False), ("realworld", False), ("realworld", True)):
            rows.append(measure(degradation, corpus, list_file, folder, published))
            print(rows[-1], flush=True)
    columns = ["degradation", "sample_cpu_s", "samples_per_s_data_only", "model_step_cpu_s", "step_cpu_s",
               "samples_per_s_training"]
    notes = (f"real.yaml (efficient preset, batch 8, LR patch 48, 3 frames) on {CLIPS} clips of the shared corpus, "
             f"data.degradation bi vs realworld (real.yaml's ranges, and the published Real-ESRGAN ranges of "
             f"RealWorldConfig's defaults), {STEPS} steps each. CPU seconds of one process "
             "with one torch thread and the data prepared in the process (num_workers=0): sample_cpu_s is one "
             "sample's preparation with the flows cached, model_step_cpu_s the median forward+backward step, "
             "step_cpu_s a whole step (8 samples + the model).")
    write_result("train_realworld", rows, columns, notes)


if __name__ == "__main__":
    main()
