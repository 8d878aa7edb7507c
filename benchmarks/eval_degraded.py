"""PSNR-Y on `val.txt` of bicubic and the shipped models when the LR input is compressed or noisy.

The evaluation protocol of `spectraframe eval` (x4, Y channel, mean of clip means) with the degradations of
issue 15: clean BI, BI + H.264 (libx264, yuv420p, preset medium, the LR clip as one sequence) at CRF 18/23/28/33,
and BI + Gaussian noise sigma 5. PSNR only, one torch thread. Each figure is kept with the digest of the weights
it was measured with: a rerun scores only what is new or changed, so once the real-world model ships,
`make bench BENCH=eval_degraded` (or `python -m benchmarks.eval_degraded`) adds its columns to the table.

Options: --models NAME... (`spectraframe models` names; default: default, and real when installed), --fresh.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from benchmarks.common import RESULTS, SHARED, write_result
from spectraframe.checkpoints import file_digest
from spectraframe.evaluate import evaluate, generator_method
from spectraframe.zoo import installed, model_weights_path

CORPUS = SHARED / "data" / "train_corpus"
DEGRADATIONS = ("bi", "bi+h264:crf=18", "bi+h264:crf=23", "bi+h264:crf=28", "bi+h264:crf=33", "bi+noise:sigma=5")
# Scored in this order (the headline first), so an interrupted run has the figures that matter most.
SCORING_ORDER = ("bi+h264:crf=28", "bi", "bi+h264:crf=18", "bi+h264:crf=23", "bi+h264:crf=33", "bi+noise:sigma=5")
NAME = "eval_degraded"


def default_models() -> list[str]:
    return ["default", *(["real"] if installed("real") else [])]


def previous_scores() -> dict[str, dict]:
    """(method, degradation) -> the row measured last time, from the committed result file."""
    path = RESULTS / f"{NAME}.json"
    if not path.is_file():
        return {}
    return {f"{row['method']}|{row['degradation']}": row for row in json.loads(path.read_text()).get("scores", [])}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", help="models to score besides bicubic (default: default, and real "
                                                    "when installed)")
    parser.add_argument("--fresh", action="store_true", help="score everything again")
    args = parser.parse_args(argv if argv is not None else [])
    torch.set_num_threads(1)
    models = args.models or default_models()
    methods = {"bicubic": ("bicubic", "bicubic")}
    for model in models:
        path = model_weights_path(model)
        methods[model] = (path, file_digest(path))
    previous = {} if args.fresh else previous_scores()
    scores = []
    for degradation in SCORING_ORDER:
        for name, (weights, digest) in methods.items():
            earlier = previous.get(f"{name}|{degradation}")
            if earlier is not None and earlier.get("digest") == digest:
                print(f"{name} on {degradation}: unchanged since the last run, reused (--fresh to score again)")
                scores.append(earlier)
                continue
            started = time.perf_counter()
            method = "bicubic" if weights == "bicubic" else generator_method(weights, degradation=degradation)
            report = evaluate(CORPUS, CORPUS / "val.txt", scale=4, method=method, degradation=degradation,
                              progress=False)
            psnr = report.mean_of_clip_means()["psnr_y"]
            seconds = time.perf_counter() - started
            print(f"{name} on {degradation}: PSNR-Y {psnr:.4f} dB ({seconds:.0f} s)", flush=True)
            scores.append({"method": name, "degradation": degradation, "psnr_y": round(psnr, 4),
                           "seconds": round(seconds, 1), "digest": digest})
            write_scores(scores, list(methods))  # keep what is done
    write_scores(scores, list(methods))


def write_scores(scores: list[dict], methods: list[str]) -> None:
    """The table (a row per degradation, a column per method and its gain over bicubic) and every score."""
    by_key = {(s["method"], s["degradation"]): s["psnr_y"] for s in scores}
    rows = []
    for degradation in DEGRADATIONS:
        bicubic = by_key.get(("bicubic", degradation))
        if bicubic is None:
            continue
        row: dict = {"degradation": f"`{degradation}`", "bicubic": f"{bicubic:.2f}"}
        for name in methods[1:]:
            value = by_key.get((name, degradation))
            row[name] = "-" if value is None else f"{value:.2f}"
            row[f"{name} gain"] = "-" if value is None else f"{value - bicubic:+.2f}"
        rows.append(row)
    columns = ["degradation", "bicubic", *(c for name in methods[1:] for c in (name, f"{name} gain"))]
    notes = ("val.txt of ../shared/data/train_corpus (13 clips), x4, PSNR-Y (dB), mean of clip means, with "
             "`spectraframe eval --degradation SPEC`: h264 is libx264 yuv420p preset medium on the LR clip encoded "
             "as one sequence; noise is Gaussian, sigma on the 0-255 scale. One torch thread. Regenerate with "
             "`make bench BENCH=eval_degraded`.")
    path = write_result(NAME, rows, columns, notes)
    data = json.loads(path.read_text())
    data["scores"] = scores
    path.write_text(json.dumps(data, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
