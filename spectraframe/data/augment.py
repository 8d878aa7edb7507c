"""Training augmentation shared by every frame of a sample: one crop, one flip/rotation for all.

Flows computed once on whole frames are cropped and transformed with the frames instead of being
re-estimated for every random patch. A flow field (u, v) follows the convention
neighbour(x + u, y + v) ~ target(x, y) (channel 0 = u, horizontal, in pixels). Transforming the
frames moves the field's pixels and changes the displacement vectors:

* horizontal flip: x -> W-1-x, so u -> -u;
* vertical flip: y -> H-1-y, so v -> -v;
* rotation by 90 degrees as torch.rot90(k=1) (counter-clockwise on screen): the new pixel (x', y') is the
  old (W-1-y', x'), so a displacement (u, v) becomes (u', v') = (v, -u).

Flips in both axes plus an optional 90-degree rotation reach all 8 symmetries of the square.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True)
class Crop:
    """A patch of the LR grid: top-left (y, x) and size; the HR patch is the same region times the scale."""

    y: int
    x: int
    size: int

    def lr(self, images: Tensor) -> Tensor:
        return images[..., self.y : self.y + self.size, self.x : self.x + self.size]

    def hr(self, images: Tensor, scale: int) -> Tensor:
        s = scale
        return images[..., self.y * s : (self.y + self.size) * s, self.x * s : (self.x + self.size) * s]


@dataclass(frozen=True)
class Symmetry:
    """hflip, then vflip, then a 90-degree rotation, applied to (..., H, W) tensors."""

    hflip: bool = False
    vflip: bool = False
    rot90: bool = False

    def images(self, images: Tensor) -> Tensor:
        if self.hflip:
            images = images.flip(-1)
        if self.vflip:
            images = images.flip(-2)
        if self.rot90:
            images = torch.rot90(images, 1, dims=(-2, -1))
        return images.contiguous()

    def invert_images(self, images: Tensor) -> Tensor:
        """Undo `images` (e.g. on a network's output for a transformed input): the steps backwards."""
        if self.rot90:
            images = torch.rot90(images, -1, dims=(-2, -1))
        if self.vflip:
            images = images.flip(-2)
        if self.hflip:
            images = images.flip(-1)
        return images.contiguous()

    def flows(self, flows: Tensor) -> Tensor:
        """Flows (..., 2, H, W): move the pixels like `images`, and transform the vectors."""
        u, v = flows[..., 0:1, :, :], flows[..., 1:2, :, :]
        if self.hflip:
            u, v = -u.flip(-1), v.flip(-1)
        if self.vflip:
            u, v = u.flip(-2), -v.flip(-2)
        if self.rot90:
            u, v = torch.rot90(v, 1, dims=(-2, -1)), -torch.rot90(u, 1, dims=(-2, -1))
        return torch.cat([u, v], dim=-3).contiguous()


ALL_SYMMETRIES = tuple(Symmetry(hflip, vflip, rot90) for rot90 in (False, True) for vflip in (False, True)
                       for hflip in (False, True))


def random_crop(lr_height: int, lr_width: int, size: int, rng: np.random.Generator) -> Crop:
    """A uniformly placed size x size patch inside an lr_height x lr_width frame."""
    if lr_height < size or lr_width < size:
        raise ValueError(f"an LR frame of {lr_width}x{lr_height} is smaller than the {size}x{size} patch")
    return Crop(int(rng.integers(0, lr_height - size + 1)), int(rng.integers(0, lr_width - size + 1)), size)


def random_symmetry(rng: np.random.Generator, hflip: bool = True, vflip: bool = True, rot90: bool = True) -> Symmetry:
    """Each enabled transform with probability 1/2 (always three draws, so the stream does not depend on options)."""
    draws = rng.random(3) < 0.5
    return Symmetry(hflip=hflip and bool(draws[0]), vflip=vflip and bool(draws[1]), rot90=rot90 and bool(draws[2]))
