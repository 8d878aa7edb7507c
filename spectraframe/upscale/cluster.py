"""`upscale --cluster ray[:ADDRESS]`: the segments of one or many inputs upscaled by Ray actors.

The driver (the machine running the command) takes the (input, output) jobs of `batch.plan_jobs` and plans each
input exactly as a single-machine run does (`Upscaler.plan`, the same output checks, lock and work folder), then
decodes it once in a thread for the scene cuts, timestamps and key frames, queuing each missing segment as soon
as that scan has passed the frames the segment needs. Each actor loads the model once and, per segment, decodes
the frames the segment's windows need (seeking to the key frame before them), upscales them with the same code
as a single-machine run (`Upscaler.upscale_frames`) and encodes them with the same segment encoder into the
output's work folder. The driver muxes an input as soon as its last segment is in (`SegmentedVideoSink.finish`,
audio, subtitles and container tags included). Inputs, outputs and weights must therefore be on a path every
node sees (a shared file system mounted at the same path). A trimmed section (`--start`/`--duration`) is refused.

Faults: a segment whose actor dies is queued again and taken by another actor (a fresh one replaces the
dead), up to `SEGMENT_ATTEMPTS` times; finished segments are files in the work folder, so a driver that dies
is continued by rerunning the command with --resume.
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import os
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from spectraframe.errors import SpectraFrameError
from spectraframe.io.video import EncoderSettings, FrameIndex

log = logging.getLogger(__name__)

# A segment is tried on this many actors before its input is given up (a segment that kills every actor it
# runs on, e.g. by running out of memory, would otherwise loop forever).
SEGMENT_ATTEMPTS = 3
# Segments queued on each actor: the next one starts while the driver handles the finished one.
SEGMENTS_PER_ACTOR = 2
# The driver looks this often (seconds) for segments a scan has passed and for the frames the actors finished.
POLL_S = 0.25
INSTALL_HINT = "pip install 'spectraframe[cluster]' (or pip install ray)"


def first_line(exc: BaseException | None) -> str:
    """The first line of an exception's message (Ray's carry tracebacks and colour codes)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc or "")).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def import_ray():
    """Ray, or the one sentence saying how to get it."""
    try:
        import ray
    except ImportError as exc:
        raise SpectraFrameError(f"--cluster ray needs Ray, which is not installed here: {INSTALL_HINT}") from exc
    return ray


def parse_cluster(spec: str) -> str | None:
    """`ray` -> None (Ray's default: RAY_ADDRESS, else the cluster `ray start` began on this machine, else a new
    local one), `ray:ADDRESS` -> ADDRESS (`auto`, `HOST:PORT`, `ray://HOST:PORT`)."""
    engine, _, address = spec.partition(":")
    if engine != "ray" or (spec.startswith("ray:") and not address):
        raise SpectraFrameError(f"--cluster must be ray or ray:ADDRESS (such as ray:auto or ray:10.0.0.5:6379), "
                                f"got {spec!r}")
    return address or None


def refuse_trim(trim) -> None:
    """The actors decode whole inputs' frames by index: a section (`trim.Trim`) is a single-machine run's."""
    if trim is not None:
        raise SpectraFrameError("--cluster upscales whole inputs: leave out --start/--duration, or upscale the "
                                "section without --cluster")


@dataclass(frozen=True)
class ClusterSettings:
    address: str | None = None  # None: RAY_ADDRESS, else the one `ray start` began here, else a new local one
    workers: int | None = None  # None: as many as the cluster's CPUs (or GPUs) hold
    worker_cpus: float = 1.0  # CPU threads of each actor
    worker_gpus: float | None = None  # None: 1 on a cluster with GPUs (unless --device cpu), else 0


@dataclass(frozen=True)
class UpscalerRecipe:
    """How each actor builds its Upscaler: the options, and for `--model M --strength S` the blend."""

    options: object  # UpscaleOptions (kept untyped: this module loads without torch)
    blend: tuple[str, float] | None = None  # (MODEL, STRENGTH)

    def build(self):
        from spectraframe.upscale.pipeline import make_upscaler

        return make_upscaler(self.options, self.blend)


