"""PSNR and SSIM as the video-SR benchmark protocol computes them.

Y channel of ITU-R BT.601 on 0..255 (16-235 range, not rounded) by default, or all RGB channels;
optional border crop; PSNR with peak 255; SSIM with an 11x11 Gaussian window (sigma 1.5),
K1 = 0.01, K2 = 0.03, "valid" filtering, mean of the map (RGB: mean over channels). Everything is
computed in float64.

Images are either (H, W, 3) uint8 arrays, or float tensors in [0, 1] shaped (3, H, W) (one image,
a float is returned) or (N, 3, H, W) (a batch, an (N,) float64 tensor is returned). Float inputs
are scored as given: round them to uint8 first to follow the protocol (`evaluate` does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np
import torch

CHANNELS = ("y", "rgb")
_BT601_Y = (65.481, 128.553, 24.966)


def _as_batch_255(image: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, bool]:
    """Any accepted input -> ((N, 3, H, W) float64 on 0..255, whether the input was a batch)."""
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) array, got {image.shape}")
        tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).to(torch.float64)
        if image.dtype != np.uint8:
            raise ValueError(f"numpy images must be uint8 (H, W, 3), got {image.dtype}")
        return tensor[None], False
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"expected a numpy array or torch tensor, got {type(image).__name__}")
    if image.ndim == 3:
        batch, batched = image[None], False
    elif image.ndim == 4:
        batch, batched = image, True
    else:
        raise ValueError(f"expected (3, H, W) or (N, 3, H, W), got shape {tuple(image.shape)}")
    if batch.shape[1] != 3:
        raise ValueError(f"expected 3 channels, got shape {tuple(image.shape)}")
    if batch.dtype == torch.uint8:
        return batch.to(torch.float64), batched
    return batch.detach().to(torch.float64) * 255.0, batched


def rgb_to_y(rgb_255: torch.Tensor) -> torch.Tensor:
    """BT.601 luma on 0..255: Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255; (..., 3, H, W) -> (..., 1, H, W)."""
    r, g, b = (rgb_255.narrow(-3, i, 1) for i in range(3))
    # In-place accumulation: several times faster than a broadcast multiply + sum on large frames.
    y = r * (_BT601_Y[0] / 255.0)
    y.add_(g, alpha=_BT601_Y[1] / 255.0).add_(b, alpha=_BT601_Y[2] / 255.0)
    return y.add_(16.0)


def _prepare(
    output: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor, channel: str, border: int
) -> tuple[torch.Tensor, torch.Tensor, bool]:
    if channel not in CHANNELS:
        raise ValueError(f"channel must be one of {CHANNELS}, got {channel!r}")
    out, batched = _as_batch_255(output)
    tgt, _ = _as_batch_255(target)
    tgt = tgt.to(out.device)
    if out.shape != tgt.shape:
        raise ValueError(f"output and target differ in shape: {tuple(out.shape)} vs {tuple(tgt.shape)}")
    if border:
        out = out[..., border:-border, border:-border]
        tgt = tgt[..., border:-border, border:-border]
    if channel == "y":
        out, tgt = rgb_to_y(out), rgb_to_y(tgt)
    return out, tgt, batched


def _result(values: torch.Tensor, batched: bool) -> torch.Tensor | float:
    return values if batched else float(values[0])


def _psnr_values(out: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
    mse = ((out - tgt) ** 2).mean(dim=(1, 2, 3))
    return 10.0 * torch.log10(255.0**2 / mse)  # mse == 0 gives inf, as it should


def psnr(
    output: np.ndarray | torch.Tensor,
    target: np.ndarray | torch.Tensor,
    channel: str = "y",
    border: int = 0,
) -> torch.Tensor | float:
    """PSNR in dB with peak 255 (inf for identical images)."""
    out, tgt, batched = _prepare(output, target, channel, border)
    return _result(_psnr_values(out, tgt), batched)


SSIM_WINDOW = 11  # taps of the Gaussian window (sigma 1.5): images must be at least this large


@lru_cache(maxsize=4)
def _gaussian_window_1d(size: int = SSIM_WINDOW, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _filter_valid(planes: torch.Tensor, window: Sequence[float]) -> torch.Tensor:
    """Separable 'valid' filtering of (..., H, W) by accumulating shifted slices.

    Several times faster on CPU than conv2d with a 1-D kernel (which has no fast float64 path).
    """
    taps = len(window)
    h = planes.shape[-2] - taps + 1
    rows = planes[..., 0:h, :] * window[0]
    for i in range(1, taps):
        rows.add_(planes[..., i : i + h, :], alpha=window[i])
    w = planes.shape[-1] - taps + 1
    out = rows[..., 0:w] * window[0]
    for i in range(1, taps):
        out.add_(rows[..., i : i + w], alpha=window[i])
    return out


def _ssim_values(out: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
    n, c, h, w = out.shape
    if min(h, w) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} after the border crop, "
                         f"got {w}x{h}")
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    window = [float(v) for v in _gaussian_window_1d()]
    x = out.reshape(n * c, h, w)
    y = tgt.reshape(n * c, h, w)
    # One filtering pass over the five planes that SSIM needs.
    stats = _filter_valid(torch.stack([x, y, x * x, y * y, x * y], dim=1), window)
    mu_x, mu_y, xx, yy, xy = stats.unbind(dim=1)
    var_x = xx - mu_x**2
    var_y = yy - mu_y**2
    cov = xy - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.reshape(n, c, -1).mean(dim=2).mean(dim=1)


def ssim(
    output: np.ndarray | torch.Tensor,
    target: np.ndarray | torch.Tensor,
    channel: str = "y",
    border: int = 0,
) -> torch.Tensor | float:
    """SSIM (Wang et al. 2004) with an 11x11 Gaussian window, sigma 1.5, valid filtering."""
    out, tgt, batched = _prepare(output, target, channel, border)
    return _result(_ssim_values(out, tgt), batched)


def psnr_ssim(
    output: np.ndarray | torch.Tensor,
    target: np.ndarray | torch.Tensor,
    channel: str = "y",
    border: int = 0,
) -> tuple[torch.Tensor | float, torch.Tensor | float]:
    """(PSNR, SSIM) together, converting to Y only once."""
    out, tgt, batched = _prepare(output, target, channel, border)
    return _result(_psnr_values(out, tgt), batched), _result(_ssim_values(out, tgt), batched)


def clip_mean(values: Sequence[float]) -> float:
    """Mean over the frames of one clip."""
    if len(values) == 0:
        raise ValueError("a clip with no scored frames has no mean")
    return float(np.mean(np.asarray(values, dtype=np.float64)))


def mean_of_clip_means(per_clip: Mapping[str, Sequence[float]]) -> float:
    """The protocol's dataset score: the mean over clips of each clip's frame mean."""
    if not per_clip:
        raise ValueError("no clips to average")
    return float(np.mean([clip_mean(v) for v in per_clip.values()]))
