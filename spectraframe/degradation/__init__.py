"""Degradations: how a low-resolution clip is made from a high-resolution one.

- `bicubic`: the clean protocol of the video-SR benchmarks, MATLAB bicubic `imresize` ("bi") and BD blur ("bd").
- `kernels`: the blur kernels of the real-world pipeline (Gaussian, generalised, plateau, sinc).
- `codec`: a clip encoded as one sequence by FFmpeg's libx264 / mpeg4 (PyAV) and decoded back.
- `realworld`: the second-order training pipeline (blur, resize, noise, JPEG, video codec), one draw per clip.
- `steps`: the evaluation syntax `bi+h264:crf=28`: a clean degradation followed by codec / noise steps.

The names below are those `spectraframe.degradation` has always had, so imports of the clean protocol keep working.
"""

from spectraframe.degradation.bicubic import (
    BD_KERNEL_SIZE,
    DEGRADATIONS,
    bicubic_degrade,
    bicubic_upsample,
    blur_degrade,
    degrade,
    gaussian_kernel_1d,
    imresize,
    modcrop,
    resize_matrix,
)

__all__ = [
    "BD_KERNEL_SIZE",
    "DEGRADATIONS",
    "bicubic_degrade",
    "bicubic_upsample",
    "blur_degrade",
    "degrade",
    "gaussian_kernel_1d",
    "imresize",
    "modcrop",
    "resize_matrix",
]