@dataclass
class Failures:
    """The inputs that failed, as `batch.run_jobs` has them: with several inputs each is logged and summed up as it
    happens (`batch.failure`); a single input's error is kept, to be the command's."""

    many: bool
    passed: list = field(default_factory=list)  # batch.Passed
    error: Exception | None = None

    def add(self, path: Path, exc: Exception) -> None:
        from spectraframe.upscale.batch import failure

        if self.many:
            self.passed.append(failure(path, exc))
        else:
            self.error = self.error or exc


# --- what the driver hands an actor ----------------------------------------------------------------


@dataclass(frozen=True)
class SegmentTask:
    job: int  # position of the input in the run
    segment: int
    input: Path
    frame_paths: tuple[Path, ...] | None  # frame folders: the files of `span`; None for a video
    targets: range  # the frames this segment holds
    span: range  # the frames decoded for them (their neighbours, and the look-ahead of the scene decisions)
    pts: tuple[int, ...]  # timestamps of the span's frames
    cuts: frozenset[int]  # frames of the span that start a scene
    tile: int | None
    tile_overlap: int
    size: tuple[int, int]
    settings: EncoderSettings
    format_name: str
    packets: Path  # the segment's file in the output's work folder
    index: FrameIndex | None  # videos: the part of the scan that seeks to the span (None: decode from frame 0)
    attempt: int = 1

    @property
    def key(self) -> tuple[int, int, int]:
        return self.job, self.segment, self.attempt


@dataclass(frozen=True)
class SegmentReport:
    job: int
    segment: int
    frames: int
    seconds: float
    worker: str
    extradata: str  # hex of the encoder headers: the driver checks all segments agree


def read_span(task: SegmentTask) -> Iterator:
    """The LR frames of `task.span` as (H, W, 3) uint8 RGB, decoded from the key frame before them."""
    from spectraframe.io.images import read_image
    from spectraframe.io.video import read_video_window

    if task.frame_paths is not None:
        yield from (read_image(path) for path in task.frame_paths)
        return
    frames = read_video_window(task.input, task.span.start, task.span.stop - 1, task.index)
    if len(frames) != len(task.span):
        raise SpectraFrameError(f"{task.input}: frames {task.span.start}-{task.span.stop - 1} decoded to "
                                f"{len(frames)} frames, {len(task.span)} expected (has the file changed?)")
    yield from frames


class ProgressCounter:
    """A Ray actor each worker tells of every frame it finishes, so that the driver's bar moves a frame at a time;
    counted by segment attempt, so that a lost segment's frames can be taken back."""

    def __init__(self):
        self.frames: dict[tuple[int, int, int], int] = {}

    def add(self, key: tuple[int, int, int]) -> None:
        self.frames[key] = self.frames.get(key, 0) + 1

    def take(self) -> dict[tuple[int, int, int], int]:
        frames, self.frames = self.frames, {}
        return frames


class SegmentWorker:
    """One Ray actor: the model loaded once, then segments upscaled and encoded one after the other."""

    def __init__(self, recipe: UpscalerRecipe, threads: int | None, counter=None):
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.name = f"{socket.gethostname()}-{os.getpid()}"
        self.counter = counter  # a ProgressCounter actor, or None
        self.start_error: Exception | None = None
        try:
            self.upscaler = recipe.build()
        except Exception as exc:  # raised by describe(): Ray keeps a task's exception, not a constructor's
            self.start_error = exc

    def describe(self) -> str:
        if self.start_error is not None:
            raise self.start_error
        return f"{self.name} ({self.upscaler.device}, {self.upscaler.describe()})"

    def encode(self, task: SegmentTask) -> SegmentReport:
        from spectraframe.io.tensors import to_tensor
        from spectraframe.upscale.output_size import fit_frame
        from spectraframe.upscale.sinks import SegmentEncoder

        started = time.perf_counter()
        span = task.span
        frames = ((i, to_tensor(image), task.pts[i - span.start], i in task.cuts)
                  for i, image in enumerate(read_span(task), span.start))
        partial = task.packets.with_name(f"{task.packets.stem}.{self.name}.partial")
        encoder = SegmentEncoder(task.packets, task.settings, task.format_name, partial=partial)

        def write(t: int, image, pts: int) -> None:
            encoder.write(fit_frame(image, task.size), pts)
            if self.counter is not None:
                self.counter.add.remote(task.key)

        try:
            decoded = self.upscaler.upscale_frames(frames, task.targets, task.tile, task.tile_overlap, write)
            if decoded != span.stop:
                raise SpectraFrameError(f"{task.input}: expected frames up to {span.stop - 1}, decoded {decoded}")
        except BaseException:
            encoder.abort()
            raise
        encoder.close()
        return SegmentReport(task.job, task.segment, len(task.targets), time.perf_counter() - started, self.name,
                             encoder.extradata)


