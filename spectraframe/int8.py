"""int8 CPU inference: the generator quantized after training (NNCF, calibrated on training clips) and run by
OpenVINO's CPU plugin, called like RBPN.

Why this engine: on CPUs with int8 dot products (AVX512-VNNI, AVX-VNNI or AMX) OpenVINO runs the quantized
convolutions with the activations, residual adds and requantization fused, which is what makes int8 pay on
a network of 32/64-channel convolutions (benchmarks/int8_speed.py and docs/speed.md compare it with the bf16
torch path, ONNX Runtime's static QDQ int8 and OpenVINO's own fp32/bf16).

What is quantized: every convolution's weights per output channel (symmetric int8) and their inputs per tensor,
with the residual adds kept in int8 where the preset allows. The first layers (they read the frames and the
flows, whose range is not that of image features) and the output convolutions (they set the output's
precision) stay in floating point: quantizing them costs most of the fidelity for little time.

An int8 model is an OpenVINO IR pair (`.xml` + `.bin`) next to its weights file (`int8_model_path`), made by
`spectraframe export --int8` from that weights file and a list of training clips. Its metadata holds the SHA-256
of the weights it came from, so a model made from other weights is never run in their place. OpenVINO is
needed to run one, NNCF only to make one: `pip install "spectraframe[openvino]"`.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from spectraframe.archs.rbpn import RBPN, RBPNConfig
from spectraframe.checkpoints import atomic_write, rbpn_config_from_metadata
from spectraframe.errors import SpectraFrameError

log = logging.getLogger(__name__)

INT8_SUFFIX = ".int8.xml"
METADATA_KEY = "spectraframe"
INPUT_NAMES = ("target", "neighbours", "flows")
# Layers kept in floating point, as the ONNX export names them. The first convolutions (they read the frames and
# the flows) and the top-level ones of RBPN.forward (the output layer's parts and the bicubic residual):
FIRST_AND_OUTPUT_LAYERS = (r"^/feat0/.*", r"^/feat1/.*", r"^/Conv(_\d+)?(/.*)?$")
# and the ones NNCF's accuracy control returned to floating point first on the default weights: DBPN's 1x1 entry
# convolution, the first convolution and sum of the neighbour encoder's and the per-neighbour residual stacks, the
# recurrence's sums and the output. (It also returned the recurrence's differences, /Sub: ignoring those trips
# OpenVINO's int8 graph on random weights, and on the default weights they add nothing once the sums are float.)
SENSITIVE_LAYERS = (r"^/DBPN/feat1/.*", r"^/res_feat[12]/res_feat[12]\.0(_\d+)?/(conv1(_\d+)?/.*|Add)$",
                    r"^/Add(_\d+)?$", r"^hr$")
FLOAT_LAYERS = FIRST_AND_OUTPUT_LAYERS + SENSITIVE_LAYERS
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
    """The centre window of `count` training clips of a train.txt-style list, spread evenly over it, degraded as
    the validation protocol does ("bi": MATLAB bicubic, uint8 levels), with the flows of `flow_method` and the
    HR target. The `held_out` validation clips of training (`split_holdout`) are left out: they stay unseen."""
    from spectraframe.data.train_datasets import find_training_clips, split_holdout
    from spectraframe.data.windows import neighbour_indices
    from spectraframe.degradation import degrade, modcrop
    from spectraframe.flow import estimate_flow

    list_file = Path(list_file)
    if not list_file.is_file():
        raise SpectraFrameError(f"calibration list not found: {list_file} (a train.txt-style list of clip folders)")
    sources = split_holdout(find_training_clips(list_file.parent, list_file.name), held_out)[0]
    if not 1 <= count <= len(sources):
        raise SpectraFrameError(f"{list_file}: asked for {count} calibration clips, it has {len(sources)} besides "
                                f"the {held_out} held out")
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


def quantize_int8(model: RBPN, calibration: list[Window], path: str | Path, metadata: dict | None = None, *,
                  float_layers: tuple[str, ...] = FLOAT_LAYERS) -> Path:
    """Quantize `model` with NNCF's post-training quantization, calibrated on `calibration`, `float_layers`
    (regular expressions on the ONNX export's node names) kept in floating point, and write the OpenVINO IR to
    `path` (`.xml`, its `.bin` beside it). `metadata` goes into the IR."""
    try:
        import nncf
        import openvino as ov
    except ImportError as exc:
        raise SpectraFrameError(f"making an int8 model needs OpenVINO and NNCF: {INSTALL_HINT}") from exc
    from spectraframe.export import export_onnx

    path = Path(path)
    if path.suffix != ".xml":
        raise SpectraFrameError(f"an int8 model is an OpenVINO .xml file (its weights go to a .bin beside it), "
                                f"got {path}")
    with tempfile.TemporaryDirectory(prefix="spectraframe-int8-") as folder:
        float_model = ov.Core().read_model(str(export_onnx(model, Path(folder) / "generator.onnx")))
    inputs = nncf.Dataset(calibration, lambda w: dict(zip(INPUT_NAMES, (t.numpy() for t in w[:3]), strict=True)))
    options = {"preset": nncf.QuantizationPreset.MIXED, "subset_size": len(calibration),
               "ignored_scope": nncf.IgnoredScope(patterns=list(float_layers), validate=False)}
    quantized = nncf.quantize(float_model, inputs, **options)
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
    """The SpectraFrame metadata an int8 IR carries (written by `quantize_int8`): a sentence when it has none."""
    if not model.has_rt_info(METADATA_KEY):
        raise SpectraFrameError(f"{path} was not made by `spectraframe export --int8`: no SpectraFrame metadata")
    try:
        metadata = json.loads(model.get_rt_info(METADATA_KEY).astype(str))
    except json.JSONDecodeError as exc:
        raise SpectraFrameError(f"{path}: its SpectraFrame metadata is not valid JSON: {exc}") from exc
    if not isinstance(metadata, dict) or "config" not in metadata:
        raise SpectraFrameError(f"{path}: its SpectraFrame metadata holds no config of the architecture")
    return metadata
