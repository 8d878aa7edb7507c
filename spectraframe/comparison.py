"""Side-by-side comparison pictures (people would rather look than read)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def detail_crop_box(image_hwc: np.ndarray, crop_h: int, crop_w: int) -> tuple[int, int]:
    """Top-left corner of the crop with the most detail (gradient energy of the luma), for zooming."""
    luma = image_hwc.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    energy = np.zeros_like(luma)
    energy[:, 1:] += np.abs(np.diff(luma, axis=1))
    energy[1:, :] += np.abs(np.diff(luma, axis=0))
    integral = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    h, w = luma.shape
    ys = np.arange(0, h - crop_h + 1, max(crop_h // 4, 1))
    xs = np.arange(0, w - crop_w + 1, max(crop_w // 4, 1))
    sums = (integral[ys[:, None] + crop_h, xs[None, :] + crop_w] - integral[ys[:, None], xs[None, :] + crop_w]
            - integral[ys[:, None] + crop_h, xs[None, :]] + integral[ys[:, None], xs[None, :]])
    iy, ix = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(ys[iy]), int(xs[ix])


def comparison_image(panels: Sequence[tuple[str, np.ndarray]], zoom: int = 4) -> np.ndarray:
    """Labelled panels side by side, and below each the same detailed crop zoomed `zoom` times.

    Panels are (label, (H, W, 3) uint8) of one size; the crop is the most detailed region of the last
    panel (the ground truth, or the output when there is none). The result is (2H, len(panels)*W, 3).
    """
    h, w = panels[-1][1].shape[:2]
    crop_h, crop_w = max(h // zoom, 1), max(w // zoom, 1)
    y0, x0 = detail_crop_box(panels[-1][1], crop_h, crop_w)
    # A label readable at any size: about 1/30 of the panel height (PIL's bitmap default is 11 px).
    font = ImageFont.load_default(size=max(12, h // 30))
    top, bottom = [], []
    for label, image in panels:
        panel = Image.fromarray(image)
        crop = panel.crop((x0, y0, x0 + crop_w, y0 + crop_h)).resize((w, h), Image.NEAREST)
        draw = ImageDraw.Draw(panel)
        draw.rectangle((x0, y0, x0 + crop_w - 1, y0 + crop_h - 1), outline=(255, 0, 0), width=max(1, w // 400))
        draw.text((6, 4), label, fill=(255, 255, 0), font=font, stroke_width=max(1, h // 400), stroke_fill=(0, 0, 0))
        top.append(np.asarray(panel))
        bottom.append(np.asarray(crop))
    return np.concatenate([np.concatenate(top, axis=1), np.concatenate(bottom, axis=1)], axis=0)


def bicubic_comparison(low: np.ndarray, upscaled: np.ndarray, label: str = "SpectraFrame",
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(bicubic, picture): the low-resolution frame enlarged by bicubic interpolation to the upscaled frame's size,
    and the labelled bicubic | `label` picture with the most detailed region zoomed below (`comparison_image`)."""
    from spectraframe.degradation import imresize
    from spectraframe.io.tensors import to_tensor, to_uint8

    bicubic = to_uint8(imresize(to_tensor(low), size=upscaled.shape[:2]).clamp(0, 1))
    return bicubic, comparison_image([("bicubic", bicubic), (label, upscaled)])
