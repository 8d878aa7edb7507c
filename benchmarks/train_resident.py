"""Speed of the resident data path through `Trainer` against the bare loop that `benchmarks/gpu_run.py` ran before
(sample, forward, Charbonnier, Adam, EMA: nothing else), on the same prepared clips, model and batch.

The efficient preset at the default's recipe (batch and patch scaled to the CPU), channels-last, no validation;
the two alternate in blocks of STEPS steps, so that machine noise hits both alike; the Trainer's blocks are whole
`fit` calls (its log.csv, end-of-call checkpoint and export included). Run: `make bench BENCH=train_resident`.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import alternate, write_result

BATCH = 8
PATCH = 48
STEPS = 8
REPEATS = 5


def _prepared_pack(folder: Path) -> Path:
    """Four prepared clips of moving random texture (LR 64x80) as a pack part that `prepare` has left."""
    from spectraframe.data.resident import pack_prepared_file, prepare_clip

    clips = []
    for seed in range(4):
        rng = np.random.default_rng(seed)
        base = rng.integers(0, 255, (256 + 16, 320 + 16, 3), dtype=np.uint8)
        frames = [np.ascontiguousarray(base[i : i + 256, 2 * i : 2 * i + 320]) for i in range(5)]
        clips.append(prepare_clip(f"clip{seed}", frames, 4, 3, "dis").__dict__)
    part = folder / "pack" / "part1"
    part.mkdir(parents=True)
    (part / "index.json").write_text(json.dumps({"crf": 15, "clips": [
        {"name": c["name"], "file": "", "frames": 5, "width": 320, "height": 256, "psnr": 0.0} for c in clips]}))
    torch.save(clips, pack_prepared_file(part, folder, 4, 3, "dis"))
    return part.parent


def _bare_loop(corpus, targets, config):
    """gpu_run.train_one's step, as it was: the reference."""
    from spectraframe.archs.rbpn import RBPN
    from spectraframe.losses import pixel_loss
    from spectraframe.models.run_state import ema_copy, ema_decay, update_ema

    torch.manual_seed(0)
    model = RBPN(config).to(memory_format=torch.channels_last)
    ema = ema_copy(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.99))
    generator = torch.Generator().manual_seed(0)
    state = {"step": 0}

    def run() -> None:
        for _ in range(STEPS):
            batch = corpus.sample(targets, BATCH, PATCH, generator)
            sr = model(batch["target"], batch["neighbours"], batch["flows"])
            loss = pixel_loss(sr.float(), batch["hr"], "charbonnier")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            update_ema(ema, model, ema_decay(0.999, state["step"]))
            state["step"] += 1

    return run


def main() -> None:
    from spectraframe.models.config import load_config
    from spectraframe.models.trainer import Trainer

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pack = _prepared_pack(folder)
        config = load_config("efficient", [
            f"data.pack={pack}", f"data.prepared={folder}", "data.val_holdout=0", f"data.lr_patch={PATCH}",
            f"train.batch_size={BATCH}", "train.seconds=0", "train.iterations=100000", "train.warmup_iterations=100000",
            "train.amp=none", "train.device=cpu", "val.every=0", "train.checkpoint_every=100000",
            "log.progress=false", "log.tensorboard=false", f"train.threads={torch.get_num_threads()}"])
        trainer = Trainer(config, folder / "run")
        source = trainer.source
        bare = _bare_loop(source.corpus, source.targets, trainer.rbpn_config)
        times = alternate({"gpu_run loop (bare)": bare,
                           "Trainer (resident)": lambda: trainer.fit(max_steps=trainer.step + STEPS)},
                          repeats=REPEATS)
    reference = times["gpu_run loop (bare)"]
    rows = [{"loop": name, "steps_per_s": STEPS / seconds, "relative_to_bare": reference / seconds}
            for name, seconds in times.items()]
    write_result("train_resident", rows, ["loop", "steps_per_s", "relative_to_bare"], notes=(
        f"Efficient preset, batch {BATCH} of {PATCH}x{PATCH} LR patches, fp32, channels-last, "
        f"{torch.get_num_threads()} thread(s); median of {REPEATS} alternated blocks of {STEPS} steps on a shared "
        "machine (ratios, not absolute speeds, are the result). The Trainer's blocks are whole fit() calls."))


if __name__ == "__main__":
    main()
