"""The size trade-off behind the compact preset: frames/s at 180x144 -> 720x576 on this CPU, flow included.

Each candidate RBPN runs the fast inference path (channels-last, bf16 where the CPU has it) on one
target frame with its neighbours; flow is our coarse2fine between the target and each neighbour, solved
as one batch. Candidates are timed in turn (benchmarks.common.alternate) so machine noise hits all alike.
"""

from __future__ import annotations

import os

import torch

from benchmarks.common import alternate, median_seconds, write_result
from spectraframe.accelerate import prepare_for_inference
from spectraframe.archs.rbpn import PRESETS, RBPN, RBPNConfig, count_parameters, generator_flops
from spectraframe.flow import estimate_flow

LR_HEIGHT, LR_WIDTH = 144, 180
# (base_filter, feat, num_stages, n_resblock, num_frames)
CANDIDATES = [(32, 16, 1, 0, 5), (32, 16, 1, 1, 3), (32, 16, 1, 1, 5), (48, 16, 1, 1, 5), (32, 16, 2, 1, 5),
              (64, 32, 1, 1, 5)]


def candidate_config(base_filter: int, feat: int, stages: int, resblocks: int, frames: int) -> RBPNConfig:
    return RBPNConfig(scale=4, num_frames=frames, base_filter=base_filter, feat=feat, num_stages=stages,
                      n_resblock=resblocks, residual=True)


def main() -> None:
    load_at_start = os.getloadavg()[0]
    torch.manual_seed(0)
    frames = torch.rand(7, 3, LR_HEIGHT, LR_WIDTH)
    runs, configs = {}, {}
    for values in CANDIDATES:
        config = candidate_config(*values)
        generator = prepare_for_inference(RBPN(config), "cpu", precision="bf16")
        n = config.num_frames - 1
        target, neighbours = frames[0:1], frames[1:n + 1][None]
        flows = torch.zeros(1, n, 2, LR_HEIGHT, LR_WIDTH)
        name = str(values)
        runs[name] = lambda g=generator, t=target, nb=neighbours, f=flows: g(t, nb, f)
        configs[name] = config
    network_seconds = alternate(runs, repeats=3)
    flow_seconds = {n: median_seconds(lambda n=n: estimate_flow(frames[0], frames[1:n + 1]), repeats=3)
                    for n in sorted({c.num_frames - 1 for c in configs.values()})}
    compact = PRESETS["compact"]
    rows = []
    for name, config in configs.items():
        net = network_seconds[name]
        flow = flow_seconds[config.num_frames - 1]
        rows.append({
            "base_filter, feat, stages, resblocks, frames": name + (" (compact)" if config == compact else ""),
            "params": count_parameters(RBPN(config)),
            "GFLOP/frame": generator_flops(config, LR_HEIGHT, LR_WIDTH) / 1e9,
            "network s": net,
            "flow s": flow,
            "frames/s": 1.0 / (net + flow),
        })
    notes = (f"LR {LR_WIDTH}x{LR_HEIGHT} -> x4, bf16 channels-last fast path, coarse2fine flow batched per frame, "
             f"{torch.get_num_threads()} threads; load average {load_at_start:.1f} at the start, "
             f"{os.getloadavg()[0]:.1f} at the end (2 cores).")
    write_result("compact_sizes", rows, list(rows[0]), notes)


if __name__ == "__main__":
    main()
