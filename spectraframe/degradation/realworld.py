"""The real-world training degradation: Real-ESRGAN's second-order pipeline, applied to a whole clip, ending in a
real video codec as RealBasicVSR does.

    HR clip -> [blur -> random resize -> noise -> JPEG]             first order
            -> [blur -> random resize -> noise]                     second order (second_order_prob)
            -> resize to the exact LR size (+ sinc) and JPEG (jpeg_prob2), in a random order
            -> libx264 at a random CRF or mpeg4 at a random bitrate, the clip encoded as one sequence (codec_prob)

Every random choice (kernel, sigmas, resize factor and interpolation, noise level and kind, JPEG quality, codec
and its rate) is drawn once per clip, so all frames share it as the frames of one real video do; the noise
itself is drawn per pixel of every frame. The final resize is to exactly (H / scale, W / scale) with a centred
sampling grid, so the LR clip stays aligned with the HR clip as the bicubic protocol's does. With `clean_prob`
a clip gets the clean MATLAB bicubic LR instead (the protocol's "bi"), which keeps the model good on clean input.

The defaults of `RealWorldConfig` are the published ones: Real-ESRGAN's `train_realesrnet_x4plus.yml` for blur,
resize, noise and JPEG, RealBasicVSR's mpeg4 bitrates (1e4 to 1e5 bit/s on its 64x64 LR crops). The CRF range of
libx264 is ours (RealBasicVSR draws x264 at a bitrate too). Every range is a config key: section `realworld` of a
training config, e.g. `realworld.crf_range=[18,35]`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np
import torch
import torch.nn.functional as F

from spectraframe.degradation.bicubic import bicubic_degrade, imresize
from spectraframe.degradation.kernels import KERNEL_TYPES, circular_lowpass_kernel, filter2d, random_kernel
from spectraframe.io.tensors import quantize

RESIZE_MODES = ("area", "bilinear", "bicubic", "imresize")  # imresize: MATLAB bicubic with antialiasing
CODECS = ("libx264", "mpeg4")


@dataclass
class RealWorldConfig:
    """Ranges and probabilities of the real-world degradation. Each [low, high] is drawn uniformly."""

    # With this probability a clip gets the clean bicubic LR ("bi") instead of the pipeline (0 in the papers).
    clean_prob: float = 0.0
    # --- first order
    blur_prob: float = 1.0
    kernel_range: list[float] = field(default_factory=lambda: [7, 21])  # odd kernel sizes in this range
    kernel_list: list[str] = field(default_factory=lambda: list(KERNEL_TYPES))
    kernel_prob: list[float] = field(default_factory=lambda: [0.45, 0.25, 0.12, 0.03, 0.12, 0.03])
    sinc_prob: float = 0.1  # a sinc kernel instead of one of kernel_list
    blur_sigma: list[float] = field(default_factory=lambda: [0.2, 3.0])
    betag_range: list[float] = field(default_factory=lambda: [0.5, 4.0])  # generalised Gaussian's beta
    betap_range: list[float] = field(default_factory=lambda: [1.0, 2.0])  # plateau's beta
    resize_prob: list[float] = field(default_factory=lambda: [0.2, 0.7, 0.1])  # up, down, keep
    resize_range: list[float] = field(default_factory=lambda: [0.15, 1.5])
    resize_modes: list[str] = field(default_factory=lambda: ["area", "bilinear", "bicubic"])
    noise_prob: float = 1.0
    gaussian_noise_prob: float = 0.5  # Gaussian, else Poisson
    noise_range: list[float] = field(default_factory=lambda: [1.0, 30.0])  # Gaussian sigma on the 0-255 scale
    poisson_scale_range: list[float] = field(default_factory=lambda: [0.05, 3.0])
    gray_noise_prob: float = 0.4  # the same noise on the three channels
    jpeg_prob: float = 1.0
    jpeg_range: list[float] = field(default_factory=lambda: [30, 95])
    # --- second order
    second_order_prob: float = 1.0
    second_blur_prob: float = 0.8
    sinc_prob2: float = 0.1
    blur_sigma2: list[float] = field(default_factory=lambda: [0.2, 1.5])
    betag_range2: list[float] = field(default_factory=lambda: [0.5, 4.0])
    betap_range2: list[float] = field(default_factory=lambda: [1.0, 2.0])
    resize_prob2: list[float] = field(default_factory=lambda: [0.3, 0.4, 0.3])
    resize_range2: list[float] = field(default_factory=lambda: [0.3, 1.2])
    noise_prob2: float = 1.0
    gaussian_noise_prob2: float = 0.5
    noise_range2: list[float] = field(default_factory=lambda: [1.0, 25.0])
    poisson_scale_range2: list[float] = field(default_factory=lambda: [0.05, 2.5])
    gray_noise_prob2: float = 0.4
    # --- the last resize to the LR size and the last JPEG (in a random order), and the codec
    jpeg_prob2: float = 1.0
    jpeg_range2: list[float] = field(default_factory=lambda: [30, 95])
    final_resize_modes: list[str] = field(default_factory=lambda: ["area", "bilinear", "bicubic"])
    final_sinc_prob: float = 0.8
    codec_prob: float = 1.0
    codec_list: list[str] = field(default_factory=lambda: list(CODECS))
    codec_weights: list[float] = field(default_factory=lambda: [0.5, 0.5])
    crf_range: list[float] = field(default_factory=lambda: [18, 35])  # libx264, integer CRF
    x264_preset: str = "medium"
    bitrate_range: list[float] = field(default_factory=lambda: [1e4, 1e5])  # mpeg4, bits per second at 25 fps
    # Training samples: this many frames of the clip before the window go through the pipeline with it and are
    # then dropped, so the codec codes the window inside a GOP, predicted from earlier frames as in a whole
    # stream, instead of with its first frame as the keyframe.
    codec_lead_frames: int = 0

    def problems(self) -> list[str]:
        """Every out-of-range or inconsistent setting, as `realworld.key ...` sentences."""
        from spectraframe.degradation.codec import X264_PRESETS

        problems = []
        for item in fields(self):
            value = getattr(self, item.name)
            if "prob" in item.name and isinstance(value, float) and not 0 <= value <= 1:
                problems.append(f"realworld.{item.name} is a probability in [0, 1], got {value}")
            if item.name.rstrip("2").endswith(("_range", "_sigma")) and (
                    len(value) != 2 or value[0] > value[1] or value[0] < 0):
                problems.append(f"realworld.{item.name} must be [low, high] with 0 <= low <= high, got {value}")
        weights = {"kernel_prob": (self.kernel_prob, len(self.kernel_list)), "resize_prob": (self.resize_prob, 3),
                   "resize_prob2": (self.resize_prob2, 3), "codec_weights": (self.codec_weights, len(self.codec_list))}
        for name, (values, count) in weights.items():
            if len(values) != count or any(v < 0 for v in values) or sum(values) <= 0:
                problems.append(f"realworld.{name} needs {count} non-negative weights (not all 0), got {values}")
        choices = {"kernel_list": (self.kernel_list, KERNEL_TYPES),
                   "resize_modes": (self.resize_modes, RESIZE_MODES),
                   "final_resize_modes": (self.final_resize_modes, RESIZE_MODES),
                   "codec_list": (self.codec_list, CODECS)}
        for name, (values, allowed) in choices.items():
            unknown = [v for v in values if v not in allowed]
            if unknown or not values:
                problems.append(f"realworld.{name} takes one or more of {', '.join(allowed)}, got {values}")
        low, high = self.kernel_range
        if not 1 <= low <= high:
            problems.append(f"realworld.kernel_range must be [low, high] with 1 <= low <= high, "
                            f"got {self.kernel_range}")
        elif not any(k % 2 for k in range(int(low), int(high) + 1)):
            problems.append(f"realworld.kernel_range holds no odd kernel size, got {self.kernel_range}")
        if self.crf_range[1] > 51:
            problems.append(f"realworld.crf_range must lie in 0..51 (libx264), got {self.crf_range}")
        if self.bitrate_range[0] < 1000:
            problems.append(f"realworld.bitrate_range starts at 1000 bits/s or more, got {self.bitrate_range}")
        if self.codec_lead_frames < 0:
            problems.append(f"realworld.codec_lead_frames is a number of frames (0 or more), got "
                            f"{self.codec_lead_frames}")
        if self.x264_preset not in X264_PRESETS:
            problems.append(f"realworld.x264_preset must be one of {', '.join(X264_PRESETS)}, got {self.x264_preset!r}")
        return problems


# --- the single operations (used by the pipeline and by the evaluation steps) ---------------------


def add_gaussian_noise(images: torch.Tensor, sigma: float, *, gray: bool = False,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """images (..., 3, H, W) + N(0, sigma^2) (sigma on the [0, 1] scale); `gray`: one noise plane for all channels.
    Not clamped."""
    shape = (*images.shape[:-3], 1, *images.shape[-2:]) if gray else images.shape
    noise = torch.randn(shape, generator=generator, dtype=images.dtype, device="cpu").to(images.device)
    return images + noise * sigma


# Above this mean a Poisson count is drawn as its normal approximation (mean and variance lambda, rounded): the
# exact sampler costs about 100 ms per 256x256 clip of 3 frames, and the two differ by nothing a model can see.
POISSON_NORMAL_FROM = 20.0


def add_poisson_noise(images: torch.Tensor, scale: float, *, gray: bool = False,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Shot noise as Real-ESRGAN makes it: Poisson counts of the image scaled to its number of distinct uint8 levels
    (rounded up to a power of 2), the difference to the image times `scale`. Not clamped."""
    source = images
    if gray:
        weights = torch.tensor([0.299, 0.587, 0.114], dtype=images.dtype, device=images.device).view(3, 1, 1)
        source = (images * weights).sum(dim=-3, keepdim=True)
    source = quantize(source.clamp(0, 1))
    distinct = int((torch.bincount((source * 255).round().to(torch.uint8).flatten().cpu(), minlength=256) > 0).sum())
    levels = 2 ** math.ceil(math.log2(max(2, distinct)))
    lam = (source * levels).cpu()
    counts = (lam + lam.sqrt() * torch.randn(lam.shape, generator=generator, dtype=lam.dtype)).round().clamp_(min=0)
    small = lam < POISSON_NORMAL_FROM
    if bool(small.any()):
        counts[small] = torch.poisson(lam[small], generator=generator)
    return images + (counts.to(images.device) / levels - source) * scale


