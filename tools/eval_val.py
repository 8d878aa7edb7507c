"""Quality of the shipped weights on `val.txt` with the pinned protocol (x4 BI, Y channel), and the model card.

`make eval-val` runs this: bicubic and every shipped weights file are scored per clip (PSNR/SSIM, plus
LPIPS and tOF unless --fast), the tables go to benchmarks/results/eval_val.{json,md}, and
spectraframe/weights/MODEL_CARD.md is rewritten from the weights' own metadata and these figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from benchmarks.common import RESULTS, SHARED, write_result
from spectraframe.archs.rbpn import count_parameters, generator_flops
from spectraframe.checkpoints import file_digest, load_generator
from spectraframe.evaluate import evaluate, generator_method
from spectraframe.upscale.weights import SHIPPED_WEIGHTS

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "spectraframe" / "weights"
CORPUS = SHARED / "data" / "train_corpus"
# Every figure of the last run, per clip and frame, keyed by the weights' digest: committed, so a fresh checkout
# re-scores only what changed (LPIPS and tOF take 20-30 min a file on 2 cores).
FULL_RESULTS = RESULTS / "eval_val_full.json"
REPO = Path(__file__).resolve().parents[1]
# The shipped files, the default first, each labelled with its short name and what it is for.
LABELS = {filename: f"`--weights {name}`: {description}" for name, (filename, description) in SHIPPED_WEIGHTS.items()}


def score(method, perceptual_metrics: bool) -> dict:
    started = time.perf_counter()
    report = evaluate(CORPUS, CORPUS / "val.txt", scale=4, method=method, lpips=perceptual_metrics,
                      tof=perceptual_metrics, progress=False)
    result = report.to_dict()
    result["seconds"] = time.perf_counter() - started
    return result


def portable(result: dict) -> dict:
    """The result with its data paths relative to the repository (../shared/...), as committed."""
    settings = dict(result.get("settings", {}))
    for key in ("dataset_root", "list_file"):
        if key in settings and Path(settings[key]).is_absolute():
            settings[key] = os.path.relpath(settings[key], REPO)
    return {**result, "settings": settings} if settings else dict(result)


def model_card(weights: list[Path], results: dict[str, dict]) -> str:
    bicubic = results["bicubic"]["mean_of_clip_means"]
    lines = [
        "# SpectraFrame x4 weights — model card",
        "",
        "Written by `make eval-val` (benchmarks/eval_val.py) from the weights' metadata and the measured figures;",
        "do not edit by hand.",
        "",
    ]
    for path in weights:
        model, meta = load_generator(path)
        c = model.config
        prov = meta.get("provenance", {})
        flops = generator_flops(c, 144, 180)
        lines += [
            f"## `{path.name}` — {LABELS.get(path.name, '')}",
            "",
            f"- Architecture: RBPN, x{c.scale}, {c.num_frames} frames (target + {c.num_frames - 1} neighbours), "
            f"{c.layout} layout, base_filter {c.base_filter}, feat {c.feat}, {c.num_stages} projection stage(s), "
            f"{c.n_resblock} residual block(s) per stack, bicubic residual: {c.residual}.",
            f"- Parameters: {count_parameters(model):,}; {flops / 1e9:.1f} GFLOP per 720x576 output frame.",
            f"- Optical flow: `{meta.get('flow_method')}` (the method it was trained with; used at inference).",
            f"- Training provenance: `{json.dumps(prov, sort_keys=True)}`",
            "",
        ]
    keys = ["psnr_y", "ssim_y", "lpips", "tof"]
    lines += ["## Quality on `val.txt` (13 clips, x4 BI, pinned protocol, mean of clip means)", "",
              "| method | " + " | ".join(k.upper().replace("_", "-") for k in keys) + " | vs bicubic (dB) |",
              "|---|" + "---|" * (len(keys) + 1)]
    for name, result in results.items():
        means = result["mean_of_clip_means"]
        cells = [f"{means[k]:.4f}" if k in means else "-" for k in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {means['psnr_y'] - bicubic['psnr_y']:+.2f} |")
    lines += ["", "Per clip (PSNR-Y dB / SSIM-Y):", "", "| clip | " + " | ".join(results) + " |",
              "|---|" + "---|" * len(results)]
    for clip in results["bicubic"]["clips"]:
        cells = [f"{r['clips'][clip]['psnr_y']:.2f} / {r['clips'][clip]['ssim_y']:.4f}" for r in results.values()]
        lines.append(f"| {clip} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fast", action="store_true", help="PSNR/SSIM only (no LPIPS, no tOF)")
    parser.add_argument("--fresh", action="store_true",
                        help="score everything again (default: reuse the previous run's figures for a method whose "
                             "weights file is unchanged, when they include every metric asked for)")
    args = parser.parse_args(argv if argv is not None else [])
    order = list(LABELS)
    weights = sorted(WEIGHTS_DIR.glob("*.safetensors"),
                     key=lambda p: (order.index(p.name) if p.name in order else len(order), p.name))
    previous = {} if args.fresh or not FULL_RESULTS.is_file() else json.loads(FULL_RESULTS.read_text())
    wanted = ("psnr_y", "ssim_y") if args.fast else ("psnr_y", "ssim_y", "lpips", "tof")
    results = {}
    for name, digest, method in [("bicubic", "bicubic", "bicubic"),
                                 *((p.name, file_digest(p), p) for p in weights)]:
        earlier = previous.get(name, {})
        if earlier.get("digest") == digest and all(k in earlier.get("mean_of_clip_means", {}) for k in wanted):
            print(f"{name}: unchanged since the last run, its figures are reused (--fresh to score again)")
            results[name] = earlier
            continue
        results[name] = score(method if method == "bicubic" else generator_method(method), not args.fast)
        results[name]["digest"] = digest
        results[name] = portable(results[name])
        FULL_RESULTS.write_text(json.dumps({**previous, **results}, indent=1))  # keep what is done
    rows = []
    for name, result in results.items():
        rows.append({"method": name, **{k: round(v, 4) for k, v in result["mean_of_clip_means"].items()},
                     "seconds": round(result["seconds"], 1)})
    metrics = [k for k in ("psnr_y", "ssim_y", "lpips", "tof") if k in rows[0]]
    write_result("eval_val", rows, ["method", *metrics, "seconds"],
                 notes="val.txt of ../shared/data/train_corpus, x4 BI, Y channel, mean of clip means.")
    FULL_RESULTS.write_text(json.dumps(results, indent=1))
    if weights:
        (WEIGHTS_DIR / "MODEL_CARD.md").write_text(model_card(weights, results))
        print(f"wrote {WEIGHTS_DIR / 'MODEL_CARD.md'}")


if __name__ == "__main__":
    main(sys.argv[1:])
