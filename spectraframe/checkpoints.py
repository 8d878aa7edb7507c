"""Checkpoints: our safetensors format (weights + JSON metadata) and the published `.pth` files.

Our format: one `.safetensors` file whose header metadata holds, under the key "spectraframe", a JSON
document with the architecture config, scale, frame count, flow method and training provenance, so
loading builds the right network from the file alone. Published RBPN / SRGAN checkpoints (`.pth`, keys
possibly prefixed by `module.` from `nn.DataParallel`) load with `torch.load(weights_only=True)`: a
checkpoint can never run code on the user's machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from spectraframe.archs.rbpn import PROJECTION_GEOMETRY, RBPN, RBPNConfig
from spectraframe.archs.srgan_discriminator import Discriminator
from spectraframe.errors import SpectraFrameError
from spectraframe.flow.api import DEFAULT_FLOW_METHOD

METADATA_KEY = "spectraframe"
FORMAT_VERSION = 1
_KERNEL_TO_SCALE = {kernel: scale for scale, (kernel, _, _) in PROJECTION_GEOMETRY.items()}


# --- writing ------------------------------------------------------------------------------------


def current_umask() -> int:
    """The process umask, read without changing it where Linux tells it (setting it races other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_directory(folder: Path) -> None:
    """Make a rename in `folder` durable (POSIX; Windows cannot open a folder for fsync and needs no such step)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write: Any) -> Path:
    """Call `write(tmp_path)` then rename onto `path`, so a crash never leaves a half file under the final name.

    The data is fsynced before the rename and the folder after it, so after a power loss the file is the old
    or the new one, never empty. The file gets the permissions of a plainly created one (0o666 & ~umask):
    mkstemp makes it owner-only, which would keep exported weights from other users.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as written:  # opened for writing: Windows refuses fsync on read-only handles
            os.fsync(written.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)
    return path


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
    """Write an RBPN in our format. `provenance`: data, iterations, wall time, metrics — anything JSON."""
    config = model.config
    metadata = {
        "architecture": "RBPN",
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


def read_metadata(path: str | Path) -> dict:
    """The JSON metadata of one of our safetensors files."""
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
        return json.loads(header[METADATA_KEY])
    except json.JSONDecodeError as exc:
        raise SpectraFrameError(f"{path}: its SpectraFrame metadata is not valid JSON: {exc}") from exc


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise SpectraFrameError(f"checkpoint not found: {path}")
    return path


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Tensors of a checkpoint in either format, with any `module.` prefix removed."""
    path = _existing(path)
    if path.suffix == ".safetensors":
        try:
            state = load_file(str(path))
        except (SafetensorError, OSError) as exc:
            raise SpectraFrameError(f"{path} is not a readable safetensors file (corrupt or truncated?): {exc}") \
                from exc
    else:
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several types for bad zips, truncation and forbidden pickles
            first_line = str(exc).splitlines()[0].rstrip(". ") if str(exc) else ""
            raise SpectraFrameError(
                f"cannot read checkpoint {path}: {exc.__class__.__name__}: {first_line}. "
                "It may be truncated, corrupt, or contain Python objects other than tensors."
            ) from exc
        state = _unwrap(loaded, path)
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


def infer_rbpn_config(state: Mapping[str, Tensor], source: str = "checkpoint") -> RBPNConfig:
    """Recover the RBPN architecture from the shapes of its weights (published checkpoints carry no config)."""
    try:
        kernel = state["DBPN.up1.up_conv1.deconv.weight"].shape[-1]
        feat = state["DBPN.feat1.conv.weight"].shape[0]
        base_filter = state["feat1.conv.weight"].shape[0]
        output_in = state["output.conv.weight"].shape[1]
    except KeyError as exc:
        raise SpectraFrameError(f"{source} is not an RBPN generator checkpoint: it has no weight {exc}") from exc
    if kernel not in _KERNEL_TO_SCALE:
        raise SpectraFrameError(f"{source}: projection kernel {kernel} matches no supported scale (2, 4, 8)")
    num_stages = sum(1 for k in state if k.startswith("DBPN.up") and k.endswith(".up_conv1.deconv.weight"))
    n_resblock = sum(1 for k in state if k.startswith("res_feat2.") and k.endswith(".conv1.weight"))
    return RBPNConfig(
        scale=_KERNEL_TO_SCALE[kernel],
        num_frames=output_in // feat + 1,
        base_filter=base_filter,
        feat=feat,
        num_stages=num_stages,
        n_resblock=n_resblock,
    )


def check_compatible(found: RBPNConfig, expected: RBPNConfig, source: str) -> None:
    """Say in a sentence how a checkpoint differs from the model asked for."""
    if found.num_frames != expected.num_frames:
        raise SpectraFrameError(
            f"checkpoint {source} was trained for {found.num_frames} frames, model has {expected.num_frames}"
        )
    if found.scale != expected.scale:
        raise SpectraFrameError(f"checkpoint {source} was trained for x{found.scale}, model is x{expected.scale}")
    for name in ("base_filter", "feat", "num_stages", "n_resblock"):
        a, b = getattr(found, name), getattr(expected, name)
        if a != b:
            raise SpectraFrameError(f"checkpoint {source} has {name}={a}, model has {name}={b}")


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
    state = read_state_dict(path)
    if path.suffix == ".safetensors":
        metadata = read_metadata(path)
        if metadata.get("architecture") != "RBPN":
            raise SpectraFrameError(f"{path} holds a {metadata.get('architecture')}, not an RBPN generator")
        config = RBPNConfig.from_dict(metadata["config"])
    else:
        config = infer_rbpn_config(state, str(path))
        metadata = {
            "architecture": "RBPN",
            "config": config.to_dict(),
            "scale": config.scale,
            "num_frames": config.num_frames,
            "flow_method": "coarse2fine",
            "provenance": {"source": "published .pth checkpoint", "file": path.name},
        }
    if expected is not None:
        check_compatible(config, expected, str(path))
    if num_frames is not None and config.num_frames != num_frames:
        raise SpectraFrameError(f"checkpoint {path} was trained for {config.num_frames} frames, model has {num_frames}")
    if scale is not None and config.scale != scale:
        raise SpectraFrameError(f"checkpoint {path} was trained for x{config.scale}, but x{scale} was asked for")
    model = RBPN(config)
    load_state_checked(model, state, str(path))
    return model.to(device).eval(), metadata


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
