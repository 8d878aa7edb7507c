"""Speed benchmark: the straightforward fp32 eager forward against the fast inference path, same process.

Per preset and LR size (paper: 112x64, compact and efficient: 180x144 -> x4), on real val frames:
* seconds per output frame of the network, for "fp32 eager" (contiguous, `torch.no_grad()` and the module:
  what a user writes first) and "fast" (`spectraframe.accelerate.prepare_for_inference`: channels-last,
  bf16 autocast where the CPU has native bf16, frozen PReLU slopes, inference mode), alternating, median of
  several repetitions (`benchmarks.common.alternate`), so the ratio holds on a loaded machine;
* seconds per output frame of the optical flow (coarse2fine, all neighbours in one batch), apart;
* achieved GFLOP/s (FLOPs of the inference forward / median seconds) and its fraction of the fp32 ceiling
  this harness measures itself (a 3x3 conv 256->256 at 128x128, channels-last fp32);
* peak RSS of one forward of each variant, each in its own subprocess (weights + inputs + forward);
* PSNR (Y, uint8 outputs) of fast vs fp32: with random weights the outputs are first mapped affinely to
  mean 0.5 / std 0.15 (as if the output layer were rescaled; a random model's raw outputs are far outside
  [0, 1]); with trained weights (spectraframe/weights/*.safetensors) also PSNR against the ground truth on
  every val clip, for both variants.

Run: `make bench BENCH=speed` or `python -m benchmarks.speed [--repeats 3] [--skip-rss] [--presets paper,compact]`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import SHARED, alternate, median_seconds, peak_rss_mib, write_result

CORPUS = SHARED / "data" / "train_corpus"
WEIGHTS = Path(__file__).resolve().parents[1] / "spectraframe" / "weights"
# Until PRESETS["compact"] exists (another engineer adds it), the configuration it is planned to have.
COMPACT_FALLBACK = {"base_filter": 32, "feat": 16, "num_stages": 1, "n_resblock": 1, "num_frames": 5, "residual": True}
LR_SIZES = {"paper": (64, 112), "compact": (144, 180), "efficient": (144, 180)}  # (height, width)
TIMING_CLIP = {"paper": "vimeo_septuplet/sequences/00002/0008", "compact": "davis2016_val/car-shadow_00",
               "efficient": "davis2016_val/car-shadow_00"}
CEILING_SHAPE = (256, 256, 128, 128)  # cin, cout, height, width of the ceiling conv


def preset_config(name: str):
    from spectraframe.archs.rbpn import PRESETS, RBPNConfig

    if name in PRESETS:
        return PRESETS[name], f"PRESETS[{name!r}]"
    if name == "compact":
        return RBPNConfig(**COMPACT_FALLBACK), f"compact stand-in {COMPACT_FALLBACK} (no PRESETS['compact'])"
    raise SystemExit(f"unknown preset {name}")


def trained_weights(extra: list[str]) -> list[Path]:
    """Shipped weights (spectraframe/weights/) and any given with --trained, as snapshots safe from rewrites."""
    import shutil

    paths = (sorted(WEIGHTS.glob("*.safetensors")) if WEIGHTS.is_dir() else []) + [Path(p) for p in extra]
    snapshots = Path(tempfile.mkdtemp(prefix="speed-weights-"))
    copies = []
    for i, path in enumerate(paths):  # a training run may rewrite its file while we read it
        copies.append(Path(shutil.copy(path, snapshots / f"{i}_{path.name}")))
    return copies


def conv_ceiling(dtype: torch.dtype, repeats: int) -> float:
    """GFLOP/s of a large 3x3 convolution in channels-last: the practical peak of these cores."""
    cin, cout, h, w = CEILING_SHAPE
    conv = torch.nn.Conv2d(cin, cout, 3, padding=1).to(memory_format=torch.channels_last)
    x = torch.rand(1, cin, h, w).contiguous(memory_format=torch.channels_last)
    flops = 2 * cin * cout * 9 * h * w

    def run() -> None:
        with torch.inference_mode(), torch.autocast("cpu", dtype, enabled=dtype != torch.float32):
            conv(x)

    return flops / median_seconds(run, repeats=repeats, warmup=1) / 1e9


def clip_window(clip: str, num_frames: int) -> list[Path]:
    """The centre `num_frames` frames of a val clip, target first then neighbours in RBPN order."""
    from spectraframe.data.windows import neighbour_indices
    from spectraframe.io.images import list_frames

    frames = list_frames(CORPUS / clip)
    centre = len(frames) // 2
    return [frames[centre]] + [frames[i] for i in neighbour_indices(centre, len(frames), num_frames)]


def load_frames(paths: list[Path]) -> torch.Tensor:
    from spectraframe.io.images import read_frames
    from spectraframe.io.tensors import to_tensor

    return torch.stack([to_tensor(image) for image in read_frames(paths)])


def timing_inputs(preset: str, config) -> tuple[torch.Tensor, torch.Tensor]:
    """Real LR frames at the preset's benchmark size: (target (1,3,h,w), neighbours (1,N,3,h,w)), uint8 levels."""
    from spectraframe.degradation import imresize

    h, w = LR_SIZES[preset]
    frames = load_frames(clip_window(TIMING_CLIP[preset], config.num_frames))
    lr = imresize(frames, size=(h, w)).clamp(0, 1).mul(255).round().div(255)
    return lr[:1], lr[1:][None]