def jpeg_compress(images: torch.Tensor, quality: int) -> torch.Tensor:
    """Every (3, H, W) image of `images` (..., 3, H, W) in [0, 1] through JPEG (OpenCV, 4:2:0) at `quality`; the
    result is on the uint8 grid."""
    import cv2

    flat = images.reshape(-1, *images.shape[-3:])
    arrays = (flat.detach().double().cpu().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    out = []
    for array in arrays:
        bgr = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
        ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
            raise RuntimeError("OpenCV could not encode a JPEG")
        decoded = cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        out.append(torch.from_numpy(decoded).permute(2, 0, 1))
    return (torch.stack(out).to(device=images.device, dtype=torch.float32) / 255.0).reshape(images.shape)


def resize(images: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """(..., 3, H, W) to `size` = (h, w) with a centred grid: torch's area / bilinear / bicubic or MATLAB's imresize."""
    if mode == "imresize":
        return imresize(images, size=size)
    flat = images.reshape(-1, *images.shape[-3:])
    out = F.interpolate(flat, size=size, mode=mode) if mode == "area" else \
        F.interpolate(flat, size=size, mode=mode, align_corners=False)
    return out.reshape(*images.shape[:-2], *size)


# --- the pipeline ---------------------------------------------------------------------------------


def _blur_kernel(rng: np.random.Generator, config: RealWorldConfig, sinc_prob: float, sigma: list[float],
                 betag: list[float], betap: list[float]) -> np.ndarray:
    low, high = int(config.kernel_range[0]), int(config.kernel_range[1])
    size = int(rng.choice([k for k in range(low, high + 1) if k % 2]))
    if rng.uniform() < sinc_prob:
        cutoff = rng.uniform(math.pi / 3, math.pi) if size < 13 else rng.uniform(math.pi / 5, math.pi)
        return circular_lowpass_kernel(cutoff, size)
    weights = np.asarray(config.kernel_prob, dtype=np.float64)
    kernel_type = config.kernel_list[int(rng.choice(len(weights), p=weights / weights.sum()))]
    return random_kernel(rng, size, kernel_type, sigma, betag, betap)


def _resize_factor(rng: np.random.Generator, odds: list[float], scale_range: list[float]) -> float:
    weights = np.asarray(odds, dtype=np.float64)
    direction = int(rng.choice(3, p=weights / weights.sum()))
    if direction == 0:
        return rng.uniform(1.0, scale_range[1])
    if direction == 1:
        return rng.uniform(scale_range[0], 1.0)
    return 1.0


def _noise(clip: torch.Tensor, rng: np.random.Generator, gaussian_prob: float, sigma_range: list[float],
           poisson_range: list[float], gray_prob: float) -> torch.Tensor:
    generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
    gaussian = rng.uniform() < gaussian_prob
    gray = rng.uniform() < gray_prob
    if gaussian:
        noisy = add_gaussian_noise(clip, rng.uniform(*sigma_range) / 255.0, gray=gray, generator=generator)
    else:
        noisy = add_poisson_noise(clip, rng.uniform(*poisson_range), gray=gray, generator=generator)
    return noisy.clamp(0, 1)


def _sized(height: float, width: float) -> tuple[int, int]:
    return max(2, int(height)), max(2, int(width))


def realworld_degrade(hr: torch.Tensor, scale: int, config: RealWorldConfig, rng: np.random.Generator) -> torch.Tensor:
    """The LR clip (T, 3, H/scale, W/scale), float32 on the uint8 grid, of an HR clip (T, 3, H, W) float in [0, 1]
    whose frames are in temporal order (the codec encodes them in that order). H and W are multiples of `scale`.
    All random choices come from `rng`: the same generator state gives the same LR clip."""
    if hr.ndim != 4 or hr.shape[1] != 3:
        raise ValueError(f"realworld_degrade expects an HR clip (T, 3, H, W), got shape {tuple(hr.shape)}")
    if rng.uniform() < config.clean_prob:
        return bicubic_degrade(hr.float(), scale, quantize=True)
    height, width = hr.shape[-2:]
    lr_size = (height // scale, width // scale)
    clip = hr.float()
    # First order.
    if rng.uniform() < config.blur_prob:
        kernel = _blur_kernel(rng, config, config.sinc_prob, config.blur_sigma, config.betag_range, config.betap_range)
        clip = filter2d(clip, kernel)
    factor = _resize_factor(rng, config.resize_prob, config.resize_range)
    clip = resize(clip, _sized(height * factor, width * factor), str(rng.choice(config.resize_modes)))
    if rng.uniform() < config.noise_prob:
        clip = _noise(clip, rng, config.gaussian_noise_prob, config.noise_range, config.poisson_scale_range,
                      config.gray_noise_prob)
    if rng.uniform() < config.jpeg_prob:
        clip = jpeg_compress(clip, int(round(rng.uniform(*config.jpeg_range))))
    # Second order: its resize is relative to the LR size.
    if rng.uniform() < config.second_order_prob:
        if rng.uniform() < config.second_blur_prob:
            kernel = _blur_kernel(rng, config, config.sinc_prob2, config.blur_sigma2, config.betag_range2,
                                  config.betap_range2)
            clip = filter2d(clip, kernel)
        factor = _resize_factor(rng, config.resize_prob2, config.resize_range2)
        clip = resize(clip, _sized(lr_size[0] * factor, lr_size[1] * factor), str(rng.choice(config.resize_modes)))
        if rng.uniform() < config.noise_prob2:
            clip = _noise(clip, rng, config.gaussian_noise_prob2, config.noise_range2, config.poisson_scale_range2,
                          config.gray_noise_prob2)
    # The exact LR size (+ sinc) and JPEG, in either order.
    final_mode = str(rng.choice(config.final_resize_modes))
    sinc = None
    if rng.uniform() < config.final_sinc_prob:
        size = int(rng.choice([k for k in range(int(config.kernel_range[0]), int(config.kernel_range[1]) + 1)
                               if k % 2]))
        sinc = circular_lowpass_kernel(rng.uniform(math.pi / 3, math.pi), size)

    def to_lr_size(images: torch.Tensor) -> torch.Tensor:
        images = resize(images, lr_size, final_mode)
        return images if sinc is None else filter2d(images, sinc)

    jpeg_final = rng.uniform() < config.jpeg_prob2
    quality = int(round(rng.uniform(*config.jpeg_range2)))
    if rng.uniform() < 0.5:
        clip = to_lr_size(clip).clamp(0, 1)
        if jpeg_final:
            clip = jpeg_compress(clip, quality)
    else:
        if jpeg_final:
            clip = jpeg_compress(clip, quality)
        clip = to_lr_size(clip).clamp(0, 1)
    clip = quantize(clip)
    if rng.uniform() < config.codec_prob:
        clip = _codec(clip, rng, config)
    return clip


def _codec(clip: torch.Tensor, rng: np.random.Generator, config: RealWorldConfig) -> torch.Tensor:
    from spectraframe.degradation.codec import VideoCompression, compress_clip

    weights = np.asarray(config.codec_weights, dtype=np.float64)
    codec = config.codec_list[int(rng.choice(len(weights), p=weights / weights.sum()))]
    if codec == "libx264":
        settings = VideoCompression("libx264", crf=float(rng.integers(int(config.crf_range[0]),
                                                                        int(config.crf_range[1]) + 1)),
                                    preset=config.x264_preset)
    else:
        settings = VideoCompression("mpeg4", bitrate=int(rng.uniform(*config.bitrate_range)))
    return compress_clip(clip, settings)
