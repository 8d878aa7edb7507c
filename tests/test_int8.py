"""int8 precision: OpenVINO's run of the int8 model (post-training, or trained with model.quantize=int8) equals the
fp32 model, and the trained one its PyTorch fake quantization, within stated bounds on a tiny model; `auto` takes it
only where it is ready and the CPU has VNNI/AMX; int8 without them falls back to the float precision with one
warning; a stale int8 model is never run."""

from __future__ import annotations

import logging
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.media import moving_frames
from torch import nn

from spectraframe import accelerate
from spectraframe.accelerate import auto_precision, choose_precision
from spectraframe.archs.rbpn import RBPN, RBPNConfig
from spectraframe.checkpoints import save_generator
from spectraframe.cli import main
from spectraframe.errors import SpectraFrameError
from spectraframe.int8 import OpenvinoGenerator, int8_model_path, mean_psnr, training_windows
from spectraframe.io.images import read_image, write_image
from spectraframe.upscale.pipeline import UpscaleOptions, Upscaler

# The tests that run OpenVINO: `make test` runs them in a process of their own (tests/conftest.py).
needs_openvino = pytest.mark.skipif(find_spec("openvino") is None,
                                    reason='needs OpenVINO: pip install "spectraframe[openvino]"')

# The default's layout (lr) and structure, made small.
TINY_LR = RBPNConfig(scale=2, num_frames=3, base_filter=8, feat=8, num_stages=1, n_resblock=1, residual=True,
                     layout="lr")
# Bound of the int8 model against fp32 on the tiny model (it reaches about 52.6 dB and 0.039, every layer after the
# first int8, ranges from 3 clips): Y-PSNR of the uint8 outputs, and the largest difference before rounding.
MIN_PSNR_VS_FP32 = 48.0
MAX_DIFFERENCE = 0.06
# Through `upscale` (RGB PSNR of the written uint8 frames of a 24x16 clip, where borders weigh more): about 38.7 dB.
MIN_UPSCALE_PSNR_VS_FP32 = 36.0
# The int8 model of quantization-aware weights against those weights run by PyTorch (fake quantization).
MIN_PSNR_VS_TRAINED = 45.0


def tiny_model(seed: int = 0) -> RBPN:
    """A random tiny model with every layer live (the lr layout starts its corrections and output at zero)."""
    torch.manual_seed(seed)
    model = RBPN(TINY_LR)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d) and not module.weight.abs().sum():
                nn.init.kaiming_normal_(module.weight)
                module.weight.mul_(0.1)
    return model.eval()


def training_list(root: Path, clips: int = 3) -> Path:
    """`clips` folders of 5 moving frames each and a train.txt naming them."""
    for c in range(clips):
        for i, frame in enumerate(moving_frames(5, width=40, height=32, seed=c)):
            write_image(root / f"clip{c}" / f"{i:03d}.png", frame)
    (root / "train.txt").write_text("".join(f"clip{c}\n" for c in range(clips)))
    return root / "train.txt"


@pytest.fixture(scope="module")
def int8_weights(tmp_path_factory) -> Path:
    """Tiny weights with their int8 model beside them, made by `spectraframe export --int8`."""
    root = tmp_path_factory.mktemp("int8")
    weights = save_generator(root / "tiny.safetensors", tiny_model(), flow_method="dis")
    calibration = training_list(root / "corpus")
    assert main(["export", "--weights", str(weights), "--int8", str(int8_model_path(weights)), "--calibration",
                 str(calibration), "--calibration-clips", "3", "--held-out", "0"]) == 0
    return weights


@pytest.mark.openvino
@needs_openvino
def test_int8_model_equals_fp32_within_the_bound(int8_weights: Path, tmp_path: Path) -> None:
    model = tiny_model()
    int8 = OpenvinoGenerator(int8_model_path(int8_weights), threads=1)
    assert int8.config == TINY_LR and int8.metadata["flow_method"] == "dis"
    # Other clips than the calibration's, at another size.
    windows = training_windows(training_list(tmp_path, clips=2), 2, 3, 2, "dis", held_out=0)
    for window in windows:
        with torch.inference_mode():
            reference = model(*window[:3])
        out = int8(*window[:3])
        assert out.shape == reference.shape and out.dtype == torch.float32
        hr = reference[0].clamp(0, 1)
        assert mean_psnr(int8, [(*window[:3], hr)])[0] > MIN_PSNR_VS_FP32
        assert float((out - reference).abs().max()) < MAX_DIFFERENCE


