"""Many inputs for one `upscale`: what the command line names (files, frame folders, folders of videos, glob
patterns) turned into a plan of (input, output) jobs, before any model loads; then the jobs run one after another,
a failed one not stopping the rest, and a summary says what was done, skipped and failed, and why.

The plan is plain data (`BatchPlan.jobs`): any executor can take its jobs (`run_jobs` runs them in this process).
Our own outputs are recognised (`provenance.made_by_us`) and skipped, so a folder upscaled twice is not upscaled
again into its own results, and an input whose output is already there is skipped rather than refused.
"""

from __future__ import annotations

import glob
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from spectraframe.errors import SpectraFrameError, did_you_mean
from spectraframe.io.formats import VIDEO_SUFFIXES
from spectraframe.io.images import IMAGE_SUFFIXES, natural_key
from spectraframe.paths import Output, check_outputs, check_path_length
from spectraframe.upscale.provenance import default_output, made_by_us, names_a_video

log = logging.getLogger(__name__)

_GLOB_CHARACTERS = set("*?[")


@dataclass(frozen=True)
class UpscaleJob:
    input: Path
    output: Path


@dataclass(frozen=True)
class Passed:
    """An input that is not upscaled, and the reason in words."""

    input: Path
    reason: str


@dataclass
class BatchPlan:
    jobs: list[UpscaleJob] = field(default_factory=list)
    skipped: list[Passed] = field(default_factory=list)  # our own outputs, inputs already upscaled
    refused: list[Passed] = field(default_factory=list)  # outputs that may not be written (counted as failed)
    many: bool = False  # a folder, a pattern or several paths: a summary is due, -o is a folder


@dataclass
class BatchReport:
    done: list = field(default_factory=list)  # UpscaleResult of each finished job
    skipped: list[Passed] = field(default_factory=list)
    failed: list[Passed] = field(default_factory=list)
    # After Ctrl-C: the input it stopped, and those not started.
    interrupted: Path | None = None
    not_started: list[Path] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The summary: a count, then one line per input."""
        stopped = [self.interrupted] if self.interrupted else []
        total = len(self.done) + len(self.skipped) + len(self.failed) + len(stopped) + len(self.not_started)
        counts = f"{len(self.skipped)} skipped, {len(self.failed)} failed"
        if stopped:
            counts += f", 1 interrupted, {len(self.not_started)} not started"
        lines = [f"upscaled {len(self.done)} of {total} inputs ({counts}):",
                 *(f"  done     {r.summary()}" for r in self.done),
                 *(f"  skipped  {p.input}: {p.reason}" for p in self.skipped),
                 *(f"  FAILED   {p.input}: {p.reason}" for p in self.failed),
                 *(f"  STOPPED  {path}: interrupted" for path in stopped),
                 *(f"  not run  {path}" for path in self.not_started)]
        if stopped:
            lines.append("to go on, run the command again with --resume: finished outputs are skipped, and the "
                         "interrupted input continues from the segments it kept")
        return lines


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C during a batch of several inputs, with the report of what was done and what was not."""

    def __init__(self, report: BatchReport):
        super().__init__()
        self.report = report


# --- what the command line names ------------------------------------------------------------------------------


def _holds_images(folder: Path) -> bool:
    return any(p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() for p in folder.iterdir())