def gt_inputs(clip: str, config) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Val protocol: HR centre frame (modcropped) and its bicubic LR window."""
    from spectraframe.degradation import bicubic_degrade, modcrop

    frames = load_frames(clip_window(clip, config.num_frames))
    hr = modcrop(frames, config.scale)
    lr = bicubic_degrade(hr, config.scale)
    return hr[0], lr[:1], lr[1:][None]


def flows_for(target: torch.Tensor, neighbours: torch.Tensor, method: str) -> torch.Tensor:
    from spectraframe.flow import estimate_flow

    return estimate_flow(target[0], neighbours[0], method=method)[None]


def make_model(config, weights: Path | None):
    from spectraframe.archs.rbpn import RBPN
    from spectraframe.checkpoints import load_generator

    if weights is not None:
        model, metadata = load_generator(weights)
        return model.eval(), metadata.get("flow_method", "coarse2fine")
    torch.manual_seed(0)
    model = RBPN(config).eval()
    if config.residual:  # a zero output conv (how residual models start) would make every variant exact bicubic
        torch.nn.init.kaiming_normal_(model.output.conv.weight)
    return model, "coarse2fine"


def eager(model):
    """The straightforward forward: the module as built, contiguous fp32, under torch.no_grad()."""

    def forward(target, neighbours, flows):
        with torch.no_grad():
            return model(target, neighbours, flows)

    return forward


def one_thread(run):
    def single() -> None:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            run()
        finally:
            torch.set_num_threads(threads)

    return single


def to_uint8_levels(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(0, 1).mul(255).round().div(255)


def psnr_y(a: torch.Tensor, b: torch.Tensor) -> float:
    from spectraframe.metrics.psnr_ssim import psnr

    return float(psnr(to_uint8_levels(a), to_uint8_levels(b)))


def normalised_pair(reference: torch.Tensor, other: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The same affine map on both outputs, taking the reference to mean 0.5 and std 0.15."""
    mean, std = reference.mean(), reference.std().clamp_min(1e-12)
    return [(x - mean) / std * 0.15 + 0.5 for x in (reference, other)]


def rss_child(args: argparse.Namespace) -> None:
    """One forward of one variant in a fresh process (inputs from a file: no flow or image decoding here)."""
    from spectraframe.accelerate import prepare_for_inference

    config, _ = preset_config(args.preset)
    weights = Path(args.weights) if args.weights else None
    model, _ = make_model(config, weights)
    target, neighbours, flows = torch.load(args.inputs)
    forward = eager(model) if args.variant == "fp32 eager" else prepare_for_inference(model, "cpu", args.precision)
    forward(target, neighbours, flows)
    print(json.dumps({"peak_rss_mib": own_peak_rss_mib()}))