# --- the driver's side of one input -------------------------------------------------------------


class InputScan:
    """The driver's pass over one input, in a thread, as a single-machine run decodes it: every frame's timestamp,
    the scene cuts (each decision depends on all the frames before) and, for a video, the decoder's timestamps
    and key frames to seek by. Segments are handed out as soon as it has passed the frames they need."""

    def __init__(self, plan, scene_detect: bool):
        self.pts: list[int] = []
        self.decoded_pts: list[int | None] = []
        self.keyframes: list[int] = []
        self.cuts: list[int] = []  # ascending
        self.count = 0  # frames scanned: the lists hold at least this many
        self.done = False
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._scan, args=(plan, scene_detect), name="spectraframe-scan",
                                        daemon=True)
        self._thread.start()

    def _scan(self, plan, scene_detect: bool) -> None:
        from spectraframe.upscale.pipeline import frames_with_cuts

        info = plan.source.info
        try:
            with contextlib.closing(frames_with_cuts(plan.source, scene_detect)) as frames:
                for frame, cut in frames:
                    if self._stop.is_set():
                        return
                    self.pts.append(frame.pts)
                    self.decoded_pts.append(frame.decoded_pts)
                    if frame.key_frame:
                        self.keyframes.append(frame.index)
                    if cut:
                        self.cuts.append(frame.index)
                    self.count = frame.index + 1
            if self.count != info.frame_count:
                raise SpectraFrameError(f"{info.path}: expected {info.frame_count} frames, decoded {self.count}")
        except BaseException as exc:  # the job fails with it, as a single-machine run would
            self.error = exc
        finally:
            self.done = True

    def wait(self) -> None:
        self._thread.join()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class ClusterJob:
    """One input being upscaled on the cluster: its plan, its output's sink, its scan and the segments still out."""

    number: int
    plan: object  # UpscalePlan
    sink: object  # SegmentedVideoSink
    upscaler: object  # the driver's Upscaler (plans the spans)
    scan: InputScan
    unreleased: deque[int]  # missing segments not handed out yet, in order
    started: float = field(default_factory=time.perf_counter)
    remaining: set[int] = field(default_factory=set)
    in_flight: int = 0
    error: BaseException | None = None
    resumed_from: int = 0

    @property
    def open(self) -> bool:
        return self.error is None and bool(self.remaining)

    @property
    def settled(self) -> bool:
        """Nothing more will come: every segment is in, or it failed and its last segments are back."""
        return self.in_flight == 0 and not self.open

    def release(self) -> list[SegmentTask]:
        """The tasks of the segments the scan has passed (and the scan's error, once it has one)."""
        scan, info = self.scan, self.plan.source.info
        if scan.error is not None and self.error is None:
            self.error = scan.error
        tasks = []
        while self.error is None and self.unreleased:
            targets = self.sink.segment_frames_of(self.unreleased[0])
            span = self.upscaler.span_to_decode(targets, info.frame_count)
            if scan.count < span.stop:
                break
            tasks.append(self.task(self.unreleased.popleft(), targets, span))
        return tasks

    def task(self, segment: int, targets: range, span: range) -> SegmentTask:
        from spectraframe.io.video import seek_index

        plan, scan = self.plan, self.scan
        video = plan.source.info.kind == "video"
        # The actors' working folder is not ours: every path they get is absolute.
        paths = None if video else tuple(p.absolute() for p in plan.source.frame_paths[span.start:span.stop])
        index = seek_index(scan.decoded_pts, scan.keyframes, span.start, span.stop - 1) if video else None
        cuts = scan.cuts[bisect.bisect_left(scan.cuts, span.start):bisect.bisect_left(scan.cuts, span.stop)]
        return SegmentTask(self.number, segment, plan.source.path.absolute(), paths, targets, span,
                           tuple(scan.pts[span.start:span.stop]), frozenset(cuts), plan.tile, plan.tile_overlap,
                           plan.size, plan.settings, plan.format_name, self.sink.segment_path(segment).absolute(),
                           index)


