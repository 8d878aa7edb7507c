"""Fast inference: the generator prepared once for a device and a precision, then called like RBPN.

What makes the CPU forward fast (measured in benchmarks/speed.py):
- channels-last memory format: oneDNN's transposed and strided convolutions are several times faster in it
  than in the contiguous format PyTorch defaults to;
- bf16 autocast on CPUs with native bf16 dot products (AVX512-BF16 or AMX), fp16 or bf16 on CUDA;
- PReLU with its single slope frozen as a number (leaky ReLU, in place): nn.PReLU's kernel is slow, and
  its fp32 slope promotes bf16 activations back to fp32, which costs a cast before every following
  convolution; convolution weights stored in bf16 once instead of cast by autocast at every call;
- `torch.inference_mode`, and optionally `torch.compile`;
- freed memory kept for reuse (`spectraframe.allocator.keep_freed_memory`, which the CLI turns on).

The prepared generator is a copy: the caller's module keeps training as before.
"""

from __future__ import annotations

import copy
import logging
from contextlib import nullcontext

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from spectraframe.allocator import keep_freed_memory  # noqa: F401  (its former home; the CLI imports it there)
from spectraframe.archs.rbpn import RBPN, RBPNConfig
from spectraframe.errors import SpectraFrameError

log = logging.getLogger(__name__)

PRECISIONS: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# What a user may name: the torch dtypes, int8 (OpenVINO on the CPU, `spectraframe.int8`), and auto.
PRECISION_CHOICES = ("auto", *PRECISIONS, "int8")
_warned: set[str] = set()


def warn_once(message: str) -> None:
    """Log a warning the first time `message` comes up in this process (a web server builds many upscalers)."""
    if message not in _warned:
        _warned.add(message)
        log.warning(message)


def cpu_has_fast_bf16() -> bool:
    """True when the CPU multiplies bf16 natively (AVX512-BF16 or AMX); elsewhere bf16 is emulated and slow."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def cpu_has_int8_dot() -> bool:
    """True when the CPU has int8 dot-product instructions (AVX512-VNNI, AVX-VNNI or AMX): without them int8
    convolutions are emulated and no faster than bf16/fp32."""
    checks = ("_is_vnni_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def auto_precision(device: torch.device) -> str:
    """The fastest precision that keeps the output: bf16 on CPUs with native bf16, fp16 on CUDA, else fp32.

    On the shipped weights bf16 changes val.txt PSNR by < 0.001 dB (benchmarks/results/speed.md)."""
    if device.type == "cpu":
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    if device.type == "cuda":
        return "fp16"
    return "fp32"


def choose_precision(name: str, device: torch.device, int8_ready: bool) -> str:
    """The precision a run uses, by name (one of PRECISION_CHOICES but auto).

    int8_ready: an int8 model of the weights is at hand and OpenVINO is installed (the caller knows the weights).
    auto takes int8 where it is ready and the CPU has int8 dot products (VNNI or AMX), else `auto_precision`.
    int8 asked for on a CPU without them runs `auto_precision` instead, with one warning per process: emulated
    int8 is no faster than bf16/fp32. Other names are checked as `resolve_precision` checks them.
    """
    if name == "int8":
        if device.type != "cpu":
            raise SpectraFrameError(f"int8 runs on the CPU (OpenVINO), not on {device.type}: use --precision auto")
        if not cpu_has_int8_dot():
            fallback = auto_precision(device)
            warn_once(f"this CPU has no int8 dot products (AVX512-VNNI, AVX-VNNI or AMX), so int8 would be no "
                      f"faster: running {fallback}")
            return fallback
        return "int8"
    if name == "auto" and device.type == "cpu" and int8_ready and cpu_has_int8_dot():
        return "int8"
    return precision_name(resolve_precision(name, device))


def precision_name(dtype: torch.dtype) -> str:
    return next(name for name, value in PRECISIONS.items() if value == dtype)


def resolve_device(name: str) -> torch.device:
    """`auto` (CUDA, then MPS, then CPU), or a named device that must exist: a sentence when it does not."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise SpectraFrameError(f"unknown device {name!r}; use auto, cpu, cuda or mps") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SpectraFrameError("--device cuda was asked for but PyTorch sees no CUDA GPU (use --device cpu)")
    if device.type == "mps" and not (torch.backends.mps.is_available()):
        raise SpectraFrameError("--device mps was asked for but this PyTorch has no MPS support (use --device cpu)")
    return device