def own_peak_rss_mib() -> float:
    """This process's peak RSS since its exec (VmHWM). getrusage's maxrss survives exec on Linux, so in a
    child of a large process it reports at least the parent's size at fork time."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return peak_rss_mib()


def measure_rss(preset: str, variant: str, precision: str, weights: Path | None, inputs: Path) -> float | str:
    command = [sys.executable, "-m", "benchmarks.speed", "--rss-child", "--preset", preset, "--variant", variant,
               "--precision", precision, "--inputs", str(inputs)] + (["--weights", str(weights)] if weights else [])
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    done = subprocess.run(command, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1], env=env)
    if done.returncode != 0:
        return f"failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"
    return json.loads(done.stdout.strip().splitlines()[-1])["peak_rss_mib"]


def bench_preset(preset: str, device: torch.device, precision: str, repeats: int, ceiling: float,
                 skip_rss: bool, onnx: bool, trained: list[Path]) -> tuple[list[dict], list[str]]:
    from spectraframe.accelerate import prepare_for_inference
    from spectraframe.archs.rbpn import generator_flops

    config, source = preset_config(preset)
    weights = next((w for w in trained if _config_of(w) == config), None)
    model, method = make_model(config, weights)
    model = model.to(device)
    target, neighbours = (t.to(device) for t in timing_inputs(preset, config))
    flows = flows_for(target, neighbours, method)
    h, w = target.shape[-2:]
    flops = generator_flops(config, h, w)
    baseline = eager(model)
    fast = prepare_for_inference(model, device, precision)
    fast_fp32 = prepare_for_inference(model, device, "fp32")
    outputs: dict[str, torch.Tensor] = {}

    def timed(name, fn, *inputs):
        def run() -> None:
            outputs[name] = fn(*inputs)
            if device.type == "cuda":
                torch.cuda.synchronize()

        return run

    variants = {"fp32 eager": timed("fp32 eager", baseline, target, neighbours, flows),
                "fast": timed("fast", fast, target, neighbours, flows),
                "fast fp32": timed("fast fp32", fast_fp32, target, neighbours, flows)}
    batch = 2
    if preset != "paper":  # several target frames per pass (the paper preset is too slow to add a variant)
        pair = (target.expand(batch, -1, -1, -1), neighbours.expand(batch, -1, -1, -1, -1),
                flows.expand(batch, -1, -1, -1, -1))
        variants[f"fast, {batch} targets per pass"] = timed("batch", fast, *pair)
    if preset != "paper" and device.type == "cpu" and torch.get_num_threads() > 1:
        # On shared cores a second intra-op thread often waits for a time slice at every op's barrier.
        variants["fp32 eager, 1 thread"] = one_thread(variants["fp32 eager"])
        variants["fast, 1 thread"] = one_thread(variants["fast"])
    if onnx and device.type == "cpu":
        variants["onnxruntime fp32"] = timed("onnxruntime fp32", _onnx_generator(model), target, neighbours, flows)
    uptime_before = os.getloadavg()
    seconds = alternate(variants, repeats=repeats)
    uptime_after = os.getloadavg()
    flow_seconds = median_seconds(lambda: flows_for(target, neighbours, method), repeats=repeats)
    if f"fast, {batch} targets per pass" in seconds:
        seconds[f"fast, {batch} targets per pass"] /= batch

    reference = outputs["fp32 eager"].float().cpu()
    agreement = {}
    for name in ("fast", "fast fp32", "onnxruntime fp32"):
        if name in outputs:
            pair = (reference, outputs[name].float().cpu())
            agreement[name] = psnr_y(*(pair if weights else normalised_pair(*pair)))

    rows = []
    label = f"{preset} {w}x{h} -> {w * config.scale}x{h * config.scale}"
    for name, sec in seconds.items():
        row = {
            "preset": label, "device": device.type, "variant": name,
            "model_s": sec, "flow_s": flow_seconds, "total_s": sec + flow_seconds,
            "frames_per_s": 1.0 / (sec + flow_seconds), "speedup": seconds["fp32 eager"] / sec,
            "gflops": flops / sec / 1e9, "of_fp32_ceiling": flops / sec / 1e9 / ceiling,
            "psnr_vs_fp32": agreement.get(name.split(",")[0], "") if name != "fp32 eager" else "",
        }
        if not skip_rss and name in ("fp32 eager", "fast") and device.type == "cpu":
            with tempfile.TemporaryDirectory() as folder:
                inputs = Path(folder) / "inputs.pt"
                torch.save((target, neighbours, flows), inputs)
                row["peak_rss_mib"] = measure_rss(preset, name, precision, weights, inputs)
        rows.append(row)
    notes = [f"{label}: {source}, {'trained weights ' + weights.name[2:] if weights else 'random weights'}, "
             f"{flops / 1e12:.3f} TFLOP per frame (inference forward), flow {method}; load average "
             f"{uptime_before[0]:.1f} before, {uptime_after[0]:.1f} after the timed runs"]
    if weights is not None:
        rows.extend(gt_rows(model, fast, config, method, label, device))
    return rows, notes


def _config_of(weights: Path):
    from spectraframe.archs.rbpn import RBPNConfig
    from spectraframe.checkpoints import read_metadata

    try:
        return RBPNConfig.from_dict(read_metadata(weights)["config"])
    except Exception:  # not a generator checkpoint
        return None


def _onnx_generator(model):
    from spectraframe.export import OnnxGenerator, export_onnx

    with tempfile.TemporaryDirectory() as folder:
        path = export_onnx(model.cpu(), Path(folder) / "g.onnx")
        return OnnxGenerator(path)


def gt_rows(model, fast, config, method: str, label: str, device: torch.device) -> list[dict]:
    """Trained weights: PSNR against the ground truth of every val clip, fp32 eager vs fast."""
    clips = (CORPUS / "val.txt").read_text().split()
    scores = {"fp32 eager": [], "fast": []}
    for clip in clips:
        hr, target, neighbours = gt_inputs(clip, config)
        target, neighbours = target.to(device), neighbours.to(device)
        flows = flows_for(target, neighbours, method)
        for name, fn in (("fp32 eager", eager(model)), ("fast", fast)):
            scores[name].append(psnr_y(fn(target, neighbours, flows)[0].float().cpu(), hr))
    mean = {k: sum(v) / len(v) for k, v in scores.items()}
    return [{"preset": f"{label} (val, {len(clips)} clips at native size)", "device": device.type,
             "variant": name, "psnr_vs_gt": mean[name], "psnr_gt_difference": mean[name] - mean["fp32 eager"]}
            for name in scores]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--presets", default="paper,compact,efficient")
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--no-onnx", action="store_true", help="skip the onnxruntime variant (compact only)")
    parser.add_argument("--rss-child", action="store_true")
    parser.add_argument("--preset")
    parser.add_argument("--variant")
    parser.add_argument("--precision", default="bf16")
    parser.add_argument("--weights")
    parser.add_argument("--trained", action="append", default=[],
                        help="trained generator weights for the PSNR rows (besides spectraframe/weights/*)")
    parser.add_argument("--inputs")
    args = parser.parse_args(argv if argv is not None else [])
    if args.rss_child:
        rss_child(args)
        return
    from spectraframe.accelerate import cpu_has_fast_bf16

    started = time.time()
    load_start = os.getloadavg()
    ceiling = conv_ceiling(torch.float32, args.repeats)
    bf16_conv = conv_ceiling(torch.bfloat16, args.repeats) if cpu_has_fast_bf16() else None
    rows, notes = [], []
    trained = trained_weights(args.trained)
    devices = [(torch.device("cpu"), "bf16")]
    if torch.cuda.is_available():
        devices.append((torch.device("cuda"), "fp16"))
    for preset in args.presets.split(","):
        for device, precision in devices:
            preset_rows, preset_notes = bench_preset(preset, device, precision, args.repeats, ceiling,
                                                     args.skip_rss, onnx=not args.no_onnx and preset != "paper",
                                                     trained=trained)
            rows += preset_rows
            notes += preset_notes
    header = (
        f"fp32 eager = the module as built (contiguous fp32) under torch.no_grad(); fast = "
        f"prepare_for_inference(model, device, 'bf16' on CPU / 'fp16' on CUDA): channels-last, autocast, "
        f"frozen PReLU slopes, inference mode; fast fp32 = the same in fp32 "
        f"(exact up to rounding). Variants alternate, median of {args.repeats} (+1 warm-up); "
        f"seconds are per output frame; speedup = fp32 eager model_s / variant model_s. fp32 ceiling (3x3 conv "
        f"256->256 at 128x128, channels-last) = {ceiling:.1f} GFLOP/s"
        + (f", the same conv in bf16 = {bf16_conv:.1f} GFLOP/s" if bf16_conv else "")
        + f". {torch.get_num_threads()} threads; load average {load_start[0]:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end ({(time.time() - started) / 60:.0f} min; the cores are shared). "
        "psnr_vs_fp32: Y PSNR of the variant's uint8 output against fp32 eager's (random weights: both outputs "
        "mapped affinely to mean 0.5/std 0.15 first). peak_rss_mib: one forward in a fresh process."
    )
    columns = ["preset", "device", "variant", "model_s", "flow_s", "total_s", "frames_per_s", "speedup", "gflops",
               "of_fp32_ceiling", "psnr_vs_fp32", "peak_rss_mib", "psnr_vs_gt", "psnr_gt_difference"]
    write_result("speed", rows, columns, header + "\n\n" + "\n".join(f"- {n}" for n in notes))


if __name__ == "__main__":
    main(sys.argv[1:])