def prepare_job(number: int, upscaler, input_path: Path, output: Path | None,
                stack: contextlib.ExitStack) -> ClusterJob:
    """Plan one input, take its output's lock (held until the run ends), open its work folder, list its missing
    segments and start scanning it."""
    from spectraframe.upscale.sinks import SegmentedVideoSink, output_lock

    plan = upscaler.plan(input_path, output)
    if plan.settings is None:
        raise SpectraFrameError(f"--cluster writes videos: give {plan.output} a video extension such as .mp4 "
                                "(frame folders are written by runs without --cluster)")
    stack.enter_context(output_lock(plan.output))
    sink = upscaler.open_sink(plan)
    assert isinstance(sink, SegmentedVideoSink)
    missing = sink.missing_segments()
    if len(missing) < sink.segment_count:
        log.info("resuming %s: %d of %d segments are done", plan.output, sink.segment_count - len(missing),
                 sink.segment_count)
    scan = InputScan(plan, upscaler.options.scene_detect)
    stack.callback(scan.stop)
    return ClusterJob(number, plan, sink, upscaler, scan, deque(missing), remaining=set(missing),
                      resumed_from=sink.resume_from)


# --- the actors ----------------------------------------------------------------------------------


class ActorPool:
    """The actors, each with up to SEGMENTS_PER_ACTOR segments in flight; a dead one is replaced by a fresh one
    (on another node if its node is gone). An actor that fails to start is not retried: its cause is reported."""

    def __init__(self, ray, recipe: UpscalerRecipe, count: int, cpus: float, gpus: float):
        self.ray = ray
        self.recipe = recipe
        self.threads = max(1, int(cpus))
        self.actor_class = ray.remote(SegmentWorker).options(num_cpus=cpus, num_gpus=gpus, max_restarts=0)
        self.counter = ray.remote(ProgressCounter).options(num_cpus=0).remote()
        self.actors: list = [None] * count
        self.load = [0] * count
        self.starting: dict = {}  # describe() call of an actor not up yet -> its slot
        self.up: set[int] = set()
        self.names: dict[int, str] = {}
        self.start_error: BaseException | None = None
        for slot in range(count):
            self._start(slot)

    def _start(self, slot: int) -> None:
        actor = self.actor_class.remote(self.recipe, self.threads, self.counter)
        self.actors[slot], self.load[slot] = actor, 0
        self.starting[actor.describe.remote()] = slot

    def started(self, ref) -> None:
        """An actor's describe() came back: it is up, or it could not start."""
        slot = self.starting.pop(ref)
        try:
            description = self.ray.get(ref)
        except Exception as exc:  # the weights or the package missing on its node: nothing a retry would fix
            self.start_error = getattr(exc, "cause", None) or exc
            log.error("a Ray actor could not start: %s", first_line(self.start_error))
            return
        self.up.add(slot)
        self.names[slot] = description.split(" ", 1)[0]
        log.info("worker %s", description)

    def free(self) -> Iterator[int]:
        for slot in sorted(self.up):
            while self.load[slot] < SEGMENTS_PER_ACTOR:
                yield slot

    def lost(self, slot: int, actor) -> None:
        """`actor` (of `slot`) died: start a fresh one there, once however many of its segments report it."""
        if self.actors[slot] is actor:
            log.warning("worker %s is gone; starting another", self.names.get(slot, slot))
            self.up.discard(slot)
            with contextlib.suppress(Exception):
                self.ray.kill(actor, no_restart=True)
            self._start(slot)

    def check_alive(self) -> None:
        if not self.up and not self.starting:
            if isinstance(self.start_error, SpectraFrameError):
                raise SpectraFrameError(f"no Ray actor could start: {self.start_error}")
            raise SpectraFrameError(f"no Ray actor could start ({first_line(self.start_error)}); is the same "
                                    "spectraframe installed on every node?")

    def shutdown(self) -> None:
        for actor in [*self.actors, self.counter]:
            with contextlib.suppress(Exception):
                self.ray.kill(actor, no_restart=True)


