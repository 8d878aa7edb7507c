"""The streaming upscale pipeline: decode -> sliding window -> scene cuts -> flows -> generator -> encode.

Memory does not grow with the video: a ring buffer holds the frames of one window (plus the look-ahead
the window needs), outputs are encoded as they come, and large frames run in tiles sized to a budget.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import torch
from tqdm import tqdm

from spectraframe.accelerate import (
    PRECISION_CHOICES,
    PRECISIONS,
    resolve_device,
    resolve_precision,
)
from spectraframe.archs.rbpn import RBPN
from spectraframe.data.scenes import SceneCutDetector
from spectraframe.data.windows import neighbour_indices, require_odd_window, scene_window
from spectraframe.errors import SpectraFrameError
from spectraframe.flow.api import DEFAULT_FLOW_METHOD
from spectraframe.generator import SelfEnsemble
from spectraframe.io.tensors import to_tensor, to_uint8
from spectraframe.io.video import DecodedFrame, EncoderSettings, check_encoder, output_format, resolve_encoder
from spectraframe.upscale.backends import BACKENDS, load_backend
from spectraframe.upscale.memory import default_memory_budget, default_tile_overlap, tile_for_budget
from spectraframe.upscale.output_size import check_size_request, final_size, fit_frame, size_label
from spectraframe.upscale.provenance import (
    blend_of_metadata,
    default_output,
    model_label,
    name_tag,
    names_a_video,
    output_tags,
)
from spectraframe.upscale.sinks import (
    FrameFolderSink,
    OutputSink,
    SegmentedVideoSink,
    check_output,
    output_lock,
    work_dir_for,
)
from spectraframe.upscale.sources import FrameSource
from spectraframe.upscale.trim import Trim

log = logging.getLogger(__name__)

__all__ = ["BACKENDS", "PRECISION_CHOICES", "PRECISIONS", "UpscaleOptions", "UpscalePlan", "UpscaleResult", "Upscaler",
           "default_output", "fill_guarded", "frames_with_cuts", "resolve_precision", "upscale"]


@dataclass
class UpscaleOptions:
    weights: Path | None = None  # None: the default weights shipped with the package
    scale: int | None = None  # when given, the weights must be for this scale
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    # auto (int8 on CPUs with VNNI/AMX where the weights have an int8 model, else bf16 on CPUs with native bf16,
    # fp16 on CUDA, else fp32) | fp32 | bf16 | fp16 | int8
    precision: str = "auto"
    # torch | onnxruntime (fp32; .onnx weights or the checkpoint exported on the fly) | openvino (CPU, fp32/bf16/int8)
    backend: str = "torch"
    channels_last: bool = True  # torch backend: channels-last memory format, much faster on CPUs
    compile: bool = False  # torch backend: torch.compile the network (the first frame of each size compiles)
    ensemble: bool = False  # x8 self-ensemble: the 8 flips/rotations of each window, averaged (8x the network time)
    pipelined: bool = True  # decode ahead and estimate the next frame's flows while the network runs
    tile: int | None = None  # LR tile core size; None: chosen from max_memory; 0: never tile
    tile_overlap: int | None = None  # LR context per tile side; None: from the receptive field
    max_memory: int | None = None  # bytes; None: half the memory available
    scene_detect: bool = True
    flow_method: str | None = None  # None: the method the weights were trained with
    codec: str = "h264"
    crf: float = 18.0
    preset: str = "medium"
    pix_fmt: str = "yuv420p"
    fps: Fraction | None = None  # frame rate of frame-folder inputs
    segment_frames: int = 100  # --resume granularity
    resume: bool = False
    overwrite: bool = False
    progress: bool = True
    height: int | None = None  # final height (aspect kept), at most the network's; None: the network's size
    outscale: float | None = None  # final scale, at most the network's; None: the network's
    trim: Trim | None = None  # only this section of each input (audio and subtitles cut alike); None: all of it


@dataclass
class UpscaleResult:
    input: Path
    output: Path
    width: int
    height: int
    frames: int
    seconds: float
    resumed_from: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        rate = self.frames / self.seconds if self.seconds > 0 else 0.0
        resumed = f", resumed at frame {self.resumed_from}" if self.resumed_from else ""
        return (f"{self.output}: {self.width}x{self.height}, {self.frames} frames in {_duration(self.seconds)} "
                f"({rate:.2f} frames/s{resumed})")


@dataclass
class UpscalePlan:
    """One input's run, checked before anything is written: where it goes, at which size, in which tiles and
    with which encoder (None: a folder of PNGs)."""

    source: FrameSource
    output: Path
    size: tuple[int, int]
    tile: int | None
    tile_overlap: int
    settings: EncoderSettings | None
    format_name: str | None
    notes: list[str]  # for the user: the input's, then the output's

    def result(self, seconds: float, resumed_from: int = 0) -> UpscaleResult:
        for note in self.notes[len(self.source.info.notes):]:
            log.warning("%s: %s", self.output, note)
        info = self.source.info
        return UpscaleResult(info.path, self.output, *self.size, info.frame_count, seconds, resumed_from,
                             list(self.notes))


def _duration(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}h{minutes:02d}m{secs:04.1f}s" if hours else (f"{minutes}m{secs:04.1f}s" if minutes else
                                                                     f"{secs:.1f}s")


def check_options(options: UpscaleOptions) -> None:
    """The options' values and combinations, before anything is loaded: a bad value found mid-run would cost a
    model load and a decode."""
    onnx = options.backend == "onnxruntime"
    if options.backend not in BACKENDS:
        raise SpectraFrameError(f"unknown backend {options.backend!r}; use one of {', '.join(BACKENDS)}")
    if options.precision not in PRECISION_CHOICES:
        raise SpectraFrameError(f"unknown precision {options.precision!r}; use one of {', '.join(PRECISION_CHOICES)}")
    if onnx and options.precision not in ("auto", "fp32"):
        raise SpectraFrameError(f"the onnxruntime backend runs fp32 only, not {options.precision}; "
                                "use --backend torch for bf16/fp16/int8")
    if options.backend != "torch" and options.compile:
        raise SpectraFrameError(f"--compile is for the torch backend; the {options.backend} backend optimises itself")
    if options.tile is not None and options.tile < 0:
        raise SpectraFrameError(f"--tile must be 0 (never tile) or a tile size in LR pixels, got {options.tile}")
    if options.tile_overlap is not None and options.tile_overlap < 0:
        raise SpectraFrameError(f"--tile-overlap must be 0 or more LR pixels, got {options.tile_overlap}")
    if options.segment_frames < 1:
        raise SpectraFrameError(f"--segment-frames must be >= 1, got {options.segment_frames}")
    if options.max_memory is not None and options.max_memory <= 0:
        raise SpectraFrameError(f"--max-memory must be more than 0 bytes, got {options.max_memory}")
    check_size_request(options.height, options.outscale)


class Upscaler:
    """Loads the generator once; `run(input, output)` upscales one video or frame folder."""

    def __init__(self, options: UpscaleOptions | None = None, model: RBPN | None = None,
                 metadata: dict | None = None):

        self.options = options = options or UpscaleOptions()
        self.device = resolve_device(options.device)
        check_options(options)
        backend = load_backend(options.backend, options.weights, self.device, options.precision,
                               scale=options.scale, channels_last=options.channels_last, compile=options.compile,
                               model=model, metadata=metadata)
        self.precision = backend.precision
        self.generator, metadata = backend.generator, backend.metadata
        if options.ensemble:
            self.generator = SelfEnsemble(self.generator)
        self.weights_path, self.weights_id, self.weights_bytes = (backend.weights_path, backend.weights_id,
                                                                  backend.weights_bytes)
        weights = self.weights_path
        if weights is None or weights.suffix != ".onnx":
            log.info("generator: %s", self.describe())
        if options.scale is not None and self.generator.config.scale != options.scale:
            raise SpectraFrameError(f"the model is x{self.generator.config.scale}, but x{options.scale} was asked for")
        check_size_request(options.height, options.outscale, self.generator.config.scale)
        self.metadata = metadata or {}
        self.config = self.generator.config
        require_odd_window(self.config.num_frames, str(weights) if weights is not None else "the model")
        trained_with = self.metadata.get("flow_method", DEFAULT_FLOW_METHOD)
        self.flow_method = options.flow_method or trained_with
        if self.flow_method != trained_with:
            log.warning("the weights were trained with %s flow; using %s", trained_with, self.flow_method)
        offsets = neighbour_indices(10_000, 20_001, self.config.num_frames)
        self.reach_back = 10_000 - min(offsets)
        self.reach_ahead = max(offsets) - 10_000

    def describe(self) -> str:
        backend = "openvino" if self.precision == "int8" else self.options.backend  # int8 always runs OpenVINO
        return f"{backend}, {self.generator.describe()}"

    # -- planning -------------------------------------------------------------------------------

    def tiling(self, lr_height: int, lr_width: int) -> tuple[int | None, int]:
        """(tile core or None for whole frames, overlap), from --tile / --max-memory."""
        options = self.options
        overlap = options.tile_overlap if options.tile_overlap is not None else default_tile_overlap(self.config)
        if options.tile is not None:
            if options.tile == 0:
                return None, overlap
            if options.tile < overlap / 2:
                raise SpectraFrameError(f"--tile {options.tile} must be at least half of --tile-overlap {overlap}")
            return options.tile, overlap
        budget = options.max_memory if options.max_memory is not None else default_memory_budget()
        half = self.precision != "fp32"
        tile = tile_for_budget(self.config, lr_height, lr_width, budget, overlap, half_precision=half,
                               weights_bytes=self.weights_bytes)
        return tile, overlap

    @property
    def blend(self) -> tuple[str, float] | None:
        """(MODEL, STRENGTH) when the generator is a blend of a fine-tune with the default."""
        return blend_of_metadata(self.metadata)

    @property
    def model_description(self) -> str:
        """The model in words: its weights file, or the blend (`perceptual at strength 0.5`)."""
        if self.blend is not None:
            return f"{self.blend[0]} at strength {self.blend[1]:g}"
        return self.weights_path.name if self.weights_path is not None else "a model given in memory"

    @property
    def output_tag(self) -> str:
        """The tag of default output names (`output_tag` of the options, for this generator)."""
        options = self.options
        return name_tag(self.config.scale, options.height, options.outscale,
                        model_label(self.weights_path, self.blend), options.trim)

    @property
    def container_tags(self) -> dict[str, str]:
        """What a video output records in its container: model, strength, scale, version."""
        label = model_label(self.weights_path, self.blend)
        size = size_label(self.config.scale, self.options.height, self.options.outscale)
        return output_tags(label, self.blend, size)

    def _job(self, source: FrameSource, tile: int | None, tile_overlap: int,
             settings: EncoderSettings | None, size: tuple[int, int]) -> dict:
        stat = source.path.stat()
        return {
            "input": str(source.path.resolve()),
            "input_size": stat.st_size if source.path.is_file() else len(source.info.frame_names or []),
            "input_mtime_ns": stat.st_mtime_ns,
            "weights_sha256": self.weights_id,
            "model": self.model_description,
            "flow_method": self.flow_method,
            "precision": self.precision,
            "backend": self.options.backend,
            "device": self.device.type,
            "tile": tile,
            "tile_overlap": tile_overlap if tile else None,
            "ensemble": self.options.ensemble,
            "scene_detect": self.options.scene_detect,
            "segment_frames": self.options.segment_frames,
            "encoder": settings.to_dict() if settings else None,
            "fps": str(source.info.fps),
            "size": list(size),
            "trim": self.options.trim.to_dict() if self.options.trim else None,
        }

    # -- running --------------------------------------------------------------------------------

    def plan(self, input_path: str | Path, output: str | Path | None = None) -> UpscalePlan:
        """Probe the input and check the output and the encoder settings, before anything is written."""
        options = self.options
        source = FrameSource(input_path, folder_fps=options.fps, trim=options.trim)
        info = source.info
        output = Path(output) if output else default_output(source.path, self.output_tag)
        video_output = names_a_video(output)
        size = final_size(info.width, info.height, self.config.scale, target_height=options.height,
                          outscale=options.outscale, even=video_output)
        check_output(output, source.path, video=video_output, overwrite=options.overwrite, weights=self.weights_path)
        for note in info.notes:
            log.warning("%s: %s", source.path, note)
        tile, tile_overlap = self.tiling(info.height, info.width)
        if tile:
            log.info("tiles of %dx%d LR pixels with %d px overlap (memory budget)", tile, tile, tile_overlap)
        settings = format_name = None
        if video_output:
            settings = EncoderSettings(
                codec=resolve_encoder(options.codec), width=size[0], height=size[1], fps=info.fps,
                time_base=info.time_base, pix_fmt=options.pix_fmt, crf=options.crf, preset=options.preset,
            )
            format_name = output_format(output)
            check_encoder(settings, format_name, output)
        return UpscalePlan(source, output, size, tile, tile_overlap, settings, format_name, list(info.notes))

    def run(
        self, input_path: str | Path, output: str | Path | None = None, *,
        on_frame: Callable[[int], None] | None = None,
    ) -> UpscaleResult:
        """Upscale one input. `on_frame(index)` is called after each output frame is handed to the encoder."""
        started = time.perf_counter()
        plan = self.plan(input_path, output)
        info = plan.source.info
        with output_lock(plan.output):
            sink = self.open_sink(plan)
            resume_from = sink.resume_from
            if resume_from:
                log.info("resuming %s at frame %d of %d", plan.output, resume_from, info.frame_count)
            plan.notes += self._fill(sink, plan, on_frame)
        return plan.result(time.perf_counter() - started, resume_from)

    def open_sink(self, plan: UpscalePlan) -> OutputSink:
        """The output being written: a segmented video, or a folder of PNGs (then a note when timing is lost)."""
        info, options = plan.source.info, self.options
        job = self._job(plan.source, plan.tile, plan.tile_overlap, plan.settings, plan.size)
        if plan.settings is not None:
            return SegmentedVideoSink(
                plan.output, job, format_name=plan.format_name, settings=plan.settings, frame_count=info.frame_count,
                segment_frames=options.segment_frames, source=plan.source.path if info.kind == "video" else None,
                resume=options.resume, overwrite=options.overwrite, section=info.section, tags=self.container_tags,
            )
        names = info.frame_names or [f"frame_{i:06d}" for i in range(info.frame_count)]
        if info.variable_frame_rate:
            plan.notes.append("PNG frames carry no timestamps: the variable frame timing is not kept")
        return FrameFolderSink(plan.output, job, names, resume=options.resume, overwrite=options.overwrite)

    def _fill(self, sink: OutputSink, plan: UpscalePlan, on_frame: Callable[[int], None] | None) -> list[str]:
        """Stream every frame into `sink` and finish it (returns its notes); on failure keep what --resume can
        use and say so, or remove it."""

        def fill() -> list[str]:
            self._stream(plan, sink, on_frame)
            return sink.finish()

        return fill_guarded(sink, fill)

    def _stream(self, plan: UpscalePlan, sink: OutputSink, on_frame: Callable[[int], None] | None) -> None:
        """Decode, window, super-resolve and hand frames to the sink, from `sink.resume_from` on."""
        info, resume_from = plan.source.info, sink.resume_from
        first_needed = max(0, resume_from - self.reach_back)

        def decode() -> Iterator[tuple[int, torch.Tensor, int, bool]]:
            for frame, cut in frames_with_cuts(plan.source, self.options.scene_detect):
                if frame.index >= first_needed:  # the detector still sees every frame: its decisions stay
                    yield frame.index, to_tensor(frame.image), frame.pts, cut

        bar = tqdm(total=info.frame_count, initial=resume_from, unit="frame", desc=plan.source.path.name,
                   disable=not self.options.progress, dynamic_ncols=True)

        def finish(t: int, image, pts: int) -> None:
            sink.write(t, fit_frame(image, plan.size), pts)
            bar.update(1)
            if on_frame is not None:
                on_frame(t)

        try:
            frames = self.upscale_frames(decode(), range(resume_from, info.frame_count), plan.tile, plan.tile_overlap,
                                         finish)
        finally:
            bar.close()
        if frames != info.frame_count:
            raise SpectraFrameError(f"{plan.source.path}: expected {info.frame_count} frames, decoded {frames}")

    def span_to_decode(self, targets: range, frame_count: int) -> range:
        """The frames whose windows and scene decisions the targets `targets` need: their neighbours, and
        far enough ahead that each target is planned exactly as in a run over the whole video."""
        reach = self.config.num_frames // 2
        return range(max(0, targets.start - self.reach_back), min(frame_count, targets.stop + max(reach,
                                                                                                   self.reach_ahead)))

    def upscale_frames(self, frames: Iterator[tuple[int, torch.Tensor, int, bool]], targets: range, tile: int | None,
                       tile_overlap: int, finish: Callable[[int, object, int], None]) -> int:
        """Super-resolve the targets among `frames` ((index, LR tensor, pts, starts a scene) in order from
        any index: a whole video, or the span a segment needs) and `finish(t, image, pts)` them in order.
        Returns the index one past the last frame decoded.

        Pipelined (`UpscaleOptions.pipelined`), frames are decoded (and checked for scene cuts) by a background
        thread, and the flows of the next target are estimated by a worker thread while the network runs on the
        current one.
        """
        pipelined = self.options.pipelined
        frames = _Prefetched(frames, depth=2 * (self.reach_ahead + 1)) if pipelined else frames
        flow_worker = ThreadPoolExecutor(1, thread_name_prefix="spectraframe-flow") if pipelined else None

        def start(t: int, window: list[int], decoded: _DecodedFrames) -> _PendingFrame | None:
            if t not in targets:
                return None
            return self._super_resolve(decoded, t, window, tile, tile_overlap, flow_worker)

        try:
            return _run_stream(frames, self.config.num_frames, start, finish)
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()
            if flow_worker is not None:
                flow_worker.shutdown(wait=True, cancel_futures=True)

    def _super_resolve(self, decoded: _DecodedFrames, t: int, indices: Sequence[int], tile: int | None,
                       tile_overlap: int, flow_worker: ThreadPoolExecutor | None) -> _PendingFrame:
        """Start on frame t with the window `indices`: its flows go to `flow_worker` (when pipelined).

        The returned handle's `result()` runs the network and gives the HR frame (uint8, H x W x 3).
        """
        # Replicated neighbours (clip ends, scene cuts) repeat indices: estimate each distinct flow once.
        unique = sorted(set(indices))
        position = {index: k for k, index in enumerate(unique)}
        # Frames are gathered now: the buffer changes while the flows are estimated.
        inputs = (decoded.image(t), torch.stack([decoded.image(i) for i in unique]), [position[i] for i in indices])
        flows = flow_worker.submit(self._flows, *inputs) if flow_worker is not None else _done(self._flows(*inputs))
        return _PendingFrame(lambda: self._network(*flows.result(), tile, tile_overlap))

    @torch.inference_mode()
    def _flows(self, target: torch.Tensor, frames: torch.Tensor, order: list[int]):
        from spectraframe.flow import estimate_flow

        target, frames = target.to(self.device), frames.to(self.device)
        flows = estimate_flow(target, frames, method=self.flow_method)
        order_index = torch.tensor(order, device=flows.device)
        return target, frames[order_index], flows[order_index]

    @torch.inference_mode()
    def _network(self, target: torch.Tensor, neighbours: torch.Tensor, flows: torch.Tensor, tile: int | None,
                 tile_overlap: int):
        from spectraframe.inference import super_resolve_frame

        hr = super_resolve_frame(self.generator, target, neighbours, flows=flows, tile=tile, tile_overlap=tile_overlap)
        return to_uint8(hr)


def fill_guarded(sink: OutputSink, fill: Callable[[], list[str]]) -> list[str]:
    """`fill()` writes `sink` and finishes it (returning its notes); on failure keep what --resume can use and
    say so, or remove it."""
    output = sink.output
    try:
        return fill()
    except SpectraFrameError:
        sink.abort()
        sink.discard()  # the input or the settings are at fault: nothing worth resuming
        raise
    except KeyboardInterrupt:
        sink.abort()
        if sink.finished_any():
            log.error("interrupted: finished segments are kept in %s; rerun with --resume to continue",
                      work_dir_for(output))
        else:  # shorter than one segment so far: a work folder would only ask for a --resume that gains nothing
            sink.discard()
            log.error("interrupted before the first segment of %s was finished: nothing was kept", output)
        raise
    except BaseException as exc:
        sink.abort()
        kept = sink.finished_any()
        if not kept:
            sink.discard()  # nothing to resume: a leftover work folder would only block the next run
        if isinstance(exc, OSError):  # a full disk, a vanished mount: the user's to fix, in one sentence
            reason = exc.strerror or str(exc)
            resume = (f"the finished part is kept in {work_dir_for(output)}: free space or fix the cause, "
                      "then rerun with --resume to continue") if kept else "nothing was kept"
            raise SpectraFrameError(f"writing {output} failed ({reason}); {resume}") from exc
        if kept:
            log.error("failed: finished segments are kept in %s; rerun with --resume to continue",
                      work_dir_for(output))
        raise


def frames_with_cuts(source: FrameSource, scene_detect: bool) -> Iterator[tuple[DecodedFrame, bool]]:
    """Every frame of `source` with whether it starts a new scene (always False without scene detection)."""
    detector = SceneCutDetector() if scene_detect else None
    for frame in source.frames():
        yield frame, detector is not None and detector.is_cut(frame.image) and frame.index > 0


def make_upscaler(options: UpscaleOptions, blend: tuple[str, float] | None = None) -> Upscaler:
    """The Upscaler of `options`; with `blend` = (MODEL, STRENGTH) of `--model MODEL --strength S`, that fine-tune
    blended with the default (`weights.blended_model`) instead of `options.weights`."""
    if blend is None:
        return Upscaler(options)
    from spectraframe.upscale.weights import blended_model

    model, metadata = blended_model(*blend, scale=options.scale)
    return Upscaler(options, model=model, metadata=metadata)


class _DecodedFrames:
    """The decoded frames a window may still need (LR image and pts by index), each one's scene and the cuts."""

    def __init__(self) -> None:
        self.frames: dict[int, tuple[torch.Tensor, int]] = {}
        self.scene_start: dict[int, int] = {}
        self.cuts: set[int] = set()
        self.current_scene = 0
        self.count = 0  # frames decoded so far

    def add(self, index: int, image: torch.Tensor, pts: int, cut: bool) -> None:
        if cut:
            self.cuts.add(index)
            self.current_scene = index
        self.scene_start[index] = self.current_scene
        self.frames[index] = (image, pts)
        self.count = index + 1

    def image(self, index: int) -> torch.Tensor:
        return self.frames[index][0]

    def pts(self, index: int) -> int:
        return self.frames[index][1]

    def window(self, t: int, num_frames: int, ended: bool) -> list[int]:
        """t's neighbours inside its scene (see `scene_window`), from the frames decoded so far."""
        reach = num_frames // 2
        next_cut = next((j for j in range(t + 1, min(self.count - 1, t + reach) + 1) if j in self.cuts), None)
        return scene_window(t, num_frames, scene_start=self.scene_start[t], next_cut=next_cut, known=self.count,
                            ended=ended)

    def forget_before(self, index: int) -> None:
        for old in [i for i in self.frames if i < index]:
            del self.frames[old]
            self.scene_start.pop(old, None)
            self.cuts.discard(old)


