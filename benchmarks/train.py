"""Training speed of the CPU preset (`cpu_small`) on real clips: iterations/s of both phases.

The flows of the clips are computed once first (they live in the flow cache, as in a real run) and
timed apart; then the timed steps include data loading in the preset's worker process.
Run: .venv/bin/python -m benchmarks.run_all train
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import SHARED, peak_rss_mib, write_result

CLIPS = 8
STEPS_PER_PHASE = 8
SKIPPED = 2  # first steps of each phase: allocator and worker warm-up


def main() -> None:
    import torch

    from spectraframe.models.config import load_config
    from spectraframe.models.trainer import Trainer

    corpus = SHARED / "data" / "train_corpus"
    entries = (corpus / "train.txt").read_text().split()[:: max(1, 141 // CLIPS)][:CLIPS]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "train.txt").write_text("\n".join(entries) + "\n")
        config = load_config("cpu_small", [
            f"data.root={corpus}", f"data.train_list={tmp_path / 'train.txt'}",
            f"data.flow_cache={tmp_path / 'flows'}", f"train.iterations={2 * STEPS_PER_PHASE}",
            f"train.warmup_iterations={STEPS_PER_PHASE}", "val.every=0", "log.tensorboard=false",
            "log.progress=false", "train.checkpoint_every=1000",
        ])
        trainer = Trainer(config, tmp_path / "run")
        start = time.perf_counter()
        for g in range(len(trainer.source.dataset)):  # one pass: fills the flow cache
            trainer.source.dataset[g]
        flow_seconds = (time.perf_counter() - start) / len(trainer.source.dataset)
        trainer.fit()
        times = trainer.step_seconds
        rbpn = trainer.rbpn_config
        for phase, chunk in (("warm-up (pixel loss)", times[:STEPS_PER_PHASE]),
                             ("GAN (pixel+adv+VGG+TV)", times[STEPS_PER_PHASE:])):
            median = statistics.median(chunk[SKIPPED:])
            rows.append({
                "phase": phase,
                "it_per_s": 1.0 / median,
                "s_per_it": median,
                "samples_per_s": config.train.batch_size / median,
            })
        notes = (
            f"cpu_small: RBPN base_filter {rbpn.base_filter}, feat {rbpn.feat}, {rbpn.num_stages} stage(s), "
            f"{rbpn.n_resblock} resblock(s), {rbpn.num_frames} frames, residual={rbpn.residual}; batch "
            f"{config.train.batch_size}, LR patch {config.data.lr_patch}, {config.data.num_workers} data worker(s), "
            f"{torch.get_num_threads()} torch threads. {len(entries)} clips of the shared corpus; flows computed "
            f"once per sample on whole LR frames: {flow_seconds:.2f} s/sample (cached afterwards). Median of "
            f"{STEPS_PER_PHASE - SKIPPED} steps per phase; peak RSS {peak_rss_mib():.0f} MiB."
        )
    write_result("train", rows, ["phase", "it_per_s", "s_per_it", "samples_per_s"], notes)


if __name__ == "__main__":
    main()
