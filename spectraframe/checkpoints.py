"""Checkpoints: our safetensors format (weights + JSON metadata) and the published `.pth` files.

Our format: one `.safetensors` file whose header metadata holds, under the key "spectraframe", a JSON
document with the architecture config, scale, frame count, flow method and training provenance, so
loading builds the right network from the file alone. Published RBPN / SRGAN checkpoints (`.pth`, keys
possibly prefixed by `module.` from `nn.DataParallel`) load with `torch.load(weights_only=True)`: a
checkpoint can never run code on the user's machine.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from spectraframe.archs.overparameterise import fused
from spectraframe.archs.rbpn import PROJECTION_GEOMETRY, RBPN, RBPNConfig, bicubic_residual
from spectraframe.archs.rbpn_int8 import QuantizedRBPN, is_quantizer_state
from spectraframe.archs.srgan_discriminator import Discriminator
from spectraframe.errors import SpectraFrameError
from spectraframe.flow.names import DEFAULT_FLOW_METHOD
from spectraframe.paths import atomic_write, require_file

METADATA_KEY = "spectraframe"
FORMAT_VERSION = 1
_KERNEL_TO_SCALE = {kernel: scale for scale, (kernel, _, _) in PROJECTION_GEOMETRY.items()}


# --- writing ------------------------------------------------------------------------------------


def _save(path: str | Path, state: Mapping[str, Tensor], metadata: dict) -> Path:
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    header = {METADATA_KEY: json.dumps({"format_version": FORMAT_VERSION, **metadata}, sort_keys=True)}
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=header))


def save_generator(
    path: str | Path,
    model: RBPN,
    *,
    flow_method: str = DEFAULT_FLOW_METHOD,
    provenance: dict | None = None,
) -> Path:
    """Write an RBPN in our format. `provenance`: data, iterations, wall time, metrics — anything JSON. A model
    trained over-parameterised is written fused: a plain RBPN of its shape."""
    model = fused(model)
    config = model.config
    metadata = {
        "architecture": "RBPN",
        **({"quantize": "int8"} if isinstance(model, QuantizedRBPN) else {}),
        "config": config.to_dict(),
        "scale": config.scale,
        "num_frames": config.num_frames,
        "flow_method": flow_method,
        "provenance": provenance or {},
    }
    return _save(path, model.state_dict(), metadata)


def save_discriminator(path: str | Path, model: Discriminator, *, provenance: dict | None = None) -> Path:
    return _save(path, model.state_dict(), {"architecture": "SRGANDiscriminator", "provenance": provenance or {}})


# --- reading ------------------------------------------------------------------------------------


def _sniff_format(path: Path) -> str:
    """"safetensors", "torch" (zip or legacy pickle) or "unknown", from the first bytes, not the extension."""
    with open(path, "rb") as handle:
        head = handle.read(9)
    if len(head) == 9 and head[8:9] == b"{":  # u64 header length, then the JSON header
        header_length = int.from_bytes(head[:8], "little")
        if 2 <= header_length <= path.stat().st_size - 8:
            return "safetensors"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\x80"):
        return "torch"
    return "unknown"


def read_metadata(path: str | Path) -> dict:
    """The JSON metadata of one of our safetensors files (a JSON object, checked)."""
    from safetensors import safe_open

    path = _existing(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
    except (SafetensorError, OSError) as exc:
        raise SpectraFrameError(f"{path} is not a readable safetensors file (corrupt or truncated?): {exc}") from exc
    if METADATA_KEY not in header:
        raise SpectraFrameError(
            f"{path} has no SpectraFrame metadata: it was not written by spectraframe. "
            "Published RBPN checkpoints are .pth files and load as they are."
        )
    try:
        metadata = json.loads(header[METADATA_KEY])
    except json.JSONDecodeError as exc:
        raise SpectraFrameError(f"{path}: its SpectraFrame metadata is not valid JSON: {exc}") from exc
    if not isinstance(metadata, dict):
        raise SpectraFrameError(f"{path}: its SpectraFrame metadata is a JSON {type(metadata).__name__}, not an object "
                                "with the architecture and config; the file is damaged or was not written by us")
    return metadata


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise SpectraFrameError(f"checkpoint not found: {path}")
    return require_file(path, "checkpoint")


def load_torch_file(path: str | Path, what: str = "checkpoint") -> Any:
    """`torch.load(weights_only=True)` with its failures in one sentence: a checkpoint never runs code, and the
    user never reads PyTorch's advice to load an untrusted file unsafely."""
    path = require_file(path, what)
    kind = _sniff_format(path)
    if kind == "safetensors":
        raise SpectraFrameError(f"{what} {path} is a safetensors file, not a PyTorch checkpoint")
    if kind != "torch":
        raise SpectraFrameError(f"cannot read {what} {path}: it is not a PyTorch checkpoint (nor a safetensors file)")
    try:
        with open(path, "rb") as handle:  # a file object: torch would pick a loader by the file name's suffix
            return torch.load(handle, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" in str(exc):  # a reference to a class or function: an object, maybe code
            raise SpectraFrameError(
                f"cannot read {what} {path}: it holds Python objects other than tensors, which are refused because "
                "loading them could run code; use a checkpoint of plain tensors or a .safetensors file"
            ) from None
        raise SpectraFrameError(f"cannot read {what} {path}: it is truncated, corrupt or not a PyTorch checkpoint") \
            from None
    except Exception:  # torch raises several types for bad zips, truncation and odd payloads
        raise SpectraFrameError(f"cannot read {what} {path}: it is truncated, corrupt or not a PyTorch checkpoint") \
            from None


def _read_safetensors(path: Path) -> dict[str, Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise SpectraFrameError(f"{path} is not a readable safetensors file (corrupt or truncated?): {exc}") from exc


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Tensors of a checkpoint in either format (told apart by content), with any `module.` prefix removed."""
    path = _existing(path)
    if _sniff_format(path) == "safetensors":
        return _without_prefix(_read_safetensors(path))
    return _without_prefix(_unwrap(load_torch_file(path), path))


def _without_prefix(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {k.removeprefix("module."): v for k, v in state.items()}


def _unwrap(loaded: Any, path: Path) -> dict[str, Tensor]:
    # Training scripts often wrap the weights: {"state_dict": ...}, {"model": ...}, {"netG": ...}.
    if isinstance(loaded, Mapping):
        if loaded and all(isinstance(v, Tensor) for v in loaded.values()):
            return dict(loaded)
        for key in ("state_dict", "model", "generator", "netG", "params"):
            if isinstance(loaded.get(key), Mapping):
                return _unwrap(loaded[key], path)
    raise SpectraFrameError(f"{path} holds no state dict of tensors (found {type(loaded).__name__})")


# Bounds of metadata values: far above any real network, far below what would exhaust memory when built.
CONFIG_LIMITS = {"num_frames": (2, 64), "base_filter": (1, 4096), "feat": (1, 4096), "num_stages": (1, 16),
                 "n_resblock": (0, 64)}


def rbpn_config_from_metadata(values: Any, source: str) -> RBPNConfig:
    """An RBPNConfig from a file's recorded config, its types and ranges checked before anything is built."""
    if not isinstance(values, Mapping):
        raise SpectraFrameError(f"{source}: its recorded config is a {type(values).__name__}, not a mapping of the "
                                "architecture's fields; the file is damaged or was not written by spectraframe")
    defaults = RBPNConfig()
    known = {}
    for name in RBPNConfig.__dataclass_fields__:
        if name not in values or values[name] is None:
            continue
        value, default = values[name], getattr(defaults, name)
        kind = type(default)
        if (kind is bool and not isinstance(value, bool)) or (kind is int and (isinstance(value, bool) or not
                                                                                isinstance(value, int))) \
                or (kind is str and not isinstance(value, str)):
            raise SpectraFrameError(f"{source}: its recorded config has {name}={value!r}, expected {kind.__name__}")
        low, high = CONFIG_LIMITS.get(name, (None, None))
        if low is not None and not low <= value <= high:
            raise SpectraFrameError(f"{source}: its recorded config has {name}={value}, outside {low}..{high}; the "
                                    "file is damaged or was not written by spectraframe")
        known[name] = value
    try:
        return RBPNConfig.from_dict(known)
    except SpectraFrameError as exc:
        raise SpectraFrameError(f"{source}: its recorded config is invalid: {exc}") from exc


def infer_rbpn_config(state: Mapping[str, Tensor], source: str = "checkpoint") -> RBPNConfig:
    """Recover the RBPN architecture from the shapes and names of its weights (published checkpoints carry no
    config). Shapes cannot tell whether the bicubic residual is added: `residual` is False here."""
    try:
        base_filter = state["feat1.conv.weight"].shape[0]
        output = state["output.conv.weight"].shape
        if "DBPN.up1.up_conv1.deconv.weight" in state:  # the published layout: strided (de)convolutions
            layout, up = "hr", "deconv"
            kernel = state["DBPN.up1.up_conv1.deconv.weight"].shape[-1]
            feat = state["DBPN.feat1.conv.weight"].shape[0]
            scale = _KERNEL_TO_SCALE.get(kernel)
            if scale is None:
                raise SpectraFrameError(f"{source}: projection kernel {kernel} matches no supported scale (2, 4, 8)")
        else:  # the lr layout: 3x3 projections, the output pixel-shuffled from 3 * scale**2 channels
            layout, up = "lr", "conv"
            feat = state["DBPN.up1.up_conv1.conv.weight"].shape[0]
            scale = round((output[0] / 3) ** 0.5)
            if scale not in PROJECTION_GEOMETRY or 3 * scale**2 != output[0]:
                raise SpectraFrameError(f"{source}: {output[0]} output channels match no supported scale (2, 4, 8)")
    except KeyError as exc:
        raise SpectraFrameError(f"{source} is not an RBPN generator checkpoint: it has no weight {exc}") from exc
    num_stages = sum(1 for k in state if k.startswith("DBPN.up") and k.endswith(f".up_conv1.{up}.weight"))
    n_resblock = sum(1 for k in state if k.startswith("res_feat2.") and k.endswith(".conv1.weight"))
    return RBPNConfig(
        scale=scale,
        num_frames=output[1] // feat + 1,
        base_filter=base_filter,
        feat=feat,
        num_stages=num_stages,
        n_resblock=n_resblock,
        layout=layout,
    )


def check_compatible(found: RBPNConfig, expected: RBPNConfig, source: str) -> None:
    """Say in a sentence how a checkpoint differs from the model asked for (every field of the config)."""
    if found.num_frames != expected.num_frames:
        raise SpectraFrameError(
            f"checkpoint {source} was trained for {found.num_frames} frames, model has {expected.num_frames}"
        )
    if found.scale != expected.scale:
        raise SpectraFrameError(f"checkpoint {source} was trained for x{found.scale}, model is x{expected.scale}")
    for name in RBPNConfig.__dataclass_fields__:
        a, b = getattr(found, name), getattr(expected, name)
        if a != b:
            raise SpectraFrameError(f"checkpoint {source} has {name}={a}, model has {name}={b}")


def _check_against_shapes(config: RBPNConfig, state: Mapping[str, Tensor], source: str) -> None:
    """A recorded config must describe the weights that come with it; checked before the network is built."""
    shapes = infer_rbpn_config(state, source)
    for name in RBPNConfig.__dataclass_fields__:
        if name == "residual":  # no weights of its own
            continue
        recorded, found = getattr(config, name), getattr(shapes, name)
        if recorded != found:
            raise SpectraFrameError(f"{source}: its recorded config says {name}={recorded}, but its weights are "
                                    f"those of {name}={found}; the file is damaged or was not written by spectraframe")


# The published RBPN checkpoints (x2, x4, x8): this geometry, the hr layout, no bicubic residual.
PUBLISHED_GEOMETRY = {"base_filter": 256, "feat": 64, "num_stages": 3, "n_resblock": 5, "layout": "hr"}


NEAR_BLACK = 0.02  # mean |raw output| (0-1 scale) of a residual network on a smooth picture: about 5/255


def _adds_bicubic(config: RBPNConfig, state: Mapping[str, Tensor], source: str) -> bool:
    """Whether a checkpoint without a recorded config is a residual network (its output is added to a bicubic
    enlargement), which its shapes cannot say.

    On a smooth picture a trained network's raw output is close to the picture when it predicts the picture,
    and close to black when it predicts only the detail missing from the bicubic enlargement (the shipped
    weights: 0.001-0.003 mean, picture 0.5). Only a clear case counts as residual: the raw output within
    NEAR_BLACK of black on average, and at least 4x nearer to black than to the picture.
    """
    model = RBPN(RBPNConfig.from_dict({**config.to_dict(), "residual": False}))
    load_state_checked(model, state, source)
    size = 16
    ramp = torch.linspace(0.0, 1.0, size)
    picture = 0.5 + 0.2 * torch.stack([torch.sin(3 * ramp[:, None] + 2 * ramp[None, :] + phase)
                                       for phase in (0.0, 1.0, 2.0)])
    n = config.num_frames - 1
    with torch.no_grad():
        raw = model.eval()(picture[None], picture.expand(1, n, 3, size, size), torch.zeros(1, n, 2, size, size))
        bicubic = bicubic_residual(picture[None], config.scale)
    to_black, to_picture = float(raw.abs().mean()), float((raw - bicubic).abs().mean())
    return to_black < NEAR_BLACK and to_black * 4 < to_picture


def load_state_checked(model: nn.Module, state: Mapping[str, Tensor], source: str) -> None:
    """load_state_dict(strict) with the differences listed in words instead of a raw trace."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [f"{k}: checkpoint {tuple(state[k].shape)}, model {tuple(own[k].shape)}"
             for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} weights missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unknown weights (e.g. {', '.join(unexpected[:3])})")
        if wrong:
            parts.append(f"{len(wrong)} of another shape (e.g. {'; '.join(wrong[:2])})")
        raise SpectraFrameError(f"checkpoint {source} does not fit {type(model).__name__}: " + "; ".join(parts))
    for name, own_tensor in own.items():
        tensor = state[name]
        if own_tensor.is_floating_point() and not tensor.is_floating_point():
            kind = str(tensor.dtype).removeprefix("torch.")
            raise SpectraFrameError(f"checkpoint {source}: weight {name} holds {kind} numbers, not floating point; "
                                    "the file is damaged or was not saved from a model")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise SpectraFrameError(f"checkpoint {source}: weight {name} holds NaN or infinite values; the training "
                                    "that wrote it diverged or the file is damaged: use an earlier checkpoint")
    model.load_state_dict(state, strict=True)


def load_generator(
    path: str | Path,
    device: str | torch.device = "cpu",
    *,
    expected: RBPNConfig | None = None,
    scale: int | None = None,
    num_frames: int | None = None,
) -> tuple[RBPN, dict]:
    """Build the generator a checkpoint describes and load it. Returns (model in eval mode, metadata).

    `expected` (a full config) or `scale` / `num_frames` make a mismatch an error that says what differs.
    Published `.pth` checkpoints get metadata inferred from their shapes (flow method: coarse2fine).
    """
    path = _existing(path)
    if _sniff_format(path) == "safetensors":
        state = _without_prefix(_read_safetensors(path))
        metadata = read_metadata(path)
        if metadata.get("architecture") != "RBPN":
            raise SpectraFrameError(f"{path} holds a {metadata.get('architecture')}, not an RBPN generator")
        if "config" not in metadata:
            raise SpectraFrameError(f"{path}: its SpectraFrame metadata has no config of the architecture; the file "
                                    "is damaged")
        config = rbpn_config_from_metadata(metadata["config"], str(path))
        _check_against_shapes(config, {k: v for k, v in state.items() if not is_quantizer_state(k)}, str(path))
    else:
        loaded = load_torch_file(path)
        state = _without_prefix(_unwrap(loaded, path))
        config, metadata = _torch_checkpoint_config(path, loaded, state)
    flow_method = metadata.get("flow_method")
    metadata = {**metadata, "config": config.to_dict(), "scale": config.scale, "num_frames": config.num_frames,
                "flow_method": flow_method if isinstance(flow_method, str) else DEFAULT_FLOW_METHOD}
    if expected is not None:
        check_compatible(config, expected, str(path))
    if num_frames is not None and config.num_frames != num_frames:
        raise SpectraFrameError(f"checkpoint {path} was trained for {config.num_frames} frames, model has {num_frames}")
    if scale is not None and config.scale != scale:
        raise SpectraFrameError(f"checkpoint {path} was trained for x{config.scale}, but x{scale} was asked for")
    # A quantization-aware run's weights (model.quantize=int8) hold their quantizers' ranges too.
    model = QuantizedRBPN(config) if metadata.get("quantize") == "int8" else RBPN(config)
    load_state_checked(model, state, str(path))
    return model.to(device).eval(), metadata


def interpolate_generators(base: RBPN, tuned: RBPN, strength: float, source: str = "the fine-tuned model", *,
                           extrapolate: bool = False) -> RBPN:
    """ESRGAN's network interpolation: a new generator whose every weight is (1 - strength) * base + strength *
    tuned. `tuned` must be a fine-tune of `base` (one architecture), so the blend moves smoothly between them.
    `extrapolate` lets strength exceed 1 (past the fine-tune; an experiment, never a user's setting)."""
    if not 0.0 <= strength <= (float("inf") if extrapolate else 1.0):
        raise SpectraFrameError(f"the strength of a blend must be between 0 and 1, got {strength}")
    check_compatible(tuned.config, base.config, source)
    tuned_state = tuned.state_dict()
    blended = {name: torch.lerp(value, tuned_state[name].to(value.device), strength) if value.is_floating_point()
               else value for name, value in base.state_dict().items()}
    model = RBPN(base.config).to(next(base.parameters()).device)
    model.load_state_dict(blended)
    return model.eval()


def widen_window(model: RBPN, num_frames: int, source: str = "the checkpoint") -> RBPN:
    """A `num_frames` generator that starts from `model`, one with fewer frames and otherwise the same
    architecture: every weight is shared across the neighbours except the output convolution's share of each
    one, so each new neighbour slot gets the share of the old slot on its side of the target (the nearest
    offset), divided by how many new slots take it. Its output then starts near the old model's, and training
    teaches it the farther neighbours (a 5-frame model from the 3-frame default in far fewer steps than from
    scratch)."""
    old = model.config
    if num_frames < old.num_frames or num_frames % 2 == 0 or old.num_frames % 2 == 0:
        raise SpectraFrameError(f"{source} is a {old.num_frames}-frame model: it can start a model with an odd "
                                f"number of frames of at least {old.num_frames}, not {num_frames}")
    config = dataclasses.replace(old, num_frames=num_frames)
    old_k, new_k = old.num_frames // 2, num_frames // 2
    old_offsets = [*range(-old_k, 0), *range(1, old_k + 1)]
    taken = [old_offsets.index(max(-old_k, min(old_k, o)))
             for o in [*range(-new_k, 0), *range(1, new_k + 1)]]
    state = model.state_dict()
    weight, feat = state["output.conv.weight"], old.feat
    shares = [weight[:, j * feat:(j + 1) * feat] / taken.count(j) for j in taken]
    state = {**state, "output.conv.weight": torch.cat(shares, dim=1)}
    widened = RBPN(config).to(weight.device)
    load_state_checked(widened, state, source)
    return widened


def _torch_checkpoint_config(path: Path, loaded: Any, state: Mapping[str, Tensor]) -> tuple[RBPNConfig, dict]:
    """Config and metadata of a PyTorch checkpoint: the one it records (our trainer's `last.pt`), else the
    architecture read from the shapes, with the bicubic residual decided by `_adds_bicubic`."""
    recorded = loaded.get("config") if isinstance(loaded, Mapping) else None
    if recorded is not None:
        from spectraframe.models.config import config_from_dict

        if not isinstance(recorded, Mapping) or not isinstance(recorded.get("model", {}), Mapping):
            raise SpectraFrameError(f"{path}: its recorded training config is not a mapping; the file is damaged")
        training = config_from_dict({"model": dict(recorded.get("model") or {})})
        config = training.model.rbpn_config()
        _check_against_shapes(config, state, str(path))
        data = recorded.get("data") if isinstance(recorded.get("data"), Mapping) else {}
        return config, {
            "architecture": "RBPN",
            "flow_method": data.get("flow_method", DEFAULT_FLOW_METHOD),
            "provenance": {"source": "spectraframe training checkpoint", "file": path.name,
                           "iterations": loaded.get("step")},
        }
    config = infer_rbpn_config(state, str(path))
    published = all(getattr(config, k) == v for k, v in PUBLISHED_GEOMETRY.items())
    if not published and _adds_bicubic(config, state, str(path)):
        config = RBPNConfig.from_dict({**config.to_dict(), "residual": True})
    return config, {
        "architecture": "RBPN",
        "flow_method": DEFAULT_FLOW_METHOD,
        "provenance": {"source": "published .pth checkpoint", "file": path.name},
    }


def load_discriminator(path: str | Path, device: str | torch.device = "cpu") -> Discriminator:
    model = Discriminator()
    load_state_checked(model, read_state_dict(path), str(path))
    return model.to(device)


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes: the identity of a weights file (resume records, benchmark reuse)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