def resolve_precision(name: str, device: torch.device) -> torch.dtype:
    """The compute dtype for `name` on `device`; refuses what cannot work, falls back where it only would be slow.

    bf16 on a CPU without native bf16 runs fp32 instead (with a warning): emulated bf16 is slower than fp32.
    """
    if name == "auto":
        return PRECISIONS[auto_precision(device)]
    if name not in PRECISIONS:
        raise SpectraFrameError(f"unknown precision {name!r}; use one of {', '.join(PRECISION_CHOICES)}")
    if name == "fp16" and device.type == "cpu":
        raise SpectraFrameError(
            "fp16 is not supported on the CPU (PyTorch has no fast fp16 CPU kernels and results would lose "
            "range); use --precision bf16 or fp32 on the CPU, fp16 on CUDA"
        )
    if name == "bf16" and device.type == "cpu" and not cpu_has_fast_bf16():
        log.warning("this CPU has neither AVX512-BF16 nor AMX, so bf16 would be slower than fp32: running fp32")
        return torch.float32
    if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise SpectraFrameError(f"this GPU ({torch.cuda.get_device_name(device)}) has no bf16: use --precision fp16")
    return PRECISIONS[name]


def autocast_context(device: torch.device, dtype: torch.dtype | None):
    """Autocast for bf16/fp16 inference; a no-op for fp32 (dtype None or float32)."""
    if dtype is None or dtype == torch.float32:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


class FrozenPReLU(nn.Module):
    """Inference-only PReLU with one slope read once: a leaky ReLU, which keeps the input's dtype.

    The slope stays a buffer named `weight`, so the state-dict keys are those of nn.PReLU. With `inplace`
    it overwrites its input, which is right only where every input is a fresh result used nowhere else
    (true of RBPN: each activation takes a convolution's output or a sum just made).
    """

    def __init__(self, prelu: nn.PReLU, inplace: bool = False):
        super().__init__()
        if prelu.weight.numel() != 1:
            raise ValueError("FrozenPReLU replaces single-slope PReLUs only")
        self.register_buffer("weight", prelu.weight.detach().clone())
        self.slope = float(prelu.weight.detach())
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.slope, inplace=self.inplace)


def freeze_activations(model: nn.Module, inplace: bool = False) -> int:
    """Replace every single-slope nn.PReLU inside `model` by a FrozenPReLU; returns how many."""
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.PReLU) and child.weight.numel() == 1:
                setattr(parent, name, FrozenPReLU(child, inplace))
                replaced += 1
    return replaced


def cast_convolutions(model: nn.Module, dtype: torch.dtype, keep: tuple[nn.Module, ...] = ()) -> None:
    """Store the (transposed) convolutions' weights in `dtype`: autocast would cast them at every call.

    Exact: autocast rounds the fp32 weights to the same values. `keep` stays fp32 (layers run in fp32).
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.ConvTranspose2d) and not any(module is k for k in keep):
            module.to(dtype)


class FastGenerator:
    """A generator prepared for inference, called like RBPN: (target, neighbours, flows) -> HR in float32.

    Inputs may be on any device and in any float dtype; they are moved to the model's device. Batches of
    several target frames run as one pass.
    """

    def __init__(self, model: RBPN, device: torch.device, dtype: torch.dtype, channels_last: bool, compiled: bool):
        self.model = model
        self.device = device
        self.dtype = dtype
        self.channels_last = channels_last
        self.compiled = compiled
        self._forward = torch.compile(model) if compiled else model

    @property
    def config(self) -> RBPNConfig:
        return self.model.config

    def parameters(self):
        return self.model.parameters()

    def __call__(self, target: Tensor, neighbours: Tensor, flows: Tensor) -> Tensor:
        with torch.inference_mode(), autocast_context(self.device, self.dtype):
            target = target.to(self.device, torch.float32)
            if self.channels_last:
                target = target.contiguous(memory_format=torch.channels_last)
            out = self._forward(target, neighbours.to(self.device, torch.float32), flows.to(self.device, torch.float32))
        return out.float()

    def describe(self) -> str:
        layout = "channels-last" if self.channels_last else "contiguous"
        extra = ", torch.compile" if self.compiled else ""
        return f"{self.device.type} {str(self.dtype).removeprefix('torch.')} {layout}{extra}"


def prepare_for_inference(
    model: RBPN,
    device: str | torch.device = "cpu",
    precision: str = "bf16",
    channels_last: bool = True,
    compile: bool = False,
) -> FastGenerator:
    """A fast inference copy of `model` (which is left as it was).

    precision: auto | fp32 | bf16 | fp16 — auto picks bf16 on CPUs with native bf16, fp16 on CUDA; bf16
    falls back to fp32 on CPUs without native bf16 (with a warning); fp16 on the CPU is refused.
    compile: wrap the forward in torch.compile (the first call of each new input size compiles, which
    takes minutes for the paper preset; worth it for long videos only).
    """
    device = torch.device(device)
    dtype = resolve_precision(precision, device)
    fast = copy.deepcopy(model).eval()
    freeze_activations(fast, inplace=isinstance(fast, RBPN))
    fast = fast.to(device)
    if dtype != torch.float32:
        # RBPN runs its output layer in fp32 (it sets the output precision).
        cast_convolutions(fast, dtype, keep=(fast.output.conv,) if isinstance(fast, RBPN) else ())
    if channels_last:
        fast = fast.to(memory_format=torch.channels_last)
    return FastGenerator(fast, device, dtype, channels_last, compile)
