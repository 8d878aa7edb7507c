"""Fast inference path: equal to the plain module (fp32 tight, bf16 loose), onnxruntime backend, refusals."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.media import moving_frames, write_video
from torch import nn

from spectraframe.accelerate import FrozenPReLU, cpu_has_fast_bf16, prepare_for_inference, resolve_precision
from spectraframe.archs.rbpn import RBPN, RBPNConfig, bicubic_residual
from spectraframe.checkpoints import save_generator
from spectraframe.degradation import bicubic_upsample
from spectraframe.errors import SpectraFrameError
from spectraframe.export import export_onnx
from spectraframe.inference import super_resolve_clip
from spectraframe.io.images import list_frames, read_image
from spectraframe.metrics.psnr_ssim import psnr
from spectraframe.upscale.pipeline import UpscaleOptions, Upscaler

SMALL = RBPNConfig(scale=2, num_frames=3, base_filter=8, feat=4, num_stages=2, n_resblock=1)


def small_model(residual: bool = False, seed: int = 0) -> RBPN:
    """A random small RBPN whose outputs sit inside [0, 1], so clamping hides no difference."""
    torch.manual_seed(seed)
    model = RBPN(RBPNConfig.from_dict({**SMALL.to_dict(), "residual": residual}))
    with torch.no_grad():
        nn.init.kaiming_normal_(model.output.conv.weight)
        model.output.conv.weight.mul_(0.02)
        model.output.conv.bias.fill_(0.0 if residual else 0.5)
        for module in model.modules():  # distinct slopes, so a mixed-up PReLU would show
            if isinstance(module, nn.PReLU):
                module.weight.uniform_(0.05, 0.4)
    return model.eval()


def inputs(batch: int = 1, h: int = 10, w: int = 14, seed: int = 1) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    n = SMALL.num_frames - 1
    return (torch.rand(batch, 3, h, w, generator=g), torch.rand(batch, n, 3, h, w, generator=g),
            torch.randn(batch, n, 2, h, w, generator=g))


@pytest.mark.parametrize("residual", [False, True])
def test_fast_fp32_channels_last_equals_the_module(residual: bool) -> None:
    model = small_model(residual)
    fast = prepare_for_inference(model, "cpu", "fp32", channels_last=True)
    with torch.no_grad():
        expected = model(*inputs(batch=2))
    out = fast(*inputs(batch=2))
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not cpu_has_fast_bf16(), reason="this CPU has no native bf16 (fast path runs fp32 there)")
def test_fast_bf16_is_close_to_fp32() -> None:
    model = small_model(residual=True)
    fast = prepare_for_inference(model, "cpu", "bf16")
    assert fast.dtype == torch.bfloat16
    with torch.no_grad():
        expected = model(*inputs())
    out = fast(*inputs())
    assert out.dtype == torch.float32  # the output layer and the bicubic residual run in fp32
    assert float((out - expected).abs().max()) < 2e-2
    assert float((out - expected).abs().mean()) < 2e-3
    assert float((out - expected).abs().max()) > 0  # bf16 did run
    assert fast.model.feat0.conv.weight.dtype == torch.bfloat16  # stored once, not cast at every call
    assert fast.model.output.conv.weight.dtype == model.feat0.conv.weight.dtype == torch.float32


def test_prepared_copy_leaves_the_module_alone() -> None:
    model = small_model()
    keys = list(model.state_dict())
    fast = prepare_for_inference(model, "cpu", "fp32")
    assert list(fast.model.state_dict()) == keys  # same names: checkpoints load into either
    assert any(isinstance(m, FrozenPReLU) for m in fast.model.modules())
    assert not any(isinstance(m, FrozenPReLU) for m in model.modules())
    assert model.feat0.conv.weight.is_contiguous()  # the caller's module keeps its memory format
    model.train()
    model(*inputs()).square().mean().backward()
    assert model.feat0.act.weight.grad is not None  # and still trains its PReLU slopes


def test_unused_last_state_is_skipped_only_without_gradients() -> None:
    model = small_model()
    with torch.no_grad():
        skipped = model(*inputs())
    full = model(*inputs())
    torch.testing.assert_close(skipped, full.detach(), rtol=0, atol=0)


@pytest.mark.parametrize("scale", [2, 4])
def test_bicubic_residual_equals_matlab_bicubic(scale: int) -> None:
    images = torch.rand(2, 3, 7, 11)
    torch.testing.assert_close(bicubic_residual(images, scale), bicubic_upsample(images, scale), rtol=1e-6,
                               atol=1e-6)


def test_clip_in_batches_equals_frame_by_frame() -> None:
    model = small_model(residual=True)
    frames = torch.stack([torch.from_numpy(f).permute(2, 0, 1).float() / 255 for f in moving_frames(5, 16, 12)])
    one = super_resolve_clip(model, frames, flow_method="dis")
    batched = super_resolve_clip(prepare_for_inference(model, "cpu", "fp32"), frames, flow_method="dis",
                                 batch_size=3)
    torch.testing.assert_close(batched, one, rtol=1e-5, atol=1e-5)


def test_precision_refusals_and_fallbacks(caplog) -> None:
    with pytest.raises(SpectraFrameError, match="fp16 is not supported on the CPU"):
        prepare_for_inference(small_model(), "cpu", "fp16")
    with pytest.raises(SpectraFrameError, match="unknown precision 'fp8'"):
        resolve_precision("fp8", torch.device("cpu"))
    # auto: native bf16 where the CPU has it, else exact fp32
    expected_auto = torch.bfloat16 if cpu_has_fast_bf16() else torch.float32
    assert resolve_precision("auto", torch.device("cpu")) == expected_auto
    with caplog.at_level(logging.WARNING):
        dtype = resolve_precision("bf16", torch.device("cpu"))
    if cpu_has_fast_bf16():
        assert dtype == torch.bfloat16 and not caplog.records
    else:
        assert dtype == torch.float32 and "running fp32" in caplog.text


def test_upscale_backend_refusals(tmp_path: Path) -> None:
    weights = save_generator(tmp_path / "g.safetensors", small_model(), flow_method="dis")
    with pytest.raises(SpectraFrameError, match="onnxruntime backend runs fp32 only"):
        Upscaler(UpscaleOptions(weights=weights, backend="onnxruntime", precision="bf16", device="cpu"))
    with pytest.raises(SpectraFrameError, match="unknown backend 'tensorrt'"):
        Upscaler(UpscaleOptions(weights=weights, backend="tensorrt"))
    onnx = export_onnx(small_model(), tmp_path / "g.onnx", metadata={"flow_method": "dis"})
    with pytest.raises(SpectraFrameError, match="run it with --backend onnxruntime"):
        Upscaler(UpscaleOptions(weights=onnx, backend="torch"))


def folder_frames(folder: Path) -> np.ndarray:
    return np.stack([read_image(p) for p in list_frames(folder)]).astype(np.int16)


def test_onnxruntime_backend_equals_torch_through_the_pipeline(tmp_path: Path) -> None:
    # A residual model: its bicubic branch must follow the frame size in the exported graph too.
    model = small_model(residual=True)
    weights = save_generator(tmp_path / "g.safetensors", model, flow_method="dis")
    source = write_video(tmp_path / "in.mkv", moving_frames(4, width=20, height=14), codec="ffv1",
                         pix_fmt="yuv444p")
    common = {"progress": False, "device": "cpu", "tile": 0, "precision": "fp32"}
    torch_run = Upscaler(UpscaleOptions(weights=weights, **common))
    onnx_run = Upscaler(UpscaleOptions(weights=weights, backend="onnxruntime", **common))
    target, neighbours, flows = inputs(h=14, w=20)
    difference = (onnx_run.generator(target, neighbours, flows) - torch_run.generator(target, neighbours, flows))
    assert float(difference.abs().max()) < 1e-3
    torch_run.run(source, tmp_path / "torch")
    onnx_run.run(source, tmp_path / "onnx")
    a, b = folder_frames(tmp_path / "torch"), folder_frames(tmp_path / "onnx")
    assert a.shape == (4, 28, 40, 3)
    assert np.abs(a - b).max() <= 1  # within 1e-3 before rounding: at most one level after
    assert psnr(a[0].astype(np.uint8), b[0].astype(np.uint8)) > 60
    # An exported file runs directly, with the metadata it carries.
    onnx_file = export_onnx(model, tmp_path / "g.onnx", metadata={"flow_method": "dis"})
    direct = Upscaler(UpscaleOptions(weights=onnx_file, backend="onnxruntime", **common))
    direct.run(source, tmp_path / "direct")
    assert direct.flow_method == "dis"
    assert np.abs(folder_frames(tmp_path / "direct") - a).max() <= 1


def test_pipelining_off_gives_the_same_frames(tmp_path: Path) -> None:
    weights = save_generator(tmp_path / "g.safetensors", small_model(), flow_method="dis")
    source = write_video(tmp_path / "in.mkv", moving_frames(5, width=16, height=12), codec="ffv1",
                         pix_fmt="yuv444p")
    for pipelined in (True, False):
        Upscaler(UpscaleOptions(weights=weights, progress=False, pipelined=pipelined)).run(source,
                                                                                          tmp_path / f"{pipelined}")
    assert np.array_equal(folder_frames(tmp_path / "True"), folder_frames(tmp_path / "False"))
