"""Cluster benchmark: `upscale --cluster ray` with 1 and 2 local actors against single-machine runs, and the
costs that do not shrink with more machines (actor start, the driver's scan and mux, the cost of each segment).

Every run uses the shipped default weights and a user's default options on the first FRAMES frames of
carphone (176x144 -> 704x576). The end-to-end variants alternate in one run (one Ray session of 2 CPUs):

* single, 1 thread / 2 threads: `Upscaler.run` in this process with that many torch threads;
* ray, 1 actor / 2 actors: `upscale_on_cluster` with one-thread actors; the wall time includes starting the
  actors (a process each, torch imported, the model loaded) and the driver's scan of the input.

The per-segment overhead is measured on the actor's own code (`SegmentWorker.encode`, in this process, one
thread) over the same frames cut into segments of SMALL_SEGMENT frames or into one segment: the difference per
extra segment is what each segment costs beyond its frames (a fresh encoder and its flush to an I-frame, the
neighbour frames decoded at both ends). A Ray call's round trip is measured on an idle actor.

Run: `make bench BENCH=cluster` or `python -m benchmarks.cluster [--frames 32] [--repeats 2]`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import SHARED, alternate, write_result

CLIP = SHARED / "data" / "videos" / "carphone_pristine.mp4"
SMALL_SEGMENT = 2  # many segments, so that their cost stands out of the noise


@contextlib.contextmanager
def torch_threads(count: int):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def end_to_end(source: Path, folder: Path, frames: int, segment_frames: int, repeats: int) -> tuple[list, dict]:
    """Frames/s of the four variants, alternated; and whether the 2-actor output equals the 1-thread one."""
    from spectraframe.upscale.batch import BatchPlan, UpscaleJob
    from spectraframe.upscale.cluster import ClusterSettings, UpscalerRecipe, upscale_on_cluster
    from spectraframe.upscale.pipeline import UpscaleOptions, Upscaler

    options = UpscaleOptions(progress=False, overwrite=True, segment_frames=segment_frames)
    recipe = UpscalerRecipe(options)

    def single(threads: int):
        def run():
            with torch_threads(threads):
                Upscaler(options).run(source, folder / f"single_{threads}.mp4")
        return run

    def cluster(actors: int):
        def run():
            plan = BatchPlan([UpscaleJob(source, folder / f"ray_{actors}.mp4")])
            report = upscale_on_cluster(recipe, plan, ClusterSettings(workers=actors))
            assert not report.failed, report.failed
        return run

    variants = {"single, 1 thread": single(1), "single, 2 threads": single(2), "ray, 1 actor (1 thread)": cluster(1),
                "ray, 2 actors (1 thread each)": cluster(2)}
    seconds = alternate(variants, repeats=repeats)
    base = seconds["single, 1 thread"]
    rows = [{"variant": name, "frames": frames, "seconds": s, "frames_per_s": frames / s,
             "vs_single_1_thread": base / s} for name, s in seconds.items()]
    same = {"2 actors == single 1 thread (packets)": packets(folder / "ray_2.mp4") == packets(folder / "single_1.mp4"),
            "1 actor == single 1 thread (packets)": packets(folder / "ray_1.mp4") == packets(folder / "single_1.mp4")}
    return rows, same


def packets(path: Path) -> list:
    import av

    with av.open(str(path)) as container:
        return [(p.stream.type, p.pts, p.dts, bytes(p)) for p in container.demux() if p.size]


def segment_overhead(source: Path, folder: Path, frames: int, repeats: int) -> dict:
    """Seconds each extra segment costs on an actor (its code run here with one thread), and the driver's
    scan and mux per frame."""

    from spectraframe.upscale.cluster import SegmentWorker, UpscalerRecipe, prepare_job
    from spectraframe.upscale.pipeline import UpscaleOptions

    def actor_time(segment_frames: int) -> tuple[callable, dict]:
        options = UpscaleOptions(progress=False, overwrite=True, segment_frames=segment_frames)
        worker = SegmentWorker(UpscalerRecipe(options), threads=None)  # one thread while it runs: torch_threads
        timing: dict = {}

        def run():
            with contextlib.ExitStack() as stack, torch_threads(1):
                started = time.perf_counter()
                job = prepare_job(0, worker.upscaler, source, folder / f"segments_{segment_frames}.mp4", stack)
                job.scan.wait()
                timing["scan"] = time.perf_counter() - started
                for task in job.release():
                    job.sink.check_extradata(worker.encode(task).extradata)
                started = time.perf_counter()
                job.sink.finish()
                timing["mux"] = time.perf_counter() - started
        return run, timing

    small, small_timing = actor_time(SMALL_SEGMENT)
    whole, whole_timing = actor_time(frames)
    # CPU time of this process: the other jobs on a shared machine do not count, the decode thread does.
    seconds = alternate({"small": small, "whole": whole}, repeats=repeats, clock=time.process_time)
    extra_segments = -(-frames // SMALL_SEGMENT) - 1
    sizes = {n: (folder / f"segments_{n}.mp4").stat().st_size for n in (SMALL_SEGMENT, frames)}
    return {"per_segment_s": (seconds["small"] - seconds["whole"]) / extra_segments,
            "per_segment_bytes": (sizes[SMALL_SEGMENT] - sizes[frames]) / extra_segments,
            "one_segment_bytes": sizes[frames], "extra_segments": extra_segments,
            "small_segments_s": seconds["small"], "one_segment_s": seconds["whole"],
            "scan_per_frame_s": whole_timing["scan"] / frames, "mux_per_frame_s": whole_timing["mux"] / frames}


def ray_costs(repeats: int) -> dict:
    """An actor's start (process, imports, model load) and a call's round trip once it is up."""
    import ray

    from spectraframe.upscale.cluster import SegmentWorker, UpscalerRecipe
    from spectraframe.upscale.pipeline import UpscaleOptions

    remote = ray.remote(SegmentWorker).options(num_cpus=1)
    starts, trips = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        actor = remote.remote(UpscalerRecipe(UpscaleOptions(progress=False)), 1)
        ray.get(actor.describe.remote())
        starts.append(time.perf_counter() - started)
        for _ in range(20):
            started = time.perf_counter()
            ray.get(actor.describe.remote())
            trips.append(time.perf_counter() - started)
        ray.kill(actor)
    return {"actor_start_s": statistics.median(starts), "call_round_trip_s": statistics.median(trips)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--segment-frames", type=int, default=8, help="of the end-to-end runs")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    import ray

    from benchmarks.upscale import trim

    logging.getLogger("spectraframe").setLevel(logging.ERROR)  # the trimmed clip's frame-rate note, each run
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            source = trim(CLIP, args.frames, folder)
            rows, same = end_to_end(source, folder, args.frames, args.segment_frames, args.repeats)
            overhead = segment_overhead(source, folder, args.frames, args.repeats + 1)
            costs = ray_costs(args.repeats)
    finally:
        ray.shutdown()
    for row in rows:  # what the actors do once up: the run less one actor start (they start side by side)
        if row["variant"].startswith("ray"):
            row["frames_per_s_once_started"] = row["frames"] / (row["seconds"] - costs["actor_start_s"])
    write_result("cluster", rows, ["variant", "frames", "seconds", "frames_per_s", "vs_single_1_thread",
                                   "frames_per_s_once_started"], notes(args, same, overhead, costs))


def notes(args, same: dict, overhead: dict, costs: dict) -> str:
    facts = "; ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in same.items())
    return (
        f"`upscale --cluster ray` on a local Ray cluster of 2 CPUs (this machine, shared with other jobs: compare "
        f"rows, not machines), the first {args.frames} frames of carphone (176x144 -> 704x576), shipped default "
        f"weights, precision auto, segments of {args.segment_frames} frames; the variants alternate, median of "
        f"{args.repeats}. Ray rows include starting the actors and the driver's scan. Output identical: {facts}.\n\n"
        f"Costs that more machines do not divide: actor start (process, imports, model load) "
        f"{costs['actor_start_s']:.2f} s once per actor; a Ray call's round trip {costs['call_round_trip_s'] * 1e3:.2f}"
        f" ms; the driver's scan (decode for scene cuts and key frames) {overhead['scan_per_frame_s'] * 1e3:.2f} ms "
        f"and its mux {overhead['mux_per_frame_s'] * 1e3:.2f} ms per frame. Per-segment overhead on an actor (one "
        f"thread, CPU seconds, {overhead['extra_segments']} extra segments): {overhead['per_segment_s']:.3f} s per "
        f"extra segment ({overhead['small_segments_s']:.2f} s in segments of {SMALL_SEGMENT} frames vs "
        f"{overhead['one_segment_s']:.2f} s in one segment), and {overhead['per_segment_bytes'] / 1024:.1f} KiB more "
        f"output per extra segment (each starts with a key frame; one segment: "
        f"{overhead['one_segment_bytes'] / 1024:.1f} KiB).\n\n"
        "Two actors gain little over one 2-thread process here: both use the same 2 cores (and the 2-thread "
        "torch already keeps them busy), and each actor pays its start and its segments' overheads."
    )


if __name__ == "__main__":
    main()
