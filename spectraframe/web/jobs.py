"""What the web page runs, without the page: a working folder, the size limits, uploads turned into inputs,
one upscale job at a time (through the same `Upscaler` as the CLI), progress, cancel and the comparison.

Nothing here imports Gradio, so it is tested directly; `spectraframe.web.app` only lays out the page.
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from spectraframe.errors import SpectraFrameError
from spectraframe.io.images import IMAGE_SUFFIXES
from spectraframe.io.video import VIDEO_SUFFIXES
from spectraframe.paths import check_path_length, is_ours, mark_ours

log = logging.getLogger(__name__)

# Finished results stay downloadable this long; older job folders go when the next job starts.
RESULT_LIFETIME_S = 3600
NETWORK_SIZE = "network scale"
PROGRESS_INTERVAL_S = 0.5
WORKDIR_NAME_ROOM = 400  # bytes the upload and job names add to the working folder's path


@dataclass(frozen=True)
class Limits:
    """What one upload may be: refused with a sentence naming the serve option that raises the limit."""

    max_upload_bytes: int = 500 * 1024**2
    max_frames: int = 3000
    max_input_pixels: int = 1280 * 720  # per input frame; the output has scale^2 times more

    def check_upload(self, path: Path) -> None:
        size = path.stat().st_size
        if size > self.max_upload_bytes:
            raise SpectraFrameError(
                f"the upload is {size / 1024**2:.1f} MB, more than the {self.max_upload_bytes / 1024**2:.0f} MB "
                "this server takes (spectraframe serve --max-upload-mb); send a shorter clip"
            )

    def check_input(self, width: int, height: int, frames: int) -> None:
        if frames > self.max_frames:
            raise SpectraFrameError(f"the clip has {frames} frames, more than the {self.max_frames} this server "
                                    "takes (spectraframe serve --max-frames); send a shorter clip")
        if width * height > self.max_input_pixels:
            raise SpectraFrameError(
                f"the frames are {width}x{height}, more than the {self.max_input_pixels:,} pixels a frame this server "
                "takes (spectraframe serve --max-pixels); send a smaller clip, or use `spectraframe upscale`"
            )


class Workspace:
    """The serve command's own folder: uploads (Gradio's temporary files) and one folder per job.

    A folder given by the user must be new, empty or one an earlier `serve` made; a temporary one is
    removed when the server stops.
    """

    def __init__(self, root: Path | None = None):
        import tempfile

        self.temporary = root is None
        if root is not None:  # room for Gradio's upload names: uploads/<64-digit hash>/<the file's own name>
            check_path_length(root, "--workdir", room=WORKDIR_NAME_ROOM)
        if root is None:
            root = Path(tempfile.mkdtemp(prefix="spectraframe-serve-"))
        elif root.exists() and (not root.is_dir() or (any(root.iterdir()) and not is_ours(root))):
            raise SpectraFrameError(f"--workdir {root} exists and is not an empty folder or one `spectraframe serve` "
                                    "made: choose a new folder")
        mark_ours(root, "serve")
        self.root = root.resolve()
        self.uploads = self.root / "uploads"
        self.jobs = self.root / "jobs"
        self.uploads.mkdir(exist_ok=True)
        self.jobs.mkdir(exist_ok=True)

    def new_job(self) -> Path:
        self.remove_old_jobs()
        folder = self.jobs / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
        folder.mkdir()
        return folder

    def remove_old_jobs(self, max_age_s: float = RESULT_LIFETIME_S) -> None:
        now = time.time()
        for folder in self.jobs.iterdir():
            if now - folder.stat().st_mtime > max_age_s:
                shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        """Remove what the jobs and uploads left; the whole folder when it was a temporary one."""
        if self.temporary:
            shutil.rmtree(self.root, ignore_errors=True)
        else:
            shutil.rmtree(self.jobs, ignore_errors=True)
            shutil.rmtree(self.uploads, ignore_errors=True)


def prepare_input(upload: Path, job: Path, limits: Limits) -> Path:
    """The upscale input for an uploaded file: a video as it is, a zip of frames extracted into the job folder.

    A zip is only read as data: members that are not images, or whose names leave the folder, are refused.
    """
    limits.check_upload(upload)
    suffix = upload.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return upload
    if suffix != ".zip":
        raise SpectraFrameError(f"{upload.name} is neither a video ({', '.join(VIDEO_SUFFIXES)}) nor a .zip of "
                                "frames")
    folder = job / "frames"
    folder.mkdir()
    try:
        with zipfile.ZipFile(upload) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) > limits.max_frames:
                limits.check_input(0, 0, len(members))
            unpacked = sum(m.file_size for m in members)
            if unpacked > limits.max_upload_bytes * 4:  # frames compress a little; a zip bomb a lot
                raise SpectraFrameError(f"the zip unpacks to {unpacked / 1024**2:.0f} MB, too much for this server "
                                        "(spectraframe serve --max-upload-mb); send fewer frames")
            for member in members:
                name = PurePosixPath(member.filename)
                if name.name.startswith(".") or "__MACOSX" in name.parts:
                    continue  # the Finder's resource forks and hidden files are not frames
                if name.suffix.lower() not in IMAGE_SUFFIXES:
                    raise SpectraFrameError(f"the zip holds {member.filename}, which is not a frame: only images "
                                            f"({', '.join(IMAGE_SUFFIXES)})")
                # Only the base name is used: no path in the archive can point outside the frames folder.
                target = folder / name.name
                if target.exists():
                    raise SpectraFrameError(f"the zip holds two frames called {name.name}: put the frames of one "
                                            "clip in one folder")
                with archive.open(member) as source, open(target, "wb") as out:
                    shutil.copyfileobj(source, out)
    except zipfile.BadZipFile as exc:
        raise SpectraFrameError(f"{upload.name} is not a readable zip file ({exc})") from exc
    return folder


class Cancelled(SpectraFrameError):
    """The person asked to stop: the pipeline discards its work as for any SpectraFrameError."""


class ProgressMeter:
    """Frames done, frames/s and the time left, for the progress line."""

    def __init__(self, total: int, clock: Callable[[], float] = time.perf_counter):
        self.total = total
        self.clock = clock
        self.started = clock()
        self.done = 0
        self._shown_at: float | None = None

    def tick(self) -> None:
        self.done += 1

    def due(self, interval_s: float = PROGRESS_INTERVAL_S) -> bool:
        """Whether the line is worth showing again: the first and last frame, else at most once per interval.

        Every update is a message to the browser and a repaint there, on the cores the network needs.
        """
        now = self.clock()
        if self._shown_at is None or self.done >= self.total or now - self._shown_at >= interval_s:
            self._shown_at = now
            return True
        return False

    def describe(self) -> str:
        elapsed = self.clock() - self.started
        if self.done == 0 or elapsed <= 0:
            return f"0/{self.total} frames, starting"
        rate = self.done / elapsed
        left = (self.total - self.done) / rate
        return f"{self.done}/{self.total} frames, {rate:.2f} frames/s, ETA {_clock_time(left)}"


def _clock_time(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def parse_size(text: str | None) -> tuple[int | None, float | None]:
    """(height, outscale) from the size field: `network scale`, `x2`, `x2.5`, `1080p` or `1080`."""
    text = (text or "").strip().lower()
    if text in ("", NETWORK_SIZE):
        return None, None
    if match := re.fullmatch(r"x\s*(\d+(?:\.\d+)?)", text):
        return None, float(match[1])
    if match := re.fullmatch(r"(\d+)\s*p?", text):
        return int(match[1]), None
    raise SpectraFrameError(f"output size {text!r}: write a scale such as x2 or a height such as 1080p")


@dataclass(frozen=True)
class JobSettings:
    weights: Path | None  # None: the default shipped weights
    blend: tuple[str, float] | None = None  # (--model NAME, strength): that fine-tune blended with the default
    height: int | None = None
    outscale: float | None = None
    precision: str = "auto"
    crf: float = 18.0
    device: str = "auto"


class JobRunner:
    """Runs one upscale at a time (the page's queue decides the order); each session may cancel its own.

    A session is one open page; a client is one browser or login, which may open several pages. A client may
    have `max_jobs_per_client` jobs in line or running at once (`admit`); a page that closes (`leave`) has its
    job cancelled and its results removed; `shutdown` cancels everything when the server stops.
    """

    def __init__(self, workspace: Workspace, limits: Limits, max_jobs_per_client: int = 1):
        self.workspace = workspace
        self.limits = limits
        self.max_jobs_per_client = max_jobs_per_client
        self._lock = threading.Lock()  # held by the running job
        self._guard = threading.Lock()  # the bookkeeping below, short
        self._cancel: set[str] = set()
        self._running: str | None = None
        self._admitted: dict[str, str] = {}  # session -> client, from `admit` until the job ends or is cancelled
        self._folders: dict[str, list[Path]] = {}  # session -> its job folders
        self._gone: set[str] = set()  # sessions whose page closed: a job of theirs still in line never starts
        self._closed = False

    def admit(self, session: str, client: str) -> None:
        """Take a job into the line, or refuse it when the page or the client already has its share there."""
        with self._guard:
            if self._closed:
                raise SpectraFrameError("the server is stopping: no new jobs")
            if session in self._admitted:
                raise SpectraFrameError("this page already has a clip in line or running: wait for it or cancel it")
            if sum(c == client for c in self._admitted.values()) >= self.max_jobs_per_client:
                raise SpectraFrameError(f"you already have {self.max_jobs_per_client} clip(s) in line or running, the "
                                        "most this server takes from one person: wait for them or cancel one")
            self._admitted[session] = client

    def admitted(self, session: str) -> bool:
        with self._guard:
            return session in self._admitted

    def release(self, session: str) -> None:
        """The session's job has ended (or never got to run): its place in the client's share is free."""
        with self._guard:
            self._admitted.pop(session, None)

    def cancel(self, session: str) -> bool:
        """Ask the session's job to stop at its next frame; True when one was running."""
        self.release(session)
        self._cancel.add(session)
        return self._running == session

    def leave(self, session: str) -> None:
        """The page closed: stop its job (the job removes its own folder) and remove its finished results."""
        self.cancel(session)
        with self._guard:
            self._gone.add(session)
            folders = self._folders.pop(session, [])
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)

    def shutdown(self, timeout_s: float = 30.0) -> bool:
        """Refuse new jobs, cancel the running one and wait for it to end; False when it did not in time."""
        with self._guard:
            self._closed = True
        if self._running is not None:
            self._cancel.add(self._running)
        if not self._lock.acquire(timeout=timeout_s):
            return False
        self._lock.release()
        return True

    def run(self, upload: Path, settings: JobSettings, session: str,
            on_progress: Callable[[ProgressMeter], None] | None = None):
        """Upscale an upload to an H.264 video in a new job folder; returns (UpscaleResult, input path)."""
        from spectraframe.upscale.pipeline import UpscaleOptions, Upscaler
        from spectraframe.upscale.sources import FrameSource
        from spectraframe.upscale.weights import blended_model

        with self._lock:
            self._cancel.discard(session)  # a cancel of a job still waiting in the queue is done with
            if self._closed or session in self._gone:
                raise Cancelled("the server is stopping or the page was closed: nothing was started")
            self._running = session
            job = self.workspace.new_job()
            with self._guard:
                self._folders.setdefault(session, []).append(job)
            try:
                source = prepare_input(Path(upload), job, self.limits)
                info = FrameSource(source).info
                self.limits.check_input(info.width, info.height, info.frame_count)
                options = UpscaleOptions(
                    weights=settings.weights, device=settings.device, precision=settings.precision,
                    crf=settings.crf, height=settings.height, outscale=settings.outscale, progress=False,
                )
                model, metadata = (None, None) if settings.blend is None else blended_model(*settings.blend)
                upscaler = Upscaler(options, model=model, metadata=metadata)
                meter = ProgressMeter(info.frame_count)

                def on_frame(_: int) -> None:
                    if session in self._cancel:
                        raise Cancelled("cancelled: nothing was kept")
                    meter.tick()
                    if on_progress is not None:
                        on_progress(meter)

                result = upscaler.run(source, job / output_name(upload, upscaler.output_tag), on_frame=on_frame)
                return result, source
            except BaseException:
                shutil.rmtree(job, ignore_errors=True)
                raise
            finally:
                self._running = None
                self._cancel.discard(session)
                self.release(session)


def output_name(upload: Path, tag: str) -> str:
    """The result's file name, which its download keeps: the upload's and the model's (`holiday_x4_real.mp4`); MP4
    whatever the upload, for the browser's player."""
    stem = upload.stem[:100] or "upscaled"
    return f"{stem}_{tag}.mp4"


def read_frame(path: Path, index: int) -> np.ndarray:
    """Frame `index` of a video or frame folder, as (H, W, 3) uint8 RGB."""
    from spectraframe.io.images import list_frames, read_image
    from spectraframe.io.video import read_video_frames

    if path.is_dir():
        return read_image(list_frames(path)[index])
    for frame in read_video_frames(path, start=index, count=1):
        return frame
    raise SpectraFrameError(f"{path} has no frame {index}")


def comparison(source: Path, output: Path, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bicubic, SpectraFrame, labelled side by side with the detail zoomed) for frame `index` at output size.

    The SpectraFrame frame is read back from the encoded result: what the person downloads.
    """
    from spectraframe.comparison import bicubic_comparison

    upscaled = read_frame(output, index)
    bicubic, picture = bicubic_comparison(read_frame(source, index), upscaled)
    return bicubic, upscaled, picture
