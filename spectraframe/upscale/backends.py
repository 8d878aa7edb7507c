"""The generator an upscale runs: the weights resolved and loaded, then prepared for a backend (torch's fast
inference copy, OpenVINO's int8 model of the weights (`spectraframe.int8`), OpenVINO's CPU plugin in fp32/bf16 on
the checkpoint converted on the fly, or ONNX Runtime from an .onnx file or a checkpoint exported on the fly), in the
precision chosen for them (`accelerate.choose_precision`)."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from spectraframe.accelerate import choose_precision, prepare_for_inference, warn_once
from spectraframe.errors import SpectraFrameError
from spectraframe.generator import Generator
from spectraframe.int8 import (
    INSTALL_HINT,
    OpenvinoGenerator,
    float_openvino_generator,
    int8_model_path,
    int8_weights_digest,
    openvino_available,
)
from spectraframe.paths import require_file
from spectraframe.zoo import resolve_weights

BACKENDS = ("torch", "onnxruntime", "openvino")


@dataclass
class Backend:
    generator: Generator
    metadata: dict  # the weights' metadata (flow method, provenance)
    weights_path: Path | None  # None for a model given in memory
    weights_id: str  # SHA-256 of the weights: a resumed output must come from the same ones
    weights_bytes: int  # what the weights take in memory (for the tile budget)
    precision: str = "fp32"  # what it computes in: a PRECISIONS name or int8


def load_backend(backend: str, weights: Path | None, device: torch.device, precision: str = "auto", *,
                 scale: int | None = None, channels_last: bool = True, compile: bool = False,
                 model: Generator | None = None, metadata: dict | None = None) -> Backend:
    """`model` (in memory), else `weights` (None: the shipped default), ready to run on `device` in `precision`
    (a PRECISION_CHOICES name: auto and int8 are resolved here, where the weights' int8 model is known)."""
    from spectraframe.checkpoints import file_digest, load_generator

    onnx = backend == "onnxruntime"
    if backend == "openvino" and device.type != "cpu":
        raise SpectraFrameError(f"the openvino backend runs on the CPU, not {device.type}: use --backend torch")
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
    int8_model = None if onnx or compile or path is None else ready_int8_model(path, weights_id)
    if not onnx:
        precision = choose_precision(precision, device, int8_ready=int8_model is not None)
    if precision == "int8":
        if compile:
            raise SpectraFrameError("--compile is for the torch precisions; int8 runs OpenVINO's compiled graph")
        generator = OpenvinoGenerator(int8_model or missing_int8_model(path))
        return Backend(generator, generator.metadata, path, weights_id, int8_model.with_suffix(".bin").stat().st_size,
                       "int8")
    if model is None:
        model, metadata = load_generator(path, "cpu" if onnx or backend == "openvino" else device, scale=scale)
    weights_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    if backend == "openvino":
        generator = float_openvino_generator(model, metadata or {}, precision)
    elif onnx:
        with tempfile.TemporaryDirectory(prefix="spectraframe-onnx-") as folder:
            from spectraframe.export import export_onnx

            # The session holds the model in memory: the file is not needed once it is loaded.
            generator = onnx_generator(export_onnx(model, Path(folder) / "generator.onnx", metadata=metadata or {}),
                                       device)
        precision = "fp32"
    else:
        generator = prepare_for_inference(model, device, precision, channels_last=channels_last, compile=compile)
    return Backend(generator, metadata or {}, path, weights_id, weights_bytes, precision)


def ready_int8_model(weights: Path, weights_id: str) -> Path | None:
    """The int8 model beside `weights` (`int8_model_path`) when OpenVINO is installed and the model was made from
    these very weights; None otherwise (a stale one is named in a warning)."""
    path = int8_model_path(weights)
    if not path.is_file() or not openvino_available():
        return None
    if int8_weights_digest(path) != weights_id:
        warn_once(f"{path} was made from other weights than {weights.name}: not used (remake it with "
                  f"`spectraframe export --weights {weights} --int8 {path} --calibration LIST`)")
        return None
    return path


def missing_int8_model(weights: Path | None) -> Path:
    """The sentence for --precision int8 without a usable int8 model."""
    if not openvino_available():
        raise SpectraFrameError(f"--precision int8 needs OpenVINO: {INSTALL_HINT}")
    if weights is None:
        raise SpectraFrameError("--precision int8 needs weights from a file with an int8 model beside it, not a "
                                "model in memory")
    raise SpectraFrameError(
        f"no int8 model of {weights.name} (looked for {int8_model_path(weights)}): make one with `spectraframe "
        f"export --weights {weights} --int8 {int8_model_path(weights)} --calibration train.txt` (weights trained "
        "with model.quantize=int8 need no --calibration), or use --precision auto")


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