def test_int8_without_vnni_falls_back_with_one_warning(monkeypatch, caplog) -> None:
    monkeypatch.setattr(accelerate, "cpu_has_int8_dot", lambda: False)
    monkeypatch.setattr(accelerate, "_warned", set())
    cpu = torch.device("cpu")
    with caplog.at_level(logging.WARNING, logger="spectraframe.accelerate"):
        assert choose_precision("int8", cpu, int8_ready=True) == auto_precision(cpu)
        assert choose_precision("int8", cpu, int8_ready=True) == auto_precision(cpu)
    warnings = [r for r in caplog.records if "no int8 dot products" in r.getMessage()]
    assert len(warnings) == 1
    # auto never takes int8 there, and says nothing.
    assert choose_precision("auto", cpu, int8_ready=True) == auto_precision(cpu)


def test_auto_takes_int8_only_where_ready(monkeypatch) -> None:
    monkeypatch.setattr(accelerate, "cpu_has_int8_dot", lambda: True)
    cpu = torch.device("cpu")
    assert choose_precision("auto", cpu, int8_ready=True) == "int8"
    assert choose_precision("auto", cpu, int8_ready=False) == auto_precision(cpu)
    assert choose_precision("fp32", cpu, int8_ready=True) == "fp32"
    with pytest.raises(SpectraFrameError, match="int8 runs on the CPU"):
        choose_precision("int8", torch.device("cuda"), int8_ready=True)


