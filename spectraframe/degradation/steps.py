"""The evaluation degradation syntax: a clean degradation followed by '+'-separated steps on the LR clip.

    bi                       MATLAB bicubic (the benchmark protocol)
    bi+h264:crf=28           ... then the LR clip through libx264 (yuv420p, CRF 28, preset medium) as one sequence
    bi+mpeg4:bitrate=200k    ... then through FFmpeg's mpeg4 at 200 kbit/s (25 fps)
    bi+noise:sigma=5         ... then Gaussian noise of standard deviation 5 (on the 0-255 scale), per pixel and
                             channel, rounded back to uint8
    bd+jpeg:quality=40       ... BD blur, then every frame through JPEG at quality 40
    bi+noise:sigma=3+h264:crf=23   steps run left to right

A step's parameters are `key=value` pairs separated by commas (`h264:crf=23,preset=slow`); the ones left out
keep the defaults of `STEPS`. Every step is deterministic: the codecs are (see `codec`), and the noise of a clip
is drawn from a generator seeded with the clip's name and the step's position, so a clip gets the same noise
whatever else is evaluated with it.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from spectraframe.cli_numbers import integer, real
from spectraframe.degradation.bicubic import DEGRADATIONS
from spectraframe.errors import SpectraFrameError
from spectraframe.io.tensors import quantize

SYNTAX_HELP = ("a clean degradation (bi or bd) followed by '+'-separated steps with key=value parameters, e.g. "
               "bi+h264:crf=28, bi+mpeg4:bitrate=200k, bi+noise:sigma=5, bi+jpeg:quality=40")


def parse_bitrate(text: str) -> int:
    """'200k' -> 200000, '1.5M' -> 1500000, '96000' -> 96000 (bits per second), from 1k to 1000M."""
    multiplier = {"k": 1_000, "m": 1_000_000}.get(text[-1:].lower(), 1)
    try:
        value = real(1000 / multiplier, 10**9 / multiplier).parse(text[:-1] if multiplier > 1 else text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a bit rate from 1k to 1000M (bits per second)") from exc
    return int(round(value * multiplier))


def _preset(text: str) -> str:
    from spectraframe.degradation.codec import X264_PRESETS

    if text not in X264_PRESETS:
        raise ValueError(f"must be one of {', '.join(X264_PRESETS)}")
    return text


def _switch(text: str) -> bool:
    if text not in ("0", "1"):
        raise ValueError("must be 0 or 1")
    return text == "1"


# Step name -> {parameter: (parser, default)}.
STEPS: dict[str, dict[str, tuple[Callable[[str], object], object]]] = {
    "h264": {"crf": (real(0, 51).parse, 23.0), "preset": (_preset, "medium")},
    "mpeg4": {"bitrate": (parse_bitrate, 200_000)},
    "noise": {"sigma": (real(0, 255).parse, 5.0), "gray": (_switch, False)},
    "jpeg": {"quality": (integer(1, 100).parse, 75)},
}


@dataclass(frozen=True)
class Step:
    name: str
    params: dict = field(default_factory=dict)

    def __str__(self) -> str:
        values = ",".join(f"{k}={_format(v)}" for k, v in self.params.items())
        return f"{self.name}:{values}"


def _format(value: object) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@dataclass(frozen=True)
class DegradationSpec:
    """A parsed degradation: the clean `base` ("bi" or "bd") and the steps after it."""

    base: str
    steps: tuple[Step, ...] = ()

    def __str__(self) -> str:
        """The canonical spelling, every parameter written out: bi+h264:crf=28,preset=medium."""
        return "+".join([self.base, *(str(step) for step in self.steps)])


def parse_degradation(text: str) -> DegradationSpec:
    """`bi+h264:crf=28` -> DegradationSpec("bi", (Step("h264", {"crf": 28.0, "preset": "medium"}),)).

    Every mistake is a SpectraFrameError that names the part at fault and what would be accepted."""
    if not isinstance(text, str) or not text.strip():
        raise SpectraFrameError(f"empty degradation: write {SYNTAX_HELP}")
    base, *parts = text.strip().split("+")
    if base not in DEGRADATIONS:
        raise SpectraFrameError(f"degradation {text!r} must start with a clean degradation, one of "
                                f"{', '.join(DEGRADATIONS)}, not {base!r}: {SYNTAX_HELP}")
    return DegradationSpec(base, tuple(_parse_step(part, text) for part in parts))


def _parse_step(part: str, text: str) -> Step:
    name, _, arguments = part.partition(":")
    if name not in STEPS:
        known = ", ".join(STEPS)
        raise SpectraFrameError(f"unknown degradation step {name!r} in {text!r}: the steps are {known} ({SYNTAX_HELP})")
    schema = STEPS[name]
    params = {key: default for key, (_, default) in schema.items()}
    given: set[str] = set()
    for item in filter(None, arguments.split(",")):
        key, sep, raw = item.partition("=")
        if not sep:
            raise SpectraFrameError(f"parameter {item!r} of step {name!r} in {text!r} must be key=value, e.g. "
                                    f"{next(iter(schema))}={_format(next(iter(schema.values()))[1])}")
        if key not in schema:
            raise SpectraFrameError(f"step {name!r} in {text!r} has no parameter {key!r}; its parameters are "
                                    f"{', '.join(schema)}")
        if key in given:
            raise SpectraFrameError(f"step {name!r} in {text!r} gives {key} twice: keep one value")
        given.add(key)
        try:
            params[key] = schema[key][0](raw)
        except ValueError as exc:
            raise SpectraFrameError(f"bad value for {name}:{key} in {text!r}: {exc}") from exc
    return Step(name, params)


def clip_seed(clip_name: str, position: int) -> int:
    """The noise seed of step `position` on a clip: fixed by the clip's name, not by the order clips come in."""
    return zlib.crc32(f"{clip_name}#{position}".encode())


def apply_steps(lr: torch.Tensor, spec: DegradationSpec, clip_name: str = "") -> torch.Tensor:
    """The steps of `spec` on an LR clip (T, 3, h, w) float in [0, 1] on the uint8 grid: the degraded clip, float32
    on the uint8 grid, on the clip's device. The base degradation is the caller's (it needs the HR clip)."""
    from spectraframe.degradation.codec import VideoCompression, compress_clip
    from spectraframe.degradation.realworld import add_gaussian_noise, jpeg_compress

    for position, step in enumerate(spec.steps):
        p = step.params
        if step.name == "h264":
            lr = compress_clip(lr, VideoCompression("libx264", crf=p["crf"], preset=p["preset"]))
        elif step.name == "mpeg4":
            lr = compress_clip(lr, VideoCompression("mpeg4", bitrate=p["bitrate"]))
        elif step.name == "noise":
            generator = torch.Generator().manual_seed(clip_seed(clip_name, position))
            noisy = add_gaussian_noise(lr.double().cpu(), p["sigma"] / 255.0, gray=p["gray"], generator=generator)
            lr = quantize(noisy.clamp(0, 1)).to(device=lr.device, dtype=torch.float32)
        elif step.name == "jpeg":
            lr = jpeg_compress(lr, p["quality"])
        else:  # pragma: no cover - parse_degradation admits only the names of STEPS
            raise SpectraFrameError(f"no implementation for degradation step {step.name!r}")
    return lr
