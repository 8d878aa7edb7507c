"""int8 CPU inference: the generator in int8, run by OpenVINO's CPU plugin, called like RBPN.

Why this engine: on CPUs with int8 dot products (AVX512-VNNI, AVX-VNNI or AMX) OpenVINO runs the quantized
convolutions with the activations, residual sums and requantization fused, and passes activations between
layers as uint8, which is what makes int8 pay on a network of 32/64-channel convolutions (docs/speed.md and
benchmarks/cpu_precision.py compare it with the bf16 torch path, ONNX Runtime's static QDQ int8 and OpenVINO's own
fp32/bf16).

An int8 model is an OpenVINO IR pair (`.xml` + `.bin`) next to the weights it was made from
(`int8_model_path`), made by `spectraframe export --int8` in one of two ways:
* from float weights, after training (the shipped one: `calibrated_int8`): the network with int8 fake quantization
  (archs/rbpn_int8.py: int8 weights per output channel, uint8 activations per tensor, the first layers float), its
  ranges calibrated on whole frames of training clips;
* from weights trained with that fake quantization (`model.quantize=int8`): the ranges they carry.
Either way `write_int8` exports the network, fake quantization included, which OpenVINO turns into int8
convolutions. Its metadata holds the SHA-256 of the weights it was made from, so a model made for other weights
is never run in their place. OpenVINO is needed to run or write one: `pip install "spectraframe[openvino]"`.
"""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from spectraframe.archs.rbpn import RBPN, RBPNConfig
from spectraframe.archs.rbpn_int8 import QuantizedRBPN, calibrate_quantizers
from spectraframe.checkpoints import atomic_write, rbpn_config_from_metadata
from spectraframe.errors import SpectraFrameError
from spectraframe.export import INPUT_NAMES

log = logging.getLogger(__name__)

INT8_SUFFIX = ".int8.xml"
METADATA_KEY = "spectraframe"
# Training clips whose centre windows calibrate the ranges, spread over the list (more clips, steadier means).
CALIBRATION_CLIPS = 96
INSTALL_HINT = 'pip install "spectraframe[openvino]"'


def openvino_available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def int8_model_path(weights: str | Path) -> Path:
    """Where the int8 model of a weights file lives: `name.safetensors` -> `name.int8.xml` (+ `name.int8.bin`)."""
    weights = Path(weights)
    return weights.with_name(weights.stem + INT8_SUFFIX)


# --- calibration --------------------------------------------------------------------------------------------


# (target (1,3,h,w), neighbours (1,N,3,h,w), flows (1,N,2,h,w), HR target (3,H,W)), all in [0, 1]
Window = tuple[Tensor, Tensor, Tensor, Tensor]


def training_windows(list_file: str | Path, count: int, num_frames: int, scale: int, flow_method: str,
                     held_out: int = 12) -> list[Window]:
    """`centre_windows` of `count` clips of a train.txt-style list, leaving out its `held_out` validation clips
    (`split_holdout`): they stay unseen."""
    from spectraframe.data.train_datasets import find_training_clips, split_holdout

    list_file = Path(list_file)
    if not list_file.is_file():
        raise SpectraFrameError(f"calibration list not found: {list_file} (a train.txt-style list of clip folders)")
    sources = split_holdout(find_training_clips(list_file.parent, list_file.name), held_out)[0]
    if not 1 <= count <= len(sources):
        raise SpectraFrameError(f"{list_file}: asked for {count} calibration clips, it has {len(sources)} besides "
                                f"the {held_out} held out")
    return centre_windows(sources, count, num_frames, scale, flow_method)