def _run_stream(frames: Iterator[tuple[int, torch.Tensor, int, bool]], num_frames: int,
                start: Callable[[int, list[int], _DecodedFrames], _PendingFrame | None],
                finish: Callable[[int, object, int], None]) -> int:
    """Plan each target as soon as its window is decoded, `start(t, window, decoded)` it, and `finish(t, image,
    pts)` them in order, one target behind (its flows run ahead while the network takes the oldest). Frames no
    window needs any more are forgotten. Returns the number of frames decoded."""
    reach = num_frames // 2
    decoded = _DecodedFrames()
    pending: deque[tuple[int, _PendingFrame | None]] = deque()  # started targets, oldest first
    next_target = -1  # set to the first frame's index: a segment's span starts mid-video

    def plan(ended: bool) -> None:
        nonlocal next_target
        pending.append((next_target, start(next_target, decoded.window(next_target, num_frames, ended), decoded)))
        next_target += 1

    def finish_all_but(kept: int) -> None:
        while len(pending) > kept:
            t, job = pending.popleft()
            if job is not None:
                finish(t, job.result(), decoded.pts(t))
            decoded.forget_before(t + 1 - reach)

    for index, image, pts, cut in frames:
        decoded.add(index, image, pts, cut)
        next_target = index if next_target < 0 else next_target
        while next_target + reach <= index:
            plan(ended=False)
            finish_all_but(1)
    while 0 <= next_target < decoded.count:
        plan(ended=True)
        finish_all_but(1)
    finish_all_but(0)
    return decoded.count


