"""Image and video quality metrics of the benchmark protocol.

PSNR/SSIM live in `psnr_ssim` (re-exported here); LPIPS-VGG in `spectraframe.metrics.lpips`
and tOF in `spectraframe.metrics.tof` (imported on demand: they load VGG weights / the flow engine).
"""

from spectraframe.metrics.psnr_ssim import clip_mean, mean_of_clip_means, psnr, psnr_ssim, rgb_to_y, ssim

__all__ = ["clip_mean", "mean_of_clip_means", "psnr", "psnr_ssim", "rgb_to_y", "ssim"]
