"""Looking at and exchanging flows: Middlebury colour coding, ``.flo`` files, ``.npy`` files.

The colour coding is the one of Baker et al., "A Database and Evaluation Methodology for Optical Flow"
(the Middlebury ``flowToColor``): hue = direction, saturation = magnitude relative to the largest one.
``.flo`` is the Middlebury binary format (float32 tag 202021.25, int32 width, int32 height, then
row-major interleaved u, v float32). Our ``.npy`` files hold the flow as (2, H, W) float32.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from spectraframe.errors import SpectraFrameError

FLO_TAG = 202021.25
# Hue segments of the Middlebury colour wheel: red-yellow, yellow-green, green-cyan, cyan-blue,
# blue-magenta, magenta-red.
WHEEL_SEGMENTS = (15, 6, 4, 11, 13, 6)


def color_wheel() -> np.ndarray:
    """(55, 3) float colours in [0, 255] around the Middlebury wheel."""
    red_yellow, yellow_green, green_cyan, cyan_blue, blue_magenta, magenta_red = WHEEL_SEGMENTS
    wheel = np.zeros((sum(WHEEL_SEGMENTS), 3))
    col = 0
    wheel[col:col + red_yellow, 0] = 255
    wheel[col:col + red_yellow, 1] = np.floor(255 * np.arange(red_yellow) / red_yellow)
    col += red_yellow
    wheel[col:col + yellow_green, 0] = 255 - np.floor(255 * np.arange(yellow_green) / yellow_green)
    wheel[col:col + yellow_green, 1] = 255
    col += yellow_green
    wheel[col:col + green_cyan, 1] = 255
    wheel[col:col + green_cyan, 2] = np.floor(255 * np.arange(green_cyan) / green_cyan)
    col += green_cyan
    wheel[col:col + cyan_blue, 1] = 255 - np.floor(255 * np.arange(cyan_blue) / cyan_blue)
    wheel[col:col + cyan_blue, 2] = 255
    col += cyan_blue
    wheel[col:col + blue_magenta, 2] = 255
    wheel[col:col + blue_magenta, 0] = np.floor(255 * np.arange(blue_magenta) / blue_magenta)
    col += blue_magenta
    wheel[col:col + magenta_red, 2] = 255 - np.floor(255 * np.arange(magenta_red) / magenta_red)
    wheel[col:col + magenta_red, 0] = 255
    return wheel


def _as_numpy_flow(flow: torch.Tensor | np.ndarray) -> np.ndarray:
    """(2, H, W) tensor or array -> (2, H, W) float32 array, NaN/Inf replaced by 0."""
    array = flow.detach().cpu().numpy() if isinstance(flow, torch.Tensor) else np.asarray(flow)
    if array.ndim != 3 or array.shape[0] != 2:
        raise SpectraFrameError(f"a flow must be shaped (2, H, W), got {array.shape}")
    return np.nan_to_num(array.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)


def flow_to_color(flow: torch.Tensor | np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """(2, H, W) flow -> (H, W, 3) uint8 RGB image in the Middlebury colour coding.

    Magnitudes are divided by ``max_magnitude`` (default: the largest magnitude in the flow), so the
    most saturated colour marks the fastest motion; a zero flow is white."""
    u, v = _as_numpy_flow(flow)
    magnitude = np.sqrt(u * u + v * v)
    scale = float(max_magnitude) if max_magnitude is not None else float(magnitude.max())
    if scale > 0:
        u, v, magnitude = u / scale, v / scale, magnitude / scale
    wheel = color_wheel()
    ncols = wheel.shape[0]
    angle = np.arctan2(-v, -u) / np.pi
    position = (angle + 1) / 2 * (ncols - 1)
    k0 = np.floor(position).astype(int)
    k1 = (k0 + 1) % ncols
    fraction = (position - k0)[..., None]
    colour = ((1 - fraction) * wheel[k0] + fraction * wheel[k1]) / 255.0
    radius = magnitude[..., None]
    inside = radius <= 1
    # Within the unit disc saturation grows with the magnitude; beyond it the colour is darkened.
    colour = np.where(inside, 1 - radius * (1 - colour), colour * 0.75)
    return np.clip(np.floor(255 * colour), 0, 255).astype(np.uint8)


def write_flo(path: str | Path, flow: torch.Tensor | np.ndarray) -> None:
    """Write a (2, H, W) flow as a Middlebury ``.flo`` file."""
    array = _as_numpy_flow(flow)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _, height, width = array.shape
    with path.open("wb") as handle:
        np.array([FLO_TAG], dtype="<f4").tofile(handle)
        np.array([width, height], dtype="<i4").tofile(handle)
        np.ascontiguousarray(array.transpose(1, 2, 0)).astype("<f4").tofile(handle)


def read_flo(path: str | Path) -> torch.Tensor:
    """Read a Middlebury ``.flo`` file as a (2, H, W) float32 tensor."""
    path = Path(path)
    if not path.is_file():
        raise SpectraFrameError(f"flow file not found: {path}")
    data = path.read_bytes()
    if len(data) < 12 or np.frombuffer(data[:4], dtype="<f4")[0] != np.float32(FLO_TAG):
        raise SpectraFrameError(f"{path} is not a .flo file (missing the 202021.25 tag)")
    width, height = (int(x) for x in np.frombuffer(data[4:12], dtype="<i4"))
    expected = 12 + 8 * width * height
    if width <= 0 or height <= 0 or len(data) != expected:
        raise SpectraFrameError(
            f"{path}: header says {width}x{height}, which needs {expected} bytes, but the file has {len(data)}"
        )
    values = np.frombuffer(data[12:], dtype="<f4").reshape(height, width, 2)
    return torch.from_numpy(values.transpose(2, 0, 1).astype(np.float32))


def write_flow(path: str | Path, flow: torch.Tensor | np.ndarray) -> None:
    """Write a (2, H, W) flow as ``.flo`` (Middlebury) or ``.npy`` ((2, H, W) float32), by suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".flo":
        write_flo(path, flow)
    elif suffix == ".npy":
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, _as_numpy_flow(flow), allow_pickle=False)
    else:
        raise SpectraFrameError(f"unknown flow file type {path.suffix!r} for {path}: use .flo or .npy")


def read_flow(path: str | Path) -> torch.Tensor:
    """Read a ``.flo`` or ``.npy`` flow file as a (2, H, W) float32 tensor."""
    path = Path(path)
    if path.suffix.lower() == ".flo":
        return read_flo(path)
    if path.suffix.lower() != ".npy":
        raise SpectraFrameError(f"unknown flow file type {path.suffix!r} for {path}: use .flo or .npy")
    if not path.is_file():
        raise SpectraFrameError(f"flow file not found: {path}")
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise SpectraFrameError(f"cannot read flow file {path}: {exc}") from exc
    if array.ndim != 3 or array.shape[0] != 2:
        raise SpectraFrameError(f"{path} holds an array of shape {array.shape}; a flow is (2, H, W)")
    return torch.from_numpy(array.astype(np.float32))
