"""DDP with gloo on CPU: two processes (torchrun on 127.0.0.1) end with identical weights, and a second
run gives the same weights bit for bit; on the resident source, a stopped and resumed 2-process run ends where an
uninterrupted one does."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

import torch

TRAIN = ["vimeo_septuplet/sequences/00001/0001", "vimeo_septuplet/sequences/00002/0003"]

SCRIPT = textwrap.dedent("""
    import sys
    import torch
    import torch.distributed as dist
    from spectraframe.models.config import load_config
    from spectraframe.models.trainer import Trainer

    run_dir = sys.argv[1]
    trainer = Trainer(load_config("cpu_small", sys.argv[2:]), run_dir)
    trainer.fit()
    rank = dist.get_rank()
    torch.save({"generator": trainer.generator.state_dict(), "discriminator": trainer.discriminator.state_dict(),
                "world_size": dist.get_world_size()}, f"{run_dir}/rank{rank}.pt")
    dist.destroy_process_group()
""")


RESIDENT_SCRIPT = textwrap.dedent("""
    import sys
    import torch
    import torch.distributed as dist
    from spectraframe.models.config import load_config
    from spectraframe.models.trainer import Trainer

    folder, overrides = sys.argv[1], sys.argv[2:]
    config = lambda: load_config("cpu_small", overrides)
    whole = Trainer(config(), f"{folder}/whole")
    whole.fit()
    Trainer(config(), f"{folder}/resumed").fit(max_steps=2)
    resumed = Trainer(config(), f"{folder}/resumed", resume=True)
    resumed.fit()
    torch.save({"whole": whole.generator.state_dict(), "resumed": resumed.generator.state_dict(),
                "steps": (whole.step, resumed.step)}, f"{folder}/rank{dist.get_rank()}.pt")
    dist.barrier()  # neither rank tears the group down while the other still uses it
    dist.destroy_process_group()
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(tmp_path, name, overrides, source: str = SCRIPT) -> list[dict]:
    script = tmp_path / f"ddp_{name}.py"
    script.write_text(source)
    run_dir = tmp_path / name
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc-per-node=2",
               "--master-addr=127.0.0.1", f"--master-port={_free_port()}", str(script), str(run_dir), *overrides]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # torchrun's own process group: a timeout ends it and its two workers, none left behind.
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    errors = [line for line in done.stderr.splitlines() if "Error" in line or "error:" in line]
    assert done.returncode == 0, "\n".join(errors[:20]) + "\n" + done.stderr[-3000:]
    return [torch.load(run_dir / f"rank{r}.pt", weights_only=True) for r in (0, 1)]


def test_resident_source_two_ranks_agree_and_resume_exactly(tmp_path, train_corpus):
    (tmp_path / "train.txt").write_text("\n".join(TRAIN) + "\n")
    overrides = [
        "data.source=resident", f"data.root={train_corpus}", f"data.train_list={tmp_path / 'train.txt'}",
        f"data.prepared={tmp_path / 'prepared'}", "data.targets=all", "data.num_workers=0", "data.lr_patch=16",
        "model.base_filter=8", "model.feat=8", "model.num_stages=1", "model.n_resblock=1", "model.num_frames=3",
        "train.batch_size=2", "train.iterations=4", "train.warmup_iterations=4", "train.lr=1e-3", "train.ema=0.9",
        "train.lr_schedule=cosine", "train.checkpoint_every=2", "val.every=0", "log.progress=false",
        "log.tensorboard=false",
    ]
    ranks = _run(tmp_path, "resident", overrides, RESIDENT_SCRIPT)
    assert ranks[0]["steps"] == ranks[1]["steps"] == (4, 4)
    for run in ("whole", "resumed"):
        different = [k for k in ranks[0][run] if not torch.equal(ranks[0][run][k], ranks[1][run][k])]
        assert not different, f"{run}: the generator differs between ranks: {different}"
    changed = [k for k in ranks[0]["whole"] if not torch.equal(ranks[0]["whole"][k], ranks[0]["resumed"][k])]
    assert not changed, f"the resumed run differs from the uninterrupted one: {changed}"


def test_two_gloo_ranks_agree_and_runs_repeat(tmp_path, train_corpus, tmp_path_factory):
    (tmp_path / "train.txt").write_text("\n".join(TRAIN) + "\n")
    flows = tmp_path_factory.getbasetemp() / "spectraframe_train_flows"
    overrides = [
        f"data.root={train_corpus}", f"data.train_list={tmp_path / 'train.txt'}", f"data.flow_cache={flows}",
        "data.num_workers=0", "data.lr_patch=16", "model.base_filter=8", "model.feat=8", "model.num_stages=1",
        "model.n_resblock=1", "model.num_frames=3", "train.batch_size=1", "train.iterations=3",
        "train.warmup_iterations=1", "loss.perceptual_weight=0", "val.every=0", "log.progress=false",
        "train.lr=1e-3",
    ]
    first = _run(tmp_path, "first", overrides)
    assert first[0]["world_size"] == 2
    for part in ("generator", "discriminator"):
        rank0, rank1 = first[0][part], first[1][part]
        different = [k for k in rank0 if not torch.equal(rank0[k], rank1[k])]
        assert not different, f"{part} differs between ranks: {different}"
    initial = torch.load(tmp_path / "first" / "checkpoints" / "last.pt", weights_only=True)
    assert initial["step"] == 3
    second = _run(tmp_path, "second", overrides)
    for part in ("generator", "discriminator"):
        assert all(torch.equal(first[0][part][k], second[0][part][k]) for k in first[0][part]), part


def test_plain_cuda_device_gets_an_index(monkeypatch):
    """train.device=cuda outside torchrun: torch.cuda.set_device refuses a device without an index (seen on an
    H200 by benchmarks/gpu_run.py), so training takes the current GPU's index; under DDP, the local rank's."""
    from spectraframe.models.distributed import Distributed, training_device

    chosen = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: chosen.append(device))
    assert training_device("cuda", Distributed()) == torch.device("cuda", 0)
    assert training_device("cuda", Distributed(rank=1, world_size=2, local_rank=1)) == torch.device("cuda", 1)
    assert training_device("cuda:0", Distributed()) == torch.device("cuda", 0)
    assert chosen == [torch.device("cuda", 0), torch.device("cuda", 1), torch.device("cuda", 0)]