def centre_windows(sources: list, count: int, num_frames: int, scale: int, flow_method: str) -> list[Window]:
    """The centre window of `count` of the clips `sources` (ClipSource), spread evenly over them, degraded as the
    validation protocol does ("bi": MATLAB bicubic, uint8 levels), with the flows of `flow_method` and the HR
    target."""
    from spectraframe.data.windows import neighbour_indices
    from spectraframe.degradation import degrade, modcrop
    from spectraframe.flow import estimate_flow

    windows = []
    for source in (sources[(2 * i + 1) * len(sources) // (2 * count)] for i in range(count)):
        centre = source.length // 2
        order = [centre, *neighbour_indices(centre, source.length, num_frames)]
        wanted = sorted(set(order))
        frames = dict(zip(wanted, source.read(wanted), strict=True))
        hr = modcrop(torch.stack([torch.tensor(frames[i]).permute(2, 0, 1) for i in order]), scale).double() / 255
        lr = degrade(hr, scale, "bi", quantize=True).float()
        target, neighbours = lr[0], lr[1:]
        flows = estimate_flow(target, neighbours, method=flow_method)
        windows.append((target[None], neighbours[None], flows[None], hr[0].float()))
    return windows


def mean_psnr(run, windows: list[Window]) -> tuple[float, list[float]]:
    """Mean Y-PSNR (uint8 outputs, the evaluation protocol's) of `run(target, neighbours, flows) -> HR` on the
    windows, and the value of each."""
    from spectraframe.io.tensors import quantize as to_uint8_levels
    from spectraframe.metrics.psnr_ssim import psnr

    with torch.inference_mode():
        values = [float(psnr(to_uint8_levels(run(*w[:3])[0].float().clamp(0, 1)), w[3])) for w in windows]
    return float(np.mean(values)), values


def calibrated_int8(model: RBPN, calibration: list[Window]) -> QuantizedRBPN:
    """Post-training quantization: `model`'s weights in a QuantizedRBPN, its ranges calibrated on `calibration`."""
    quantized = QuantizedRBPN(model.config).to("cpu")
    quantized.load_float_weights(model.state_dict())
    calibrate_quantizers(quantized, (w[:3] for w in calibration))
    return quantized.eval()


def write_int8(model: QuantizedRBPN, path: str | Path, metadata: dict | None = None) -> Path:
    """A QuantizedRBPN (calibrated, maybe trained with model.quantize=int8) written as the OpenVINO IR at `path`: its
    fake quantization exported as ONNX QuantizeLinear/DequantizeLinear pairs, which OpenVINO reads as FakeQuantize
    with the same ranges, and the int8 weights stored as int8."""
    try:
        import openvino as ov
        from openvino import passes
        from openvino._offline_transformations import compress_quantize_weights_transformation
    except ImportError as exc:
        raise SpectraFrameError(f"writing an int8 model needs OpenVINO: {INSTALL_HINT}") from exc
    from spectraframe.export import export_onnx

    with tempfile.TemporaryDirectory(prefix="spectraframe-int8-") as folder, warnings.catch_warnings():
        # The quantizers' ranges become constants of the graph, which is what the tracer warns about.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        quantized = ov.Core().read_model(str(export_onnx(model, Path(folder) / "generator.onnx")))
    # The weights' steps (computed from the weights in the graph) folded into constants, then the weights stored
    # as int8: the file NNCF would write.
    folding = passes.Manager()
    folding.register_pass(passes.ConstantFolding())
    folding.run_passes(quantized)
    compress_quantize_weights_transformation(quantized)
    return write_ir(quantized, path, {"config": model.config.to_dict(), **(metadata or {})})


def write_ir(model, path: str | Path, metadata: dict) -> Path:
    """An OpenVINO model written as IR (`path` .xml, its .bin beside it) with SpectraFrame's metadata."""
    import openvino as ov

    path = Path(path)
    model.set_rt_info(json.dumps(metadata), METADATA_KEY)
    # OpenVINO finds the .bin by the .xml's stem: both are written in a scratch folder, the .bin moved into place
    # first, then the .xml atomically (a half-written pair never looks complete).
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".spectraframe-int8-", dir=path.parent) as folder:
        scratch = Path(folder) / "model.xml"
        ov.save_model(model, str(scratch), compress_to_fp16=False)
        scratch.with_suffix(".bin").replace(path.with_suffix(".bin"))
        return atomic_write(path, lambda tmp: Path(tmp).write_bytes(scratch.read_bytes()))


# --- running ------------------------------------------------------------------------------------------------


class OpenvinoGenerator:
    """An OpenVINO IR of the generator (the int8 model, or a float one) run on the CPU; called like RBPN:
    (target, neighbours, flows) -> HR in float32.

    threads: the intra-op threads (None: torch's current count, as the torch path uses). inference_precision:
    what OpenVINO runs the floating-point layers in; f32 (the default) for the int8 model, whose float layers set
    the output's precision.
    """

    device = torch.device("cpu")

    def __init__(self, path: str | Path, threads: int | None = None, inference_precision: str = "f32"):
        try:
            import openvino as ov
        except ImportError as exc:
            raise SpectraFrameError(f"--precision int8 needs OpenVINO: {INSTALL_HINT}") from exc
        path = Path(path)
        if not path.is_file() or not path.with_suffix(".bin").is_file():
            raise SpectraFrameError(f"OpenVINO model not found: {path} and {path.with_suffix('.bin').name} beside it")
        core = ov.Core()
        try:
            model = core.read_model(str(path))
        except Exception as exc:  # OpenVINO raises its own exception types for bad files
            raise SpectraFrameError(f"cannot load the OpenVINO model {path}: {exc}") from exc
        self.metadata = read_int8_metadata(model, path)
        self.config: RBPNConfig = rbpn_config_from_metadata(self.metadata["config"], str(path))
        self.path = path
        self.threads = threads or torch.get_num_threads()
        self.inference_precision = inference_precision
        self.compiled = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": self.threads,
                                                          "INFERENCE_PRECISION_HINT": inference_precision,
                                                          "PERFORMANCE_HINT": "LATENCY"})
        self.request = self.compiled.create_infer_request()

    def describe(self) -> str:
        if self.path.name.endswith(INT8_SUFFIX):
            return f"cpu int8 (OpenVINO, {self.path.name}; {self.inference_precision} outside the int8 layers)"
        return f"cpu {self.inference_precision} (OpenVINO)"

    def __call__(self, target: Tensor, neighbours: Tensor, flows: Tensor) -> Tensor:
        feeds = {name: np.ascontiguousarray(t.detach().to("cpu", torch.float32).numpy())
                 for name, t in zip(INPUT_NAMES, (target, neighbours, flows), strict=True)}
        out = self.request.infer(feeds)
        return torch.from_numpy(np.array(next(iter(out.values())))).to(target.device)


