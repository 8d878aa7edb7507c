"""Quality of the shipped weights on `val.txt` with the pinned protocol (x4 BI, Y channel), into the model zoo.

`make eval-val` runs this: bicubic and every shipped weights file are scored per clip (PSNR/SSIM, plus
LPIPS and tOF unless --fast), the tables go to benchmarks/results/eval_val.{json,md}, the figures into the set `val`
of spectraframe/weights/zoo.yaml, and the files generated from the zoo are rendered again (tools/zoo.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from benchmarks.common import RESULTS, SHARED, write_result
from spectraframe.checkpoints import file_digest
from spectraframe.evaluate import evaluate, generator_method
from spectraframe.zoo import load_zoo, zoo_path
from tools.zoo import render, write_zoo

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "spectraframe" / "weights"
CORPUS = SHARED / "data" / "train_corpus"
# Every figure of the last run, per clip and frame, keyed by the weights' digest: committed, so a fresh checkout
# re-scores only what changed (LPIPS and tOF take 20-30 min a file on 2 cores).
FULL_RESULTS = RESULTS / "eval_val_full.json"
REPO = Path(__file__).resolve().parents[1]


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


def zoo_figures(result: dict) -> dict:
    """A result as the zoo keeps it: the means and each clip's PSNR/SSIM, rounded."""
    figures = {key: round(value, 4) for key, value in result["mean_of_clip_means"].items()}
    figures["clips"] = {clip: {"psnr_y": round(values["psnr_y"], 2), "ssim_y": round(values["ssim_y"], 4)}
                        for clip, values in result["clips"].items()}
    return figures


def update_zoo(results: dict[str, dict]) -> None:
    """The set `val` of every model (and of bicubic) from these results; their digests must be the zoo's."""
    import yaml

    values = yaml.safe_load(zoo_path().read_text(encoding="utf-8"))
    values["bicubic"]["metrics"]["val"] = zoo_figures(results["bicubic"])
    for model in values["models"]:
        result = results.get(model["file"])
        if result is None:
            continue
        if result["digest"] != model["sha256"]:
            raise SystemExit(f"{model['file']} is not the file zoo.yaml records (sha256 {result['digest']}); "
                             "update its entry (sha256, command, recipe) first")
        model["metrics"]["val"] = zoo_figures(result)
    write_zoo(values)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fast", action="store_true", help="PSNR/SSIM only (no LPIPS, no tOF)")
    parser.add_argument("--fresh", action="store_true",
                        help="score everything again (default: reuse the previous run's figures for a method whose "
                             "weights file is unchanged, when they include every metric asked for)")
    args = parser.parse_args(argv if argv is not None else [])
    order = [model.file for model in load_zoo().models]
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
    update_zoo(results)
    for path in render():
        print(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    main(sys.argv[1:])
