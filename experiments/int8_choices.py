"""Which activations of the default stay float in its int8 model, and how the ranges are set.

The int8 network (`spectraframe/archs/rbpn_int8.py`) is scored in PyTorch (its fake quantization is OpenVINO's
arithmetic) against the default in fp32: mean Y-PSNR of the centre frames of the 12 held-out training clips and of
val.txt (bicubic x4, the validation protocol), as a difference in dB. Variants:

* shipped: the first layers and `FLOAT_ACTIVATIONS` float, ranges = mean over the calibration windows of each
  window's min / max;
* every activation int8, with three range rules: that mean of extremes, the extremes over all windows, and the mean
  of each window's 1e-4 / 1 - 1e-4 quantiles;
* weights only: every activation quantizer bypassed.
With `--each`, every quantizer of the shipped model bypassed alone (held-out clips only).

Run: `python -m experiments.int8_choices [--clips 96] [--each]`; writes benchmarks/results/int8_choices.md.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch
from torch import nn

from benchmarks.common import SHARED, write_result
from spectraframe.archs.rbpn_int8 import ActivationQuantizer, QuantizedRBPN, calibrate_quantizers
from spectraframe.checkpoints import load_generator
from spectraframe.zoo import default_weights_path

CORPUS = SHARED / "data" / "train_corpus"
QUANTILES = (1e-4, 1 - 1e-4)


class RecordingQuantizer(ActivationQuantizer):
    """An ActivationQuantizer that also keeps, per calibration window, its input's extremes and quantiles."""

    def forward(self, x):
        if self.calibrating:
            values = x.detach().float().flatten()
            values = values[::-(-values.numel() // (1 << 24))]  # torch.quantile's input is limited
            self.windows.append((float(x.min()), float(x.max()), *torch.quantile(values, torch.tensor(QUANTILES))
                                 .tolist()))
        return super().forward(x)


def every_activation_int8(model: QuantizedRBPN) -> QuantizedRBPN:
    """The first layers' outputs and FLOAT_ACTIVATIONS quantized too."""
    model.feat0 = nn.Sequential(model.feat0, ActivationQuantizer())
    model.feat1 = nn.Sequential(model.feat1, ActivationQuantizer())
    block = model.res_feat1[0]
    block.inner_quant, block.branch_quant = ActivationQuantizer(), ActivationQuantizer()
    return model


def recording(model: QuantizedRBPN) -> list[RecordingQuantizer]:
    """Every quantizer of `model` turned into a RecordingQuantizer (same state)."""
    quantizers = [m for m in model.modules() if isinstance(m, ActivationQuantizer)]
    for quantizer in quantizers:
        quantizer.__class__ = RecordingQuantizer
        quantizer.windows = []
    return quantizers


def set_ranges(quantizers: list[RecordingQuantizer], rule: str) -> None:
    for quantizer in quantizers:
        w = np.array(quantizer.windows)
        low, high = {"mean of extremes": (w[:, 0].mean(), w[:, 1].mean()),
                     "extremes over all windows": (w[:, 0].min(), w[:, 1].max()),
                     "mean of quantiles": (w[:, 2].mean(), w[:, 3].mean())}[rule]
        quantizer.low.fill_(min(low, 0.0))
        quantizer.high.fill_(max(high, min(low, 0.0) + 1e-3))


def scorer():
    from spectraframe.data.eval_datasets import EvalClip
    from spectraframe.data.train_datasets import find_training_clips, split_holdout
    from spectraframe.evaluate import EvalProtocol, EvalReport, generator_clip_method, score_clips

    sets = {"held_out": split_holdout(find_training_clips(CORPUS, "train.txt"), 12)[1],
            "val": find_training_clips(CORPUS, "val.txt")}

    def score(model, set_name: str) -> float:
        clips = [EvalClip(name=s.name, frame_paths=list(s.frame_paths)) for s in sets[set_name]]
        scores = score_clips(clips, generator_clip_method(model.eval(), "dis"), EvalProtocol(4, "bi", frames="centre"))
        return EvalReport(scores).mean_of_clip_means()["psnr_y"]

    return score


def calibrated(base, windows, every: bool) -> tuple[QuantizedRBPN, list[RecordingQuantizer]]:
    model = QuantizedRBPN(base.config)
    model.load_float_weights(base.state_dict())
    if every:
        every_activation_int8(model)
    quantizers = recording(model)
    calibrate_quantizers(model, (w[:3] for w in windows))
    return model.eval(), quantizers


def main(argv: list[str]) -> None:
    from spectraframe.int8 import training_windows

    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=96, help="calibration clips (as export --int8)")
    parser.add_argument("--each", action="store_true", help="also bypass each quantizer of the shipped model alone")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    base = load_generator(default_weights_path())[0]
    windows = training_windows(CORPUS / "train.txt", args.clips, base.config.num_frames, base.config.scale, "dis")
    score = scorer()
    reference = {s: score(base, s) for s in ("held_out", "val")}
    rows = []

    def row(variant: str, model, sets=("held_out", "val")) -> None:
        rows.append({"variant": variant, **{f"{s}_db": score(model, s) - reference[s] for s in sets}})
        print(rows[-1], flush=True)

    shipped, shipped_quantizers = calibrated(base, windows, every=False)
    row("shipped", shipped)
    every, every_quantizers = calibrated(base, windows, every=True)
    for rule in ("mean of extremes", "extremes over all windows", "mean of quantiles"):
        set_ranges(every_quantizers, rule)
        row(f"every activation int8, {rule}", every)
    for quantizer in every_quantizers:
        quantizer.forward = lambda x: x
    row("weights only", every)
    if args.each:
        names = {id(m): n for n, m in shipped.named_modules()}
        for quantizer in shipped_quantizers:
            quantizer.forward = lambda x: x
            row(f"shipped, {names[id(quantizer)]} bypassed", shipped, sets=("held_out",))
            del quantizer.forward  # back to the class's forward
    notes = (f"Y-PSNR of the int8 network (PyTorch fake quantization) minus the default's fp32 (held-out "
             f"{reference['held_out']:.3f} dB, val {reference['val']:.3f} dB), centre frames; ranges from the centre "
             f"windows of {args.clips} training clips. `python -m experiments.int8_choices"
             f"{' --each' if args.each else ''}`.")
    write_result("int8_choices", rows, ["variant", "held_out_db", "val_db"], notes)


if __name__ == "__main__":
    main(sys.argv[1:])
