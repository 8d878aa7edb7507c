"""Ctrl-C during `spectraframe train`: the current step finishes, a checkpoint is written, and resuming
from it gives the same weights as a run that was never interrupted."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time

import torch

from spectraframe.models.trainer import CHECKPOINT


def test_sigint_stops_cleanly_and_resume_matches_an_uninterrupted_run(tmp_path, train_corpus, tmp_path_factory):
    (tmp_path / "train.txt").write_text("vimeo_septuplet/sequences/00001/0001\nvimeo_septuplet/sequences/00002/0003\n")
    flows = tmp_path_factory.getbasetemp() / "spectraframe_train_flows"
    overrides = [
        f"data.root={train_corpus}", f"data.train_list={tmp_path / 'train.txt'}", f"data.flow_cache={flows}",
        "data.num_workers=0", "data.lr_patch=16", "model.base_filter=8", "model.feat=8", "model.num_frames=3",
        "train.batch_size=1", "train.iterations=100000", "train.warmup_iterations=3", "loss.perceptual_weight=0",
        "val.every=0", "log.progress=false", "log.every=1", "train.checkpoint_every=100000",
    ]
    run = tmp_path / "interrupted"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "spectraframe", "train", "--config", "cpu_small", *overrides,
                                "--out", str(run)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        log = run / "log.csv"
        if log.is_file() and len(log.read_text().splitlines()) >= 3:  # header + two steps
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err[-2000:]
    stopped = torch.load(run / CHECKPOINT, weights_only=True)["step"]
    assert f"stopped at step {stopped}/100000" in out
    rows = [int(r["step"]) for r in csv.DictReader((run / "log.csv").open())]
    assert rows == list(range(1, stopped + 1))

    # In this process with one thread, as the interrupted one had: float sums, hence bits, depend on it.
    from spectraframe.cli import main

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        target = str(stopped + 2)
        assert main(["train", "--resume", str(run), "--max-steps", target]) == 0
        assert main(["train", "--config", "cpu_small", *overrides, "--out", str(tmp_path / "straight"),
                     "--max-steps", target]) == 0
    finally:
        torch.set_num_threads(threads)
    a = torch.load(run / CHECKPOINT, weights_only=True)
    b = torch.load(tmp_path / "straight" / CHECKPOINT, weights_only=True)
    assert a["step"] == b["step"] == stopped + 2
    for part in ("generator", "discriminator"):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part]), part
