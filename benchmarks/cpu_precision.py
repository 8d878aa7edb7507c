"""CPU precisions and engines side by side: the fast path before int8 (torch bf16, channels-last) against the
int8 model `--precision auto` now runs, and the other engines tried for it, in one alternated run.

Variants, each a generator called like RBPN (the default weights, spectraframe_efficient_x4):
* torch fp32 / torch bf16: `prepare_for_inference` (channels-last, frozen PReLU slopes); bf16 was auto's choice
  on this CPU before int8;
* OpenVINO int8 (shipped): spectraframe_efficient_x4.int8.xml, made by `spectraframe export --int8
  --calibration` (spectraframe.archs.rbpn_int8: every layer int8 but the first ones, ranges calibrated on whole
  frames of training clips);
* OpenVINO int8, NNCF: NNCF's post-training quantization of the ONNX export (MIXED preset, calibrated on the same
  kind of windows, the layers its accuracy control found sensitive kept float: `NNCF_FLOAT_LAYERS`), the int8
  model shipped before, made here;
* OpenVINO fp32 / bf16: the float model in OpenVINO's CPU plugin;
* onnxruntime int8 QDQ: ONNX Runtime's static quantization, per-channel weights, the post-training model's float
  layers float, made here from the same calibration clips.

Per output size (720x576 and 1920x1080, from a val clip's frames shrunk to the LR size) and thread count (1 and 2):
median seconds of the network, and of the DIS flow from the target to its neighbours, every variant and the flow
alternating (`benchmarks.common.alternate`); total = network + flow. Peak RSS: one forward of the variant at that
size in a fresh process (weights + inputs + forward). Quality: Y-PSNR against the ground truth on every clip of
val.txt and on the 12 held-out training clips (centre frame of each, bicubic x4 LR, the validation protocol),
as a difference to torch fp32.

Run: `make bench BENCH=cpu_precision` or `python -m benchmarks.cpu_precision [--repeats 5] [--threads 2,1]
[--sizes 720x576,1920x1080] [--skip-rss] [--skip-quality] [--name N]`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from benchmarks.common import SHARED, alternate, write_result

CORPUS = SHARED / "data" / "train_corpus"
ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "spectraframe" / "weights" / "spectraframe_efficient_x4.safetensors"
TIMING_CLIP = "davis2016_val/car-shadow_00"
BASELINE = "torch bf16"
NNCF_CALIBRATION_CLIPS = 32
# Layers NNCF keeps in floating point, as the ONNX export names them. The first convolutions (they read the frames
# and the flows) and the top-level ones of RBPN.forward (the output layer's parts and the bicubic residual), and the
# ones NNCF's accuracy control returned to floating point first on the default weights: DBPN's 1x1 entry
# convolution, the first convolution and sum of the neighbour encoder's and the per-neighbour residual stacks, the
# recurrence's sums and the output.
NNCF_FLOAT_LAYERS = (r"^/feat0/.*", r"^/feat1/.*", r"^/Conv(_\d+)?(/.*)?$", r"^/DBPN/feat1/.*",
                     r"^/res_feat[12]/res_feat[12]\.0(_\d+)?/(conv1(_\d+)?/.*|Add)$", r"^/Add(_\d+)?$", r"^hr$")
VARIANTS = ("torch fp32", "torch bf16", "OpenVINO int8 (shipped)", "OpenVINO int8, NNCF", "OpenVINO fp32",
            "OpenVINO bf16", "onnxruntime int8 QDQ")


def build_models(folder: Path) -> None:
    """The models the variants other than torch and the shipped int8 run, written to `folder`."""
    from spectraframe.checkpoints import load_generator
    from spectraframe.export import export_onnx
    from spectraframe.int8 import training_windows, write_ir

    model, metadata = load_generator(WEIGHTS)
    config = model.config
    calibration = training_windows(CORPUS / "train.txt", NNCF_CALIBRATION_CLIPS, config.num_frames, config.scale,
                                   metadata["flow_method"])
    info = {"flow_method": metadata["flow_method"]}
    nncf_int8(model, calibration, folder / "nncf.xml", info)
    onnx = export_onnx(model, folder / "float.onnx", metadata=info)
    import openvino as ov

    write_ir(ov.Core().read_model(str(onnx)), folder / "float.xml", {"config": config.to_dict(), **info})
    quantize_onnx_qdq(onnx, folder / "qdq.onnx", calibration)


def nncf_int8(model, calibration, path: Path, metadata: dict) -> Path:
    """NNCF's post-training quantization of `model`'s ONNX export, calibrated on `calibration`, NNCF_FLOAT_LAYERS
    kept in floating point, written as OpenVINO IR."""
    import nncf
    import openvino as ov

    from spectraframe.export import INPUT_NAMES, export_onnx
    from spectraframe.int8 import write_ir

    float_model = ov.Core().read_model(str(export_onnx(model, path.with_suffix(".onnx"))))
    inputs = nncf.Dataset(calibration, lambda w: dict(zip(INPUT_NAMES, (t.numpy() for t in w[:3]), strict=True)))
    quantized = nncf.quantize(float_model, inputs, preset=nncf.QuantizationPreset.MIXED, subset_size=len(calibration),
                              ignored_scope=nncf.IgnoredScope(patterns=list(NNCF_FLOAT_LAYERS), validate=False))
    return write_ir(quantized, path, {"config": model.config.to_dict(), **metadata})


def quantize_onnx_qdq(onnx: Path, out: Path, calibration) -> None:
    """ONNX Runtime's static QDQ quantization: uint8 activations per tensor, int8 weights per channel, the same
    layers kept float as NNCF's model keeps."""
    import onnx as onnx_lib
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from spectraframe.export import INPUT_NAMES

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.windows = iter(calibration)

        def get_next(self):
            window = next(self.windows, None)
            return None if window is None else dict(zip(INPUT_NAMES, (t.numpy() for t in window[:3]), strict=True))

    graph = onnx_lib.load(str(onnx)).graph
    keep_float = [node.name for node in graph.node if any(re.match(p, node.name) for p in NNCF_FLOAT_LAYERS)]
    quantize_static(str(onnx), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_exclude=keep_float)