def _is_video(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES


def _folder_inputs(folder: Path) -> list[Path]:
    """The videos and frame folders directly inside a folder of inputs (hidden names left out: our work files)."""
    entries = sorted((p for p in folder.iterdir() if not p.name.startswith(".")), key=lambda p: natural_key(p.name))
    found = [p for p in entries if _is_video(p) or (p.is_dir() and _holds_images(p))]
    if not found:
        raise SpectraFrameError(f"{folder} holds no videos ({', '.join(VIDEO_SUFFIXES)}), no frames and no folders "
                                "of frames: nothing to upscale there")
    return found


def _missing(value: str) -> SpectraFrameError:
    path = Path(value)
    parent = path.parent if path.parent.is_dir() else None
    hint = did_you_mean(path.name, [p.name for p in parent.iterdir()]) if parent is not None else ""
    return SpectraFrameError(f"input not found: {value}{hint}")


def expand_input(value: str) -> tuple[list[Path], bool]:
    """The inputs one command-line value names, and whether it named several (a folder of inputs or a pattern): a
    video file or a folder holding frames is one input; a folder holding videos or frame folders, each of them."""
    path = Path(value)
    check_path_length(path, "input")
    if path.is_dir():
        return ([path], False) if _holds_images(path) else (_folder_inputs(path), True)
    if path.exists():
        return [path], False
    if _GLOB_CHARACTERS & set(value):
        matches = sorted(glob.glob(value), key=natural_key)
        matches = [Path(m) for m in matches if _is_video(Path(m)) or (Path(m).is_dir() and _holds_images(Path(m)))]
        if not matches:
            raise SpectraFrameError(f"no video or frame folder matches {value}")
        return matches, True
    raise _missing(value)


def collect_inputs(values: Sequence[str]) -> tuple[list[Path], bool]:
    """Every input the values name, each once, in the order named; and whether there are several. All values are
    checked first: a mistyped path is reported before anything runs."""
    inputs: list[Path] = []
    many = len(values) > 1
    for value in values:
        paths, several = expand_input(value)
        many = many or several
        inputs += [p for p in paths if p.resolve() not in {q.resolve() for q in inputs}]
    return inputs, many


# --- the plan ------------------------------------------------------------------------------------------------


def plan_jobs(values: Sequence[str], tag: str, output: str | Path | None = None, *, overwrite: bool = False,
              weights: Path | None = None) -> BatchPlan:
    """(input, output) jobs for the command line's INPUT values: default names carry `tag` (`provenance.name_tag`),
    in the folder `output` when several inputs are named. Raises for what stops the whole command (a path that
    does not exist, -o a file for several inputs; for a single input, an output that may not be written)."""
    inputs, many = collect_inputs(values)
    folder = Path(output) if output is not None and many else None
    if folder is not None and names_a_video(folder):
        raise SpectraFrameError(f"with several inputs, -o must be a folder (each output goes into it), got {folder}")
    plan = BatchPlan(many=many)
    for path in inputs:
        ours = made_by_us(path)
        if ours is not None:
            plan.skipped.append(Passed(path, f"{ours}: not upscaled again"))
            continue
        target = Path(output) if output is not None and not many else default_output(path, tag, folder)
        if many and not overwrite and (target.exists() or target.is_symlink()):
            plan.skipped.append(Passed(path, f"{target} exists already (pass --overwrite to make it again)"))
            continue
        plan.jobs.append(UpscaleJob(path, target))
    _check_job_outputs(plan, weights, overwrite)
    return plan


def _check_job_outputs(plan: BatchPlan, weights: Path | None, overwrite: bool) -> None:
    """Refuse outputs that may not be written (`paths.check_outputs`), and a second job onto one output; for a
    single input the refusal is the command's error."""
    kept: list[UpscaleJob] = []
    for job in plan.jobs:
        kind = "file" if names_a_video(job.output) else "folder"
        try:
            check_outputs([Output(job.output, kind)], [job.input, weights], overwrite=overwrite)
            clash = next((k for k in kept if k.output.resolve() == job.output.resolve()), None)
            if clash is not None:
                raise SpectraFrameError(f"{job.output} is also the output of {clash.input}: upscale one of them "
                                        "alone with -o NAME")
        except SpectraFrameError as exc:
            if not plan.many:
                raise
            plan.refused.append(Passed(job.input, str(exc)))
            continue
        kept.append(job)
    plan.jobs = kept


# --- running it ----------------------------------------------------------------------------------------------


def run_jobs(plan: BatchPlan, run: Callable[[UpscaleJob], object]) -> BatchReport:
    """Run each job with `run(job)` (returns an UpscaleResult), in order. With several inputs an error fails that
    job only (logged and reported) and Ctrl-C stops the batch (BatchInterrupted, with the report so far); a single
    input's error is raised."""
    report = BatchReport(skipped=list(plan.skipped), failed=list(plan.refused))
    for passed in plan.skipped:
        log.info("skipped %s: %s", passed.input, passed.reason)
    for number, job in enumerate(plan.jobs, 1):
        if plan.many:
            log.info("[%d/%d] %s -> %s", number, len(plan.jobs), job.input, job.output)
        try:
            report.done.append(run(job))
        except KeyboardInterrupt:
            if not plan.many:
                raise
            report.interrupted, report.not_started = job.input, [later.input for later in plan.jobs[number:]]
            raise BatchInterrupted(report) from None
        except Exception as exc:  # the other inputs still run
            if not plan.many:
                raise
            report.failed.append(failure(job.input, exc))
    return report


def failure(path: Path, exc: Exception) -> Passed:
    """A failed input for the summary, logged: its error sentence, or a fault of ours with its traceback."""
    if isinstance(exc, SpectraFrameError):
        log.error("%s", exc)
        return Passed(path, str(exc))
    log.error("%s failed", path, exc_info=exc)  # the summary names it, the log has the traceback
    return Passed(path, f"{type(exc).__name__}: {exc}")