def actor_resources(ray, settings: ClusterSettings, device: str, segments: int | None) -> tuple[int, float, float]:
    """(actors, CPUs each, GPUs each): by default one GPU each on a cluster with GPUs, else `worker_cpus` each,
    as many as the cluster holds (no more than the segments of a single input)."""
    resources = ray.cluster_resources()
    gpus = settings.worker_gpus
    if gpus is None:
        gpus = 1.0 if resources.get("GPU", 0) >= 1 and device != "cpu" else 0.0
    cpus = settings.worker_cpus
    fits = int(resources.get("GPU", 0) // gpus) if gpus else int(resources.get("CPU", 1) // cpus)
    count = settings.workers or max(1, fits)
    if segments is not None:
        count = max(1, min(count, segments))
    if count > fits:
        log.warning("%d actors asked for, the cluster holds %d now (%s): the others start when it grows",
                    count, fits, ", ".join(f"{k} {v:g}" for k, v in sorted(resources.items()) if k in ("CPU", "GPU")))
    return count, cpus, gpus


# --- the run -------------------------------------------------------------------------------------


class ClusterRun:
    """Segments of all inputs in one queue, handed to the actors as they free up; each input muxed (or given up)
    as soon as its segments are settled."""

    def __init__(self, ray, pool: ActorPool, bar, failures: Failures):
        self.ray, self.pool, self.bar = ray, pool, bar
        self.queue: deque[SegmentTask] = deque()
        self.in_flight: dict = {}  # encode() call -> (slot, actor, task)
        self.jobs: dict[int, ClusterJob] = {}
        self.results: list = []
        self.failures = failures
        self.counted: dict[tuple[int, int, int], int] = {}  # frames on the bar of each segment attempt out
        self.closed: set[tuple[int, int, int]] = set()  # attempts done or lost: late counts are not added
        self.polled = 0.0

    def add(self, job: ClusterJob) -> None:
        self.jobs[job.number] = job
        sink = job.sink
        self.bar.total = (self.bar.total or 0) + sink.frame_count
        self.bar.update(sink.frame_count - sum(len(sink.segment_frames_of(k)) for k in job.remaining))

    def release(self) -> None:
        """Queue the segments the scans have passed; settle the inputs that are done or failed."""
        for job in list(self.jobs.values()):
            self.queue.extend(job.release())
            if job.settled:
                self.settle(job)

    def scanning(self) -> bool:
        return any(not job.scan.done for job in self.jobs.values())

    def submit(self) -> None:
        for slot in self.pool.free():
            while self.queue and not (self.queue[0].job in self.jobs and self.jobs[self.queue[0].job].open):
                self.queue.popleft()  # its input failed
            if not self.queue:
                return
            task = self.queue.popleft()
            job, actor = self.jobs[task.job], self.pool.actors[slot]
            self.in_flight[actor.encode.remote(task)] = (slot, actor, task)
            self.pool.load[slot] += 1
            job.in_flight += 1

    def progress(self) -> None:
        """Move the bar by the frames the actors finished since the last look (at most every POLL_S)."""
        if time.monotonic() - self.polled < POLL_S:
            return
        self.polled = time.monotonic()
        try:
            frames = self.ray.get(self.pool.counter.take.remote())
        except self.ray.exceptions.RayError:  # the counter's node is gone: the bar moves by segments
            return
        for key, count in frames.items():
            if key not in self.closed:
                self.counted[key] = self.counted.get(key, 0) + count
                self.bar.update(count)

    def closed_attempt(self, task: SegmentTask, frames: int) -> None:
        """A segment attempt is back: the bar shows its `frames` (0 when lost), not what was counted of it."""
        self.closed.add(task.key)
        self.bar.update(frames - self.counted.pop(task.key, 0))

    def wait(self) -> None:
        """Take the next call that comes back: an actor up, or a segment done, failed or orphaned; or, after
        POLL_S, nothing (a scan may have passed more frames, the actors finished more)."""
        self.pool.check_alive()
        self.progress()
        waiting = [*self.in_flight, *self.pool.starting]
        if not waiting:  # only a scan can bring news
            time.sleep(POLL_S)
            return
        ready, _ = self.ray.wait(waiting, num_returns=1, timeout=POLL_S)
        if not ready:
            return
        ref = ready[0]
        if ref in self.pool.starting:
            self.pool.started(ref)
            return
        slot, actor, task = self.in_flight.pop(ref)
        self.pool.load[slot] -= 1
        job = self.jobs[task.job]
        job.in_flight -= 1
        self.collect(ref, slot, actor, task, job)
        if job.settled:
            self.settle(job)

    def collect(self, ref, slot: int, actor, task: SegmentTask, job: ClusterJob) -> None:
        exceptions = self.ray.exceptions
        try:
            report: SegmentReport = self.ray.get(ref)
        except (exceptions.RayActorError, exceptions.WorkerCrashedError) as exc:
            self.closed_attempt(task, 0)
            self.pool.lost(slot, actor)
            if task.attempt >= SEGMENT_ATTEMPTS:
                job.error = SpectraFrameError(
                    f"segment {task.segment} of {task.input} (frames {task.targets.start}-{task.targets.stop - 1}) "
                    f"lost its actor {task.attempt} times, the last time: {first_line(exc)}")
            elif job.open:
                log.warning("segment %d of %s lost its actor; retrying it on another (attempt %d of %d)",
                            task.segment, task.input, task.attempt + 1, SEGMENT_ATTEMPTS)
                self.queue.appendleft(replace(task, attempt=task.attempt + 1))
            return
        except exceptions.RayTaskError as exc:  # raised by our code on the actor: the input's error
            self.closed_attempt(task, 0)
            job.error = job.error or exc.cause or exc
            return
        self.closed_attempt(task, report.frames)
        job.sink.check_extradata(report.extradata)
        job.remaining.discard(task.segment)
        log.info("%s: segment %d of %s, %d frames in %.1f s (%.2f frames/s)", report.worker, report.segment,
                 task.input.name, report.frames, report.seconds, report.frames / max(report.seconds, 1e-9))

    def settle(self, job: ClusterJob) -> None:
        """Mux a complete input, or give up a failed one (keeping what --resume can use)."""
        from spectraframe.upscale.pipeline import fill_guarded

        def finish() -> list[str]:
            if job.error is not None:
                raise job.error
            return job.sink.finish()

        del self.jobs[job.number]
        try:
            job.plan.notes += fill_guarded(job.sink, finish)
        except Exception as exc:  # not Ctrl-C: the other inputs still run
            self.failures.add(job.plan.source.path, exc)
            return
        self.results.append(job.plan.result(time.perf_counter() - job.started, job.resumed_from))

    def interrupted(self, exc: BaseException) -> None:
        """The driver stops (Ctrl-C, a bug): every unfinished input keeps its finished segments for --resume."""
        for job in list(self.jobs.values()):
            job.error, job.in_flight, job.remaining = exc, 0, set()
            with contextlib.suppress(BaseException):
                self.settle(job)


def init_ray(ray, address: str | None) -> None:
    """Connect to the cluster at `address`; without one, Ray's own choice: RAY_ADDRESS, else the cluster `ray start`
    began on this machine, else a new local one."""
    where = address or os.environ.get("RAY_ADDRESS")
    try:
        if where is None:
            ray.init(include_dashboard=False, logging_level=logging.WARNING)  # a new cluster gets no dashboard
        else:
            ray.init(address=address, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as exc:  # no cluster there, or another Ray version
        raise SpectraFrameError(f"cannot use the Ray cluster at {where or 'this machine'}: {first_line(exc)}") from exc


def prepared_jobs(upscaler, jobs: list, stack: contextlib.ExitStack, failures: Failures) -> Iterator[ClusterJob]:
    """Each input planned and its scan started when the queue needs its segments; an input that cannot be planned
    is a failure of its own, the others go on. `jobs`: the `batch.UpscaleJob`s of the plan."""
    for number, job in enumerate(jobs):
        try:
            yield prepare_job(number, upscaler, job.input, job.output, stack)
        except Exception as exc:  # not Ctrl-C: the other inputs still run
            failures.add(job.input, exc)


def upscale_on_cluster(recipe: UpscalerRecipe, plan, settings: ClusterSettings, *, driver=None):
    """Upscale the jobs of `plan` (`batch.plan_jobs`) on a Ray cluster; returns the `batch.BatchReport`. As
    `batch.run_jobs`: with several inputs an error fails that input only, a single input's error is raised.
    `driver`: the Upscaler of `recipe` already loaded here (it plans each input; the actors upscale). Uses the Ray
    session already initialised in this process, else connects to (or starts) one for the run."""
    from spectraframe.upscale.batch import BatchReport

    refuse_trim(recipe.options.trim)
    ray = import_ray()
    if recipe.options.weights is not None:
        recipe = replace(recipe, options=replace(recipe.options, weights=Path(recipe.options.weights).absolute()))
    started_here = not ray.is_initialized()
    if started_here:
        init_ray(ray, settings.address)
    failures = Failures(plan.many)
    try:
        results = _run(ray, recipe, plan.jobs, settings, driver or recipe.build(), failures)
    finally:
        if started_here:
            ray.shutdown()
    if failures.error is not None:
        raise failures.error
    return BatchReport(results, list(plan.skipped), [*plan.refused, *failures.passed])


def _run(ray, recipe: UpscalerRecipe, jobs: list, settings: ClusterSettings, driver, failures: Failures) -> list:
    """The UpscaleResults of the finished jobs (the others go to `failures`): actors started once the first input
    is planned."""
    from tqdm import tqdm

    pool = None
    try:
        with contextlib.ExitStack() as stack, tqdm(total=0, unit="frame", desc="cluster",
                                                   disable=not recipe.options.progress, dynamic_ncols=True) as bar:
            pending = prepared_jobs(driver, jobs, stack, failures)
            first = next(pending, None)
            if first is None:  # no input could be planned: no actor is worth starting
                return []
            single = len(first.remaining) if len(jobs) == 1 else None
            count, cpus, gpus = actor_resources(ray, settings, recipe.options.device, single)
            pool = ActorPool(ray, recipe, count, cpus, gpus)
            run = ClusterRun(ray, pool, bar, failures)
            try:
                _drive(run, pool, [first], pending)
            except BaseException as exc:
                run.interrupted(exc)
                raise
            return run.results
    finally:
        if pool is not None:
            pool.shutdown()


def _drive(run: ClusterRun, pool: ActorPool, ready: list[ClusterJob], pending: Iterator[ClusterJob]) -> None:
    """Keep every actor busy: inputs are prepared while the queue is short, until all are settled."""
    more = True
    for job in ready:
        run.add(job)
    while True:
        # The next input is prepared when the queue runs short and no scan is still going.
        while more and len(run.queue) < len(pool.actors) * SEGMENTS_PER_ACTOR and not run.scanning():
            job = next(pending, None)
            if job is None:
                more = False
            else:
                run.add(job)
            run.release()
        run.release()
        run.submit()
        if not run.jobs and not more:
            return
        run.wait()


def cluster_settings(spec: str, workers: int | None = None, worker_cpus: float = 1.0,
                     worker_gpus: float | None = None, *, trim=None) -> ClusterSettings:
    """The --cluster options of `spectraframe upscale` (numbers checked by their parsers), Ray found, before
    anything loads."""
    address = parse_cluster(spec)
    refuse_trim(trim)
    import_ray()
    return ClusterSettings(address, workers, worker_cpus, worker_gpus)
