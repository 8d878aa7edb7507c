"""ONNX export of the generator and an ONNX Runtime generator with the same call signature."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from spectraframe.archs.rbpn import RBPN
from spectraframe.checkpoints import rbpn_config_from_metadata
from spectraframe.errors import SpectraFrameError
from spectraframe.paths import atomic_write

log = logging.getLogger(__name__)

INPUT_NAMES = ["target", "neighbours", "flows"]
OUTPUT_NAME = "hr"
OPSET = 17


def export_onnx(
    model: RBPN, path: str | Path, metadata: dict | None = None, sample_size: tuple[int, int] = (32, 32)
) -> Path:
    """Write the generator as ONNX with dynamic batch and frame size; metadata goes into the model's props."""
    model = model.eval().to("cpu", torch.float32)
    n = model.config.num_frames - 1
    h, w = sample_size
    inputs = (torch.rand(1, 3, h, w), torch.rand(1, n, 3, h, w), torch.zeros(1, n, 2, h, w))
    dynamic = {
        "target": {0: "batch", 2: "height", 3: "width"},
        "neighbours": {0: "batch", 3: "height", 4: "width"},
        "flows": {0: "batch", 3: "height", 4: "width"},
        OUTPUT_NAME: {0: "batch", 2: "out_height", 3: "out_width"},
    }

    def write(tmp: str) -> None:
        import onnx

        # The TorchScript-based exporter handles the recurrence's Python loop by unrolling it.
        torch.onnx.export(model, inputs, tmp, input_names=INPUT_NAMES, output_names=[OUTPUT_NAME],
                          dynamic_axes=dynamic, opset_version=OPSET, dynamo=False)
        proto = onnx.load(tmp)
        entry = proto.metadata_props.add()
        entry.key, entry.value = "spectraframe", json.dumps({"config": model.config.to_dict(), **(metadata or {})})
        onnx.save(proto, tmp)

    with torch.no_grad():
        return atomic_write(path, write)


def max_export_difference(model: RBPN, onnx_path: str | Path, size: tuple[int, int] = (24, 40), seed: int = 0) -> float:
    """Largest absolute difference between PyTorch and ONNX Runtime outputs on random inputs of another size."""
    n = model.config.num_frames - 1
    h, w = size
    g = torch.Generator().manual_seed(seed)
    inputs = (torch.rand(1, 3, h, w, generator=g), torch.rand(1, n, 3, h, w, generator=g),
              torch.randn(1, n, 2, h, w, generator=g))
    with torch.no_grad():
        expected = model.eval().to("cpu", torch.float32)(*inputs)
    return float((OnnxGenerator(onnx_path)(*inputs) - expected).abs().max())


class OnnxGenerator:
    """An exported generator run by ONNX Runtime; called like RBPN: (target, neighbours, flows) -> HR."""

    def __init__(self, path: str | Path, providers: list[str] | None = None, threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise SpectraFrameError("the onnxruntime backend needs `pip install onnxruntime`") from exc
        path = Path(path)
        if not path.is_file():
            raise SpectraFrameError(f"ONNX model not found: {path}")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers or ["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise SpectraFrameError(f"cannot load ONNX model {path}: {exc}") from exc
        props = self.session.get_modelmeta().custom_metadata_map
        if "spectraframe" not in props:
            raise SpectraFrameError(f"{path} was not exported by `spectraframe export`: no SpectraFrame metadata")
        try:
            self.metadata = json.loads(props["spectraframe"])
        except json.JSONDecodeError as exc:
            raise SpectraFrameError(f"{path}: its SpectraFrame metadata is not valid JSON: {exc}") from exc
        if not isinstance(self.metadata, dict) or "config" not in self.metadata:
            raise SpectraFrameError(f"{path}: its SpectraFrame metadata holds no config of the architecture")
        self.config = rbpn_config_from_metadata(self.metadata["config"], str(path))

    def describe(self) -> str:
        return f"{self.session.get_providers()[0]}, fp32"

    def __call__(self, target: Tensor, neighbours: Tensor, flows: Tensor) -> Tensor:
        feeds = {name: t.detach().to("cpu", torch.float32).contiguous().numpy()
                 for name, t in zip(INPUT_NAMES, (target, neighbours, flows), strict=True)}
        (out,) = self.session.run([OUTPUT_NAME], feeds)
        return torch.from_numpy(np.asarray(out)).to(target.device)
