"""The final size of `upscale --height H` / `--outscale S`: the network's output, shrunk with an anti-aliased
filter to the size asked for, aspect kept, even sides for video (yuv420p halves the chroma both ways).

The network only makes detail up to its own scale; anything larger would be plain interpolation, so a
size beyond it is refused rather than quietly enlarged. Anything smaller than the input is refused too: a
super-resolution tool asked for a 2x2 video was given a typo, not a wish (the one rule: from the input's size
to the network's, the same on the command line and on the page).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from spectraframe.cli_numbers import shown
from spectraframe.errors import SpectraFrameError


def check_size_request(target_height: int | None, outscale: float | None, network_scale: int | None = None) -> None:
    """Refuse impossible --height/--outscale values; with the network's scale, also an --outscale above it."""
    if target_height is not None and outscale is not None:
        raise SpectraFrameError("give --height or --outscale, not both: each sets the output size on its own")
    if target_height is not None and target_height < 2:
        raise SpectraFrameError(f"--height must be 2 pixels or more, got {target_height}")
    if outscale is not None and not outscale >= 1:  # also nan
        raise SpectraFrameError(f"--outscale {shown(outscale)} would make the output smaller than the input: use "
                                "--outscale 1 (the input's size) or more")
    if outscale is not None and network_scale is not None and outscale > network_scale:
        raise SpectraFrameError(
            f"--outscale {shown(outscale)} is more than the x{network_scale} these weights reach; going further "
            f"would only be interpolation: use --outscale {network_scale} or less, or weights made for a larger scale"
        )


def final_size(width: int, height: int, network_scale: int, *, target_height: int | None = None,
               outscale: float | None = None, even: bool = True) -> tuple[int, int]:
    """(width, height) of the output for an input of width x height; the network's own size when neither
    --height nor --outscale is given. `even` rounds both sides to even numbers (video outputs)."""
    check_size_request(target_height, outscale, network_scale)
    network_width, network_height = width * network_scale, height * network_scale
    if target_height is None and outscale is None:
        return network_width, network_height
    if target_height is not None:
        if target_height < height:
            raise SpectraFrameError(f"--height {target_height} would make the output smaller than the {height}-pixel-"
                                    f"high input: use --height {height} (the input's size) or more")
        if target_height > network_height:
            raise SpectraFrameError(
                f"--height {target_height} needs x{target_height / height:.3g} of the {height}-pixel-high input, "
                f"more than the x{network_scale} these weights reach: use --height {network_height} or less, or "
                "weights made for a larger scale"
            )
        out_height, out_width = target_height, width * target_height / height
    else:
        out_height, out_width = height * outscale, width * outscale
    step = 2 if even else 1
    # Down to a multiple of the step: never above the size asked for (the epsilon absorbs float error).
    def rounded(value: float) -> int:
        return max(step, step * int((value + 1e-6) // step))

    return rounded(out_width), rounded(out_height)


def size_label(network_scale: int, target_height: int | None = None, outscale: float | None = None) -> str:
    """The tag of default output names: `x4`, `x2`, `x1.5` or `1080p`."""
    if target_height is not None:
        return f"{target_height}p"
    return f"x{outscale:g}" if outscale is not None else f"x{network_scale}"


def fit_frame(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An (H, W, 3) uint8 frame resized to `size` = (width, height); unchanged when it already has that size.

    Lanczos with PIL's support widened by the shrink factor (anti-aliased), on uint8: separable and linear
    in the pixel count, where the dense matrices of `degradation.imresize` cost input x output per row.
    """
    if (image.shape[1], image.shape[0]) == tuple(size):
        return image
    return np.asarray(Image.fromarray(image).resize(size, Image.LANCZOS))
