"""What an upscaled output says about itself: the model in its default name (`clip_x4_real.mp4`), and tags in its
container (model, strength, scale, version) by which a later run over the same folder knows it and leaves it alone.

No torch here: a command names and recognises outputs before any model loads.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from spectraframe.errors import SpectraFrameError
from spectraframe.paths import is_ours
from spectraframe.upscale.output_size import size_label
from spectraframe.upscale.trim import Trim
from spectraframe.zoo import blendable_models, load_zoo, model_weights_path

log = logging.getLogger(__name__)

# Container tag keys (Matroska upper-cases them; read back case-insensitively).
TAG_PREFIX = "spectraframe_"
# The free-text tag every container keeps (AVI keeps no other): how an output is known where the others are lost.
COMMENT_PREFIX = "upscaled by spectraframe"
# Muxers that keep tags of any name only when asked to.
_TAG_OPTIONS = {"mp4": {"movflags": "use_metadata_tags"}, "mov": {"movflags": "use_metadata_tags"}}


def _model_of_file(weights: Path | None) -> str | None:
    """The model name of a shipped weights file; None for any other file."""
    if weights is None:
        return None
    model = next((m for m in load_zoo().models if m.file == weights.name), None)
    if model is None:
        return None
    try:
        if model_weights_path(model.name).resolve() != weights.resolve():
            return None  # a file of the same name elsewhere: somebody's own weights
    except (SpectraFrameError, OSError):
        return None
    return model.name


def model_label(weights: Path | None, blend: tuple[str, float] | None = None) -> str | None:
    """What default names add after the scale: `real`, `perceptual-0.5` (a blend), `compact`; None for the
    default model and for weights files of one's own (the name then says only the scale). `weights`: the resolved
    file (`weights.resolve_weights`)."""
    if blend is not None:
        model, strength = blend
        return model if strength >= 1 else f"{model}-{strength:g}"
    model = _model_of_file(weights)
    return None if model in (None, load_zoo().default_model) else model


def name_tag(scale: int, height: int | None = None, outscale: float | None = None, label: str | None = None,
             trim: Trim | None = None) -> str:
    """What default output names add to the input's: the size (`x4`, `x2`, `1080p`), the model when it is not the
    default (`x4_real`, `x4_perceptual-0.5`) and a trimmed section (`x4_30s-40s`, `x4_30s-end`)."""
    parts = [size_label(scale, height, outscale)]
    if label:
        parts.append(label)
    if trim is not None and not trim.whole:
        end = f"{trim.start + trim.duration:g}s" if trim.duration is not None else "end"
        parts.append(f"{trim.start:g}s-{end}")
    return "_".join(parts)


# An extension: a letter, then letters or digits. `shots_x1.5` and `shots_x2_perceptual-0.5` name folders.
_EXTENSION = re.compile(r"^\.[A-Za-z][A-Za-z0-9]*$")


def names_a_video(output: Path) -> bool:
    """Whether an output name is a video file (it has an extension), else a folder of PNG frames."""
    return bool(_EXTENSION.match(output.suffix))


# Input containers kept for the default output: they hold H.264 and the subtitles MP4 would drop.
KEPT_CONTAINERS = (".mkv", ".mov")


def default_output(input_path: Path, scale: int | str, folder: Path | None = None) -> Path:
    """`clip.avi` -> `clip_x4.mp4`, `clip.mkv` -> `clip_x4.mkv` (and .mov), frame folder `shots/` -> `shots_x4/`
    (PNGs), next to the input or in `folder`. A string `scale` is the tag itself (`1080p`, `x4_real`: `name_tag`)."""
    tag = scale if isinstance(scale, str) else f"x{scale}"
    if input_path.is_file():
        suffix = input_path.suffix if input_path.suffix.lower() in KEPT_CONTAINERS else ".mp4"
        name = f"{input_path.stem}_{tag}{suffix}"
    else:
        name = f"{input_path.name}_{tag}"
    return (folder or input_path.parent) / name


def blend_of_metadata(metadata: dict | None) -> tuple[str, float] | None:
    """(MODEL, STRENGTH) of a generator that `weights.blended_model` made, from its metadata; else None."""
    blend = ((metadata or {}).get("provenance") or {}).get("blend")
    if not blend:
        return None
    by_file = {model.file: model.name for model in load_zoo().models}
    return by_file.get(blend["model"], Path(blend["model"]).stem), float(blend["strength"])


def output_tags(label: str | None, blend: tuple[str, float] | None, scale_tag: str) -> dict[str, str]:
    """The container tags of an output: model, strength (blends), scale and version, and a readable comment."""
    from spectraframe import __version__

    model = blend[0] if blend is not None else (label or "default")
    tags = {f"{TAG_PREFIX}version": __version__, f"{TAG_PREFIX}model": model, f"{TAG_PREFIX}scale": scale_tag}
    if blend is not None or model in blendable_models():  # a fine-tune: how much of it (1 when not blended)
        tags[f"{TAG_PREFIX}strength"] = f"{blend[1] if blend is not None else 1:g}"
    strength = f" at strength {blend[1]:g}" if blend is not None else ""
    tags["comment"] = f"{COMMENT_PREFIX} {__version__}: {scale_tag}, model {model}{strength}"
    return tags


def muxer_options(format_name: str) -> dict[str, str]:
    """Options the muxer needs to keep `output_tags` (MP4 and MOV drop tags they have no atom for otherwise)."""
    return dict(_TAG_OPTIONS.get(format_name, {}))


def read_output_tags(path: Path) -> dict[str, str] | None:
    """Our tags of a video file (keys without the prefix, `comment` kept), or None when we did not make it."""
    import av

    try:
        with av.open(str(path)) as container:
            metadata = {key.lower(): value for key, value in container.metadata.items()}
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        log.debug("%s: no container tags read (%s)", path, exc)
        return None
    ours = {key[len(TAG_PREFIX):]: value for key, value in metadata.items() if key.startswith(TAG_PREFIX)}
    comment = metadata.get("comment", "")
    if not ours and not comment.startswith(COMMENT_PREFIX):
        return None
    return {**ours, "comment": comment}


def made_by_us(path: Path) -> str | None:
    """Why `path` is one of our outputs (a sentence part), or None: a frames folder with our marker, or a video with
    our tags."""
    if path.is_dir():
        return "a frames output of spectraframe (it holds our marker file)" if is_ours(path) else None
    tags = read_output_tags(path)
    if tags is None:
        return None
    what = tags["comment"][len(COMMENT_PREFIX):].strip(" :") if tags["comment"].startswith(COMMENT_PREFIX) else ""
    return f"an output of spectraframe ({what or 'tagged ' + TAG_PREFIX + '*'})"