class _PendingFrame:
    """A frame whose flows may still be running; `result()` finishes it (once)."""

    def __init__(self, compute: Callable[[], object]):
        self._compute = compute

    def result(self):
        return self._compute()


def _done(value) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


class _Prefetched(Iterator):
    """Runs an iterator in a background thread, `depth` items ahead; its exceptions re-raise here.

    `close()` (also on garbage collection of the consumer's loop) stops the thread and closes the source
    iterator in it, so decoders release their files.
    """

    _END = object()

    def __init__(self, source: Iterator, depth: int):
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._source = source
        self._finished = False
        self._thread = threading.Thread(target=self._produce, name="spectraframe-decode", daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            for item in self._source:
                if not self._put((item, None)):
                    break
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._put((self._END, exc))
        else:
            self._put((self._END, None))
        finally:
            close = getattr(self._source, "close", None)
            if close is not None:
                close()

    def __next__(self):
        if self._finished:
            raise StopIteration
        item, error = self._queue.get()
        if item is self._END:
            self._finished = True
            if error is not None:
                raise error
            raise StopIteration
        return item

    def close(self) -> None:
        self._finished = True
        self._stop.set()
        self._thread.join()


def upscale(
    inputs: Sequence[str | Path], output: str | Path | None = None, options: UpscaleOptions | None = None
) -> list[UpscaleResult]:
    """Upscale each input: video files, frame folders, folders of them or patterns, as `spectraframe upscale` takes
    them (`batch.plan_jobs`: our own outputs and inputs already upscaled are skipped). With several inputs `output`
    is a folder that receives one output each. Raises after the others have run when some input failed."""
    from spectraframe.upscale.batch import plan_jobs, run_jobs

    options = options or UpscaleOptions()
    upscaler = Upscaler(options)
    plan = plan_jobs([str(p) for p in inputs], upscaler.output_tag, output, overwrite=options.overwrite,
                     weights=upscaler.weights_path)
    report = run_jobs(plan, lambda job: upscaler.run(job.input, job.output))
    if report.failed:
        raise SpectraFrameError("; ".join(f"{p.input}: {p.reason}" for p in report.failed))
    return report.done
