"""Seconds per 720x576 frame for the eval metrics: PSNR+SSIM (Y, float64), LPIPS-VGG, tOF (two flows per
frame pair), and the bicubic degradation + baseline that `spectraframe eval` runs before scoring."""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.common import median_seconds, peak_rss_mib, write_result
from spectraframe.degradation import bicubic_degrade, bicubic_upsample
from spectraframe.flow import DEFAULT_FLOW_METHOD
from spectraframe.metrics.lpips import LPIPS
from spectraframe.metrics.psnr_ssim import psnr, psnr_ssim, ssim
from spectraframe.metrics.tof import tof_pairs

HEIGHT, WIDTH = 576, 720


def _frames() -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(0)
    target = torch.from_numpy(rng.integers(0, 256, (1, 3, HEIGHT, WIDTH), dtype=np.uint8))
    noise = torch.from_numpy(rng.integers(-8, 9, target.shape)).to(torch.int16)
    output = (target.to(torch.int16) + noise).clamp(0, 255).to(torch.uint8)
    return output, target


def main() -> None:
    output, target = _frames()
    rows = []
    for name, fn, repeats in [
        ("psnr (Y)", lambda: psnr(output, target), 7),
        ("ssim (Y)", lambda: ssim(output, target), 7),
        ("psnr+ssim (Y), as eval runs them", lambda: psnr_ssim(output, target), 7),
        ("psnr+ssim (RGB)", lambda: psnr_ssim(output, target, channel="rgb"), 5),
    ]:
        rows.append({"metric": name, "seconds_per_frame": median_seconds(fn, repeats=repeats)})
    hr = target.to(torch.float64) / 255.0
    rows.append({
        "metric": "bicubic x4 degrade + upsample (float64)",
        "seconds_per_frame": median_seconds(lambda: bicubic_upsample(bicubic_degrade(hr, 4), 4), repeats=5),
    })
    model = LPIPS()
    x, y = output.float() / 255.0, target.float() / 255.0

    def run_lpips() -> None:
        with torch.inference_mode():
            model(x, y)

    rows.append({"metric": "lpips (VGG)", "seconds_per_frame": median_seconds(run_lpips, repeats=3)})
    # tOF per consecutive pair: the flow of the output pair and of the ground-truth pair, at the HR size
    outputs, targets = torch.cat([output, output.roll(2, dims=-1)]), torch.cat([target, target.roll(2, dims=-1)])
    rows.append({"metric": f"tof ({DEFAULT_FLOW_METHOD} flow, per frame pair)",
                 "seconds_per_frame": median_seconds(lambda: tof_pairs(outputs, targets), repeats=3)})
    for row in rows:
        row["frames_per_second"] = 1.0 / row["seconds_per_frame"]
    write_result(
        "eval_metrics",
        rows,
        ["metric", "seconds_per_frame", "frames_per_second"],
        notes=f"One {WIDTH}x{HEIGHT} RGB uint8 frame pair on the CPU, torch threads = {torch.get_num_threads()}; "
        f"median of repeats after a warm-up. Peak RSS {peak_rss_mib():.0f} MiB.",
    )


if __name__ == "__main__":
    main()