@pytest.mark.openvino
@needs_openvino
def test_upscale_runs_int8_by_name_and_by_auto(int8_weights: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(accelerate, "cpu_has_int8_dot", lambda: True)
    frames = tmp_path / "in"
    for i, frame in enumerate(moving_frames(4, width=24, height=16, seed=9)):
        write_image(frames / f"{i:03d}.png", frame)
    common = {"weights": int8_weights, "device": "cpu", "progress": False, "tile": 0}
    runs = {name: Upscaler(UpscaleOptions(precision=name, **common)) for name in ("int8", "auto", "fp32")}
    assert runs["int8"].precision == runs["auto"].precision == "int8" and runs["fp32"].precision == "fp32"
    assert "OpenVINO" in runs["auto"].describe()
    outputs = {}
    for name in ("int8", "fp32"):
        runs[name].run(frames, tmp_path / name)
        outputs[name] = np.stack([read_image(p).astype(float) for p in sorted((tmp_path / name).glob("*.png"))])
    assert outputs["int8"].shape == (4, 32, 48, 3)
    mse = float(((outputs["int8"] - outputs["fp32"]) ** 2).mean())
    assert 10 * np.log10(255**2 / max(mse, 1e-12)) > MIN_UPSCALE_PSNR_VS_FP32


@pytest.mark.openvino
@needs_openvino
def test_a_stale_int8_model_is_not_used(int8_weights: Path, tmp_path: Path, monkeypatch, caplog) -> None:
    monkeypatch.setattr(accelerate, "cpu_has_int8_dot", lambda: True)
    other = save_generator(tmp_path / "tiny.safetensors", tiny_model(seed=1), flow_method="dis")
    for suffix in (".xml", ".bin"):  # the int8 model of other weights under this file's name
        int8_model_path(other).with_suffix(suffix).write_bytes(int8_model_path(int8_weights).with_suffix(suffix)
                                                               .read_bytes())
    common = {"weights": other, "device": "cpu", "progress": False}
    with caplog.at_level(logging.WARNING):
        assert Upscaler(UpscaleOptions(precision="auto", **common)).precision != "int8"
    assert any("made from other weights" in r.getMessage() for r in caplog.records)
    with pytest.raises(SpectraFrameError, match="no int8 model of tiny.safetensors"):
        Upscaler(UpscaleOptions(precision="int8", **common))


@pytest.mark.openvino
@needs_openvino
def test_openvino_backend_runs_fp32_and_bf16(int8_weights: Path) -> None:
    model = tiny_model()
    common = {"weights": int8_weights, "device": "cpu", "progress": False, "backend": "openvino"}
    fp32 = Upscaler(UpscaleOptions(precision="fp32", **common))
    assert fp32.precision == "fp32" and fp32.describe() == "openvino, cpu f32 (OpenVINO)"
    torch.manual_seed(1)
    target, neighbours = torch.rand(1, 3, 12, 20), torch.rand(1, 2, 3, 12, 20)
    flows = torch.randn(1, 2, 2, 12, 20)
    with torch.inference_mode():
        reference = model(target, neighbours, flows)
    assert float((fp32.generator(target, neighbours, flows) - reference).abs().max()) < 1e-4
    if accelerate.cpu_has_fast_bf16():
        bf16 = Upscaler(UpscaleOptions(precision="bf16", **common))
        assert float((bf16.generator(target, neighbours, flows) - reference).abs().max()) < 0.05
    with pytest.raises(SpectraFrameError, match="--compile is for the torch backend"):
        Upscaler(UpscaleOptions(precision="fp32", compile=True, **common))


def test_without_openvino_auto_keeps_to_float_and_int8_says_how_to_install(tiny_weights: Path, monkeypatch) -> None:
    # Unmarked, so OpenVINO is as not installed here (tests/conftest.py), though the default weights ship an int8 model.
    monkeypatch.setattr(accelerate, "cpu_has_int8_dot", lambda: True)
    default = Upscaler(UpscaleOptions(device="cpu", progress=False))
    assert int8_model_path(default.weights_path).is_file() and default.precision != "int8"
    with pytest.raises(SpectraFrameError, match=r"--precision int8 needs OpenVINO: pip install"):
        Upscaler(UpscaleOptions(weights=tiny_weights, device="cpu", precision="int8", progress=False))


@pytest.mark.openvino
@needs_openvino
def test_every_shipped_int8_model_was_made_from_its_shipped_weights() -> None:
    # A weights file rewritten (new provenance, same tensors) changes its hash: the int8 model must be remade with it,
    # or `auto` silently stays in float with a warning on every run.
    from spectraframe.int8 import int8_weights_digest
    from spectraframe.zoo import load_zoo, model_weights_path

    with_int8 = [model for model in load_zoo().models if model.int8]
    assert [model.name for model in with_int8] == ["default", "real"]
    for model in with_int8:
        weights = model_weights_path(model.name)
        assert int8_weights_digest(int8_model_path(weights)) == sha256_of(weights), model.name


@pytest.fixture(scope="module")
def trained_int8(tmp_path_factory) -> Path:
    """Tiny float weights, and quantization-aware weights made from them (calibrated, as a model.quantize=int8
    run starts) with the int8 model `spectraframe export --int8` writes of them beside them (where `upscale` looks
    for it)."""
    from spectraframe.archs.rbpn_int8 import QuantizedRBPN, calibrate_quantizers
    from spectraframe.checkpoints import file_digest

    root = tmp_path_factory.mktemp("trained-int8")
    float_weights = save_generator(root / "tiny.safetensors", tiny_model(), flow_method="dis")
    quantized = QuantizedRBPN(TINY_LR)
    quantized.load_float_weights(tiny_model().state_dict())
    windows = training_windows(training_list(root / "corpus"), 3, 3, 2, "dis", held_out=0)
    calibrate_quantizers(quantized, (w[:3] for w in windows))
    source = {"weights_file": float_weights.name, "weights_sha256": file_digest(float_weights)}
    trained = save_generator(root / "tiny_int8.safetensors", quantized.eval(), flow_method="dis",
                             provenance={"quantized_from": source})
    assert main(["export", "--weights", str(trained), "--int8", str(int8_model_path(trained))]) == 0
    return trained


@pytest.mark.openvino
@needs_openvino
def test_trained_int8_model_runs_in_int8_as_it_trained(trained_int8: Path, tmp_path: Path, monkeypatch) -> None:
    from spectraframe.checkpoints import load_generator
    from spectraframe.int8 import int8_weights_digest

    trained = trained_int8
    path = int8_model_path(trained)
    assert int8_weights_digest(path) == sha256_of(trained)
    monkeypatch.setattr(accelerate, "cpu_has_int8_dot", lambda: True)
    assert Upscaler(UpscaleOptions(weights=trained, device="cpu", progress=False)).precision == "int8"
    int8 = OpenvinoGenerator(path, threads=1)
    precisions = {op.get_rt_info()["runtimePrecision"].astype(str) for op in int8.compiled.get_runtime_model().get_ops()
                  if op.get_rt_info()["layerType"].astype(str) == "Convolution"}
    assert "i8" in precisions or "u8" in precisions, precisions
    model = load_generator(trained)[0]
    for window in training_windows(training_list(tmp_path, clips=2), 2, 3, 2, "dis", held_out=0):
        with torch.inference_mode():
            reference = model(*window[:3])
        out = int8(*window[:3])
        # OpenVINO's integer arithmetic against PyTorch's fake quantization: they differ only where a value
        # lands next to a rounding boundary (about 60 dB here).
        assert mean_psnr(int8, [(*window[:3], reference[0].clamp(0, 1))])[0] > MIN_PSNR_VS_TRAINED
        assert float((out - reference).abs().max()) < MAX_DIFFERENCE


def sha256_of(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()
