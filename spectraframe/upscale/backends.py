"""The generator an upscale runs: the weights resolved and loaded, then prepared for a backend (torch's fast
inference copy, or ONNX Runtime from an .onnx file or a checkpoint exported on the fly)."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from spectraframe.accelerate import precision_name, prepare_for_inference
from spectraframe.errors import SpectraFrameError
from spectraframe.generator import Generator
from spectraframe.paths import require_file
from spectraframe.zoo import resolve_weights

BACKENDS = ("torch", "onnxruntime")


@dataclass
class Backend:
    generator: Generator
    metadata: dict  # the weights' metadata (flow method, provenance)
    weights_path: Path | None  # None for a model given in memory
    weights_id: str  # SHA-256 of the weights: a resumed output must come from the same ones
    weights_bytes: int  # what the weights take in memory (for the tile budget)


def load_backend(backend: str, weights: Path | None, device: torch.device, dtype: torch.dtype, *,
                 scale: int | None = None, channels_last: bool = True, compile: bool = False,
                 model: Generator | None = None, metadata: dict | None = None) -> Backend:
    """`model` (in memory), else `weights` (None: the shipped default), ready to run on `device` in `dtype`."""
    from spectraframe.checkpoints import file_digest, load_generator

    onnx = backend == "onnxruntime"
    path = None
    if model is None:
        path = resolve_weights(weights)
        require_file(path, "weights file")
        weights_id = file_digest(path)
    else:
        weights_id = hashlib.sha256(
            b"".join(t.detach().cpu().numpy().tobytes() for t in model.state_dict().values())
        ).hexdigest()
    if path is not None and path.suffix == ".onnx":
        if not onnx:
            raise SpectraFrameError(f"{path} is an ONNX model: run it with --backend onnxruntime")
        generator = onnx_generator(path, device)
        return Backend(generator, generator.metadata, path, weights_id, path.stat().st_size)
    if model is None:
        model, metadata = load_generator(path, "cpu" if onnx else device, scale=scale)
    weights_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    if onnx:
        with tempfile.TemporaryDirectory(prefix="spectraframe-onnx-") as folder:
            from spectraframe.export import export_onnx

            # The session holds the model in memory: the file is not needed once it is loaded.
            generator = onnx_generator(export_onnx(model, Path(folder) / "generator.onnx", metadata=metadata or {}),
                                       device)
    else:
        generator = prepare_for_inference(model, device, precision_name(dtype), channels_last=channels_last,
                                          compile=compile)
    return Backend(generator, metadata or {}, path, weights_id, weights_bytes)


def onnx_generator(path: Path, device: torch.device):
    from spectraframe.export import OnnxGenerator

    if device.type not in ("cpu", "cuda"):
        raise SpectraFrameError(f"the onnxruntime backend runs on cpu or cuda, not {device.type}")
    providers = ["CPUExecutionProvider"]
    if device.type == "cuda":
        import onnxruntime

        if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            raise SpectraFrameError("this onnxruntime has no CUDA support: install onnxruntime-gpu or use "
                                    "--device cpu")
        providers.insert(0, "CUDAExecutionProvider")
    return OnnxGenerator(path, providers=providers)