def float_openvino_generator(model: RBPN, metadata: dict, precision: str, threads: int | None = None):
    """`model` converted for OpenVINO (through its ONNX export) and run in `precision` (fp32 or bf16)."""
    try:
        import openvino as ov
    except ImportError as exc:
        raise SpectraFrameError(f"--backend openvino needs OpenVINO: {INSTALL_HINT}") from exc
    from spectraframe.export import export_onnx

    with tempfile.TemporaryDirectory(prefix="spectraframe-openvino-") as folder:
        onnx = export_onnx(model, Path(folder) / "generator.onnx")
        path = write_ir(ov.Core().read_model(str(onnx)), Path(folder) / "generator.xml",
                        {"config": model.config.to_dict(), **metadata})
        # Compiled, the model lives in memory: the files may go.
        return OpenvinoGenerator(path, threads, {"fp32": "f32", "bf16": "bf16"}[precision])


def int8_weights_digest(path: str | Path) -> str | None:
    """The SHA-256 of the weights file an int8 model was made from (None when it does not say)."""
    import openvino as ov

    return read_int8_metadata(ov.Core().read_model(str(path)), Path(path)).get("weights_sha256")


def read_int8_metadata(model, path: Path) -> dict:
    """The SpectraFrame metadata an int8 IR carries (written by `write_int8`): a sentence when it has none."""
    if not model.has_rt_info(METADATA_KEY):
        raise SpectraFrameError(f"{path} was not made by `spectraframe export --int8`: no SpectraFrame metadata")
    try:
        metadata = json.loads(model.get_rt_info(METADATA_KEY).astype(str))
    except json.JSONDecodeError as exc:
        raise SpectraFrameError(f"{path}: its SpectraFrame metadata is not valid JSON: {exc}") from exc
    if not isinstance(metadata, dict) or "config" not in metadata:
        raise SpectraFrameError(f"{path}: its SpectraFrame metadata holds no config of the architecture")
    return metadata
