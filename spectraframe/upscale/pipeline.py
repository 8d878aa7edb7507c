"""The streaming upscale pipeline: decode -> sliding window -> scene cuts -> flows -> generator -> encode.

Memory does not grow with the video: a ring buffer holds the frames of one window (plus the look-ahead
the window needs), outputs are encoded as they come, and large frames run in tiles sized to a budget.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import torch
from tqdm import tqdm

from spectraframe.archs.rbpn import RBPN
from spectraframe.data.windows import neighbour_indices
from spectraframe.errors import SpectraFrameError
from spectraframe.io.tensors import to_tensor, to_uint8
from spectraframe.io.video import EncoderSettings, output_format, resolve_encoder
from spectraframe.upscale.memory import default_memory_budget, default_tile_overlap, tile_for_budget
from spectraframe.upscale.scenes import SceneCutDetector
from spectraframe.upscale.sinks import FrameFolderSink, OutputSink, SegmentedVideoSink, work_dir_for
from spectraframe.upscale.sources import FrameSource
from spectraframe.upscale.weights import default_weights_path

log = logging.getLogger(__name__)

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class UpscaleOptions:
    weights: Path | None = None  # None: the default weights shipped with the package
    scale: int | None = None  # when given, the weights must be for this scale
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    precision: str = "fp32"  # fp32 | bf16 | fp16
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


def _duration(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}h{minutes:02d}m{secs:04.1f}s" if hours else (f"{minutes}m{secs:04.1f}s" if minutes else
                                                                     f"{secs:.1f}s")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise SpectraFrameError(f"unknown device {name!r}; use auto, cpu, cuda or mps") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SpectraFrameError("--device cuda was asked for but PyTorch sees no CUDA GPU (use --device cpu)")
    if device.type == "mps" and not (torch.backends.mps.is_available()):
        raise SpectraFrameError("--device mps was asked for but this PyTorch has no MPS support (use --device cpu)")
    return device


def resolve_precision(name: str, device: torch.device) -> torch.dtype:
    if name not in PRECISIONS:
        raise SpectraFrameError(f"unknown precision {name!r}; use one of {', '.join(PRECISIONS)}")
    if name == "fp16" and device.type == "cpu":
        raise SpectraFrameError(
            "fp16 is not supported on the CPU (PyTorch has no fast fp16 CPU kernels and results would lose "
            "range); use --precision bf16 or fp32 on the CPU, fp16 on CUDA"
        )
    return PRECISIONS[name]


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def default_output(input_path: Path, scale: int, folder: Path | None = None) -> Path:
    """`clip.avi` -> `clip_x4.mp4`, frame folder `shots/` -> `shots_x4/` (PNGs), next to the input or in `folder`."""
    name = f"{input_path.stem}_x{scale}.mp4" if input_path.is_file() else f"{input_path.name}_x{scale}"
    return (folder or input_path.parent) / name


class Upscaler:
    """Loads the generator once; `run(input, output)` upscales one video or frame folder."""

    def __init__(self, options: UpscaleOptions | None = None, model: RBPN | None = None, metadata: dict | None = None):
        from spectraframe.checkpoints import load_generator

        self.options = options = options or UpscaleOptions()
        self.device = resolve_device(options.device)
        self.dtype = resolve_precision(options.precision, self.device)
        if model is None:
            weights = Path(options.weights) if options.weights else default_weights_path()
            model, metadata = load_generator(weights, self.device, scale=options.scale)
            self.weights_id = _file_digest(weights)
        else:
            if options.scale is not None and model.config.scale != options.scale:
                raise SpectraFrameError(f"the model is x{model.config.scale}, but x{options.scale} was asked for")
            self.weights_id = hashlib.sha256(
                b"".join(t.detach().cpu().numpy().tobytes() for t in model.state_dict().values())
            ).hexdigest()
        self.model = model.to(self.device).eval()
        self.metadata = metadata or {}
        self.config = model.config
        trained_with = self.metadata.get("flow_method", "coarse2fine")
        self.flow_method = options.flow_method or trained_with
        if self.flow_method != trained_with:
            log.warning("the weights were trained with %s flow; using %s", trained_with, self.flow_method)
        offsets = neighbour_indices(10_000, 20_001, self.config.num_frames)
        self.reach_back = 10_000 - min(offsets)
        self.reach_ahead = max(offsets) - 10_000
        self.weights_bytes = sum(p.numel() * p.element_size() for p in model.parameters())

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
        budget = options.max_memory or default_memory_budget()
        half = self.dtype != torch.float32
        tile = tile_for_budget(self.config, lr_height, lr_width, budget, overlap, half_precision=half,
                               weights_bytes=self.weights_bytes)
        return tile, overlap

    def _job(self, source: FrameSource, tile: int | None, overlap: int, settings: EncoderSettings | None) -> dict:
        stat = source.path.stat()
        return {
            "input": str(source.path.resolve()),
            "input_size": stat.st_size if source.path.is_file() else len(source.info.frame_names or []),
            "input_mtime_ns": stat.st_mtime_ns,
            "weights_sha256": self.weights_id,
            "flow_method": self.flow_method,
            "precision": self.options.precision,
            "device": self.device.type,
            "tile": tile,
            "tile_overlap": overlap if tile else None,
            "scene_detect": self.options.scene_detect,
            "segment_frames": self.options.segment_frames,
            "encoder": settings.to_dict() if settings else None,
            "fps": str(source.info.fps),
        }

    # -- running --------------------------------------------------------------------------------

    def run(
        self, input_path: str | Path, output: str | Path | None = None, *,
        on_frame: Callable[[int], None] | None = None,
    ) -> UpscaleResult:
        """Upscale one input. `on_frame(index)` is called after each output frame is handed to the encoder."""
        started = time.perf_counter()
        options = self.options
        source = FrameSource(input_path, folder_fps=options.fps)
        info = source.info
        scale = self.config.scale
        output = Path(output) if output else default_output(source.path, scale)
        if output.resolve() == source.path.resolve():
            raise SpectraFrameError(f"the output {output} is the input itself")
        notes = list(info.notes)
        for note in notes:
            log.warning("%s: %s", source.path, note)
        width, height = info.width * scale, info.height * scale
        tile, overlap = self.tiling(info.height, info.width)
        if tile:
            log.info("tiles of %dx%d LR pixels with %d px overlap (memory budget)", tile, tile, overlap)
        if output.suffix:
            settings = EncoderSettings(
                codec=resolve_encoder(options.codec), width=width, height=height, fps=info.fps,
                time_base=info.time_base, pix_fmt=options.pix_fmt, crf=options.crf, preset=options.preset,
            )
            format_name = output_format(output)
            sink: OutputSink = SegmentedVideoSink(
                output, self._job(source, tile, overlap, settings), format_name=format_name, settings=settings,
                frame_count=info.frame_count, segment_frames=options.segment_frames,
                source=source.path if info.kind == "video" else None,
                resume=options.resume, overwrite=options.overwrite,
            )
        else:
            names = info.frame_names or [f"frame_{i:06d}" for i in range(info.frame_count)]
            if info.variable_frame_rate:
                notes.append("PNG frames carry no timestamps: the variable frame timing is not kept")
            sink = FrameFolderSink(output, self._job(source, tile, overlap, None), names,
                                   resume=options.resume, overwrite=options.overwrite)
        resume_from = sink.resume_from
        if resume_from:
            log.info("resuming %s at frame %d of %d", output, resume_from, info.frame_count)
        try:
            frames = self._stream(source, sink, tile, overlap, resume_from, on_frame)
            if frames != info.frame_count:
                raise SpectraFrameError(f"{source.path}: expected {info.frame_count} frames, decoded {frames}")
            notes += sink.finish()
        except SpectraFrameError:
            _abort(sink)
            sink.discard()  # the input or the settings are at fault: nothing worth resuming
            raise
        except BaseException:
            _abort(sink)
            if work_dir_for(output).exists():
                log.error("interrupted: finished segments are kept in %s; rerun with --resume to continue",
                          work_dir_for(output))
            raise
        for note in notes[len(info.notes):]:
            log.warning("%s: %s", output, note)
        return UpscaleResult(source.path, output, width, height, info.frame_count,
                             time.perf_counter() - started, resume_from, notes)

    def _stream(self, source: FrameSource, sink: OutputSink, tile: int | None, overlap: int, resume_from: int,
                on_frame: Callable[[int], None] | None) -> int:
        """Decode, window, super-resolve and hand frames to the sink; returns the number of frames."""
        info = source.info
        buffer: dict[int, tuple[torch.Tensor, int]] = {}  # index -> (LR frame, pts)
        scene_start: dict[int, int] = {}
        cuts: set[int] = set()
        detector = SceneCutDetector() if self.options.scene_detect else None
        bar = tqdm(total=info.frame_count, initial=resume_from, unit="frame", desc=source.path.name,
                   disable=not self.options.progress, dynamic_ncols=True)
        next_target = 0
        decoded = 0
        current_scene = 0

        def process(t: int, last_known: int, ended: bool) -> None:
            # The window stays inside t's scene: it ends at the first cut after t (or the video's end).
            start, end = scene_start[t], None
            for j in range(t + 1, min(last_known, t + self.reach_ahead) + 1):
                if j in cuts:
                    end = j
                    break
            if end is None:
                end = last_known + 1 if ended else t + self.reach_ahead + 1
            indices = [start + i for i in neighbour_indices(t - start, end - start, self.config.num_frames)]
            if t >= resume_from:
                hr = self._super_resolve(buffer, t, indices, tile, overlap)
                sink.write(t, hr, buffer[t][1])
                bar.update(1)
                if on_frame is not None:
                    on_frame(t)
            for old in [i for i in buffer if i < t + 1 - self.reach_back]:
                del buffer[old]
                scene_start.pop(old, None)
                cuts.discard(old)

        try:
            for frame in source.frames():
                i = frame.index
                if detector is not None and detector.is_cut(frame.image) and i > 0:
                    cuts.add(i)
                    current_scene = i
                scene_start[i] = current_scene
                buffer[i] = (to_tensor(frame.image), frame.pts)
                decoded = i + 1
                while next_target + self.reach_ahead <= i:
                    process(next_target, i, ended=False)
                    next_target += 1
            while next_target < decoded:
                process(next_target, decoded - 1, ended=True)
                next_target += 1
        finally:
            bar.close()
        return decoded

    @torch.inference_mode()
    def _super_resolve(self, buffer, t: int, indices: Sequence[int], tile: int | None, overlap: int):
        from spectraframe.flow import estimate_flow
        from spectraframe.inference import super_resolve_frame

        target = buffer[t][0].to(self.device)
        # Replicated neighbours (clip ends, scene cuts) repeat indices: estimate each distinct flow once.
        unique = sorted(set(indices))
        frames = torch.stack([buffer[i][0] for i in unique]).to(self.device)
        flows = estimate_flow(target, frames, method=self.flow_method)
        position = {index: k for k, index in enumerate(unique)}
        order = torch.tensor([position[i] for i in indices], device=flows.device)
        hr = super_resolve_frame(
            self.model, target, frames[order], flows=flows[order],
            autocast_dtype=self.dtype, tile=tile, tile_overlap=overlap,
        )
        return to_uint8(hr)


def _abort(sink: OutputSink) -> None:
    abort = getattr(sink, "abort", None)
    if abort is not None:
        abort()


def upscale(
    inputs: Sequence[str | Path], output: str | Path | None = None, options: UpscaleOptions | None = None
) -> list[UpscaleResult]:
    """Upscale each input. With several inputs `output` is a folder that receives one output each."""
    options = options or UpscaleOptions()
    upscaler = Upscaler(options)
    results = []
    for path in inputs:
        path = Path(path)
        target = output
        if output is not None and len(inputs) > 1:
            target = default_output(path, upscaler.config.scale, Path(output))
        results.append(upscaler.run(path, target))
    return results