def make_variant(name: str, folder: Path, threads: int):
    from spectraframe.accelerate import prepare_for_inference
    from spectraframe.checkpoints import load_generator
    from spectraframe.export import OnnxGenerator
    from spectraframe.int8 import OpenvinoGenerator, int8_model_path

    if name.startswith("torch"):
        return prepare_for_inference(load_generator(WEIGHTS)[0], "cpu", name.split()[1])
    if name == "OpenVINO int8 (shipped)":
        return OpenvinoGenerator(int8_model_path(WEIGHTS), threads)
    if name == "OpenVINO int8, NNCF":
        return OpenvinoGenerator(folder / "nncf.xml", threads)
    if name.startswith("OpenVINO"):
        return OpenvinoGenerator(folder / "float.xml", threads, name.split()[1].replace("fp32", "f32"))
    return OnnxGenerator(folder / "qdq.onnx", threads=threads)


def lr_window(size: tuple[int, int], num_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Real frames of a val clip shrunk to `size` (LR width, height), uint8 levels: target (3,h,w), neighbours."""
    from benchmarks.speed import clip_window, load_frames
    from spectraframe.degradation import imresize

    frames = load_frames(clip_window(TIMING_CLIP, num_frames))
    lr = imresize(frames, size=(size[1], size[0])).clamp(0, 1).mul(255).round().div(255)
    return lr[0], lr[1:]


def time_size(size: tuple[int, int], threads: int, folder: Path, repeats: int) -> dict[str, float]:
    from spectraframe.flow import estimate_flow

    torch.set_num_threads(threads)
    target, neighbours = lr_window(size, 3)
    flows = estimate_flow(target, neighbours, method="dis")[None]
    inputs = (target[None], neighbours[None], flows)
    generators = {name: make_variant(name, folder, threads) for name in VARIANTS}
    runs = {name: (lambda g=generator: g(*inputs)) for name, generator in generators.items()}
    runs["flow"] = lambda: estimate_flow(target, neighbours, method="dis")
    return alternate(runs, repeats=repeats)


def rss_child(args: argparse.Namespace) -> None:
    """One forward of one variant in a fresh process (the inputs from a file)."""
    from benchmarks.speed import own_peak_rss_mib

    torch.set_num_threads(args.child_threads)
    inputs = torch.load(args.inputs)
    make_variant(args.variant, Path(args.models), args.child_threads)(*inputs)
    print(json.dumps({"peak_rss_mib": own_peak_rss_mib()}))


def measure_rss(variant: str, folder: Path, size: tuple[int, int], threads: int) -> float | str:
    from spectraframe.flow import estimate_flow

    target, neighbours = lr_window(size, 3)
    inputs = folder / "inputs.pt"
    torch.save((target[None], neighbours[None], estimate_flow(target, neighbours, method="dis")[None]), inputs)
    command = [sys.executable, "-m", "benchmarks.cpu_precision", "--rss-child", "--variant", variant, "--models",
               str(folder), "--inputs", str(inputs), "--child-threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    if done.returncode != 0:
        return f"failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"
    return json.loads(done.stdout.strip().splitlines()[-1])["peak_rss_mib"]


def quality(folder: Path, threads: int) -> dict[str, dict[str, float]]:
    """Mean Y-PSNR (dB) against the ground truth of each variant on val.txt and the held-out training clips."""
    from spectraframe.data.eval_datasets import EvalClip
    from spectraframe.data.train_datasets import find_training_clips, split_holdout
    from spectraframe.evaluate import EvalProtocol, EvalReport, generator_clip_method, score_clips

    torch.set_num_threads(threads)
    held_out = split_holdout(find_training_clips(CORPUS, "train.txt"), 12)[1]
    sets = {"val": find_training_clips(CORPUS, "val.txt"), "held_out": held_out}
    scores: dict[str, dict[str, float]] = {name: {} for name in VARIANTS}
    for set_name, sources in sets.items():
        clips = [EvalClip(name=s.name, frame_paths=list(s.frame_paths)) for s in sources]
        for name in VARIANTS:
            method = generator_clip_method(make_variant(name, folder, threads), "dis")
            report = EvalReport(score_clips(clips, method, EvalProtocol(4, "bi", frames="centre")))
            scores[name][set_name] = report.mean_of_clip_means()["psnr_y"]
    return scores


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", default="2,1", help="thread counts to measure, comma-separated")
    parser.add_argument("--sizes", default="720x576,1920x1080", help="output sizes (x4), comma-separated")
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--name", default="cpu_precision", help="result name under benchmarks/results/")
    parser.add_argument("--rss-child", action="store_true")
    parser.add_argument("--variant")
    parser.add_argument("--models")
    parser.add_argument("--inputs")
    parser.add_argument("--child-threads", type=int, default=1)
    args = parser.parse_args(argv if argv is not None else [])
    if args.rss_child:
        rss_child(args)
        return
    from spectraframe.accelerate import choose_precision, cpu_has_fast_bf16, cpu_has_int8_dot
    from spectraframe.int8 import int8_model_path

    if not int8_model_path(WEIGHTS).is_file():
        raise SystemExit(f"{int8_model_path(WEIGHTS)} is missing: make it first (docs/speed.md)")
    threads_before = torch.get_num_threads()
    load_start = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory(prefix="cpu-precision-") as tmp:
        folder = Path(tmp)
        build_models(folder)
        scores = {} if args.skip_quality else quality(folder, 2)
        for size_text in args.sizes.split(","):
            width, height = (int(v) for v in size_text.split("x"))
            lr_size = (width // 4, height // 4)
            for threads in (int(t) for t in args.threads.split(",")):
                seconds = time_size(lr_size, threads, folder, args.repeats)
                baseline = seconds[BASELINE] + seconds["flow"]
                for name in VARIANTS:
                    total = seconds[name] + seconds["flow"]
                    row = {"output": size_text, "threads": threads, "variant": name, "total_s": total,
                           "network_s": seconds[name], "flow_s": seconds["flow"], "frames_per_s": 1 / total,
                           "total_vs_bf16": total / baseline}
                    if not args.skip_rss:
                        row["peak_rss_mib"] = measure_rss(name, folder, lr_size, threads)
                    if scores:
                        reference = scores["torch fp32"]
                        row["val_psnr_vs_fp32_db"] = scores[name]["val"] - reference["val"]
                        row["held_out_psnr_vs_fp32_db"] = scores[name]["held_out"] - reference["held_out"]
                    rows.append(row)
    torch.set_num_threads(threads_before)
    cpu = torch.device("cpu")
    picks = choose_precision("auto", cpu, int8_ready=True)
    notes = (
        f"Default weights ({WEIGHTS.name}), x4 from real frames of {TIMING_CLIP} shrunk to the LR size. Seconds per "
        f"output frame: network and DIS flow alternate with every variant in one run, median of {args.repeats} "
        "(+1 warm-up); total = network + flow; total_vs_bf16 = total / total of torch bf16 (the fast path `auto` "
        "ran before int8) at the same size and thread count. peak_rss_mib: one forward in a fresh process. "
        "*_psnr_vs_fp32_db: mean Y-PSNR against the ground truth (centre frame of every clip, bicubic x4, at "
        "native size) minus torch fp32's: "
        + (", ".join(f"torch fp32 {v:.3f} dB on {k}" for k, v in scores["torch fp32"].items()) if scores else "")
        + f". This CPU: int8 dot products (VNNI/AMX) {cpu_has_int8_dot()}, native bf16 {cpu_has_fast_bf16()}; "
        f"`--precision auto` picks {picks} here. Load average {load_start:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end: the cores are shared, so read the ratios, not the seconds."
    )
    columns = ["output", "threads", "variant", "total_s", "network_s", "flow_s", "frames_per_s", "total_vs_bf16",
               "peak_rss_mib", "val_psnr_vs_fp32_db", "held_out_psnr_vs_fp32_db"]
    write_result(args.name, rows, columns, notes)


if __name__ == "__main__":
    main(sys.argv[1:])
