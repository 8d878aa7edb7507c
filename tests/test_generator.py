"""spectraframe/generator.py: the x8 self-ensemble around any generator."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from helpers.models import TINY, tiny_model

from spectraframe.data.augment import ALL_SYMMETRIES
from spectraframe.flow.api import warp
from spectraframe.generator import SelfEnsemble


class WarpingGenerator:
    """Equivariant to flips and rotations when the flows are transformed right: each neighbour warped onto the
    target by its flow, averaged with the target, upsampled x2 (nearest)."""

    config = TINY
    device = torch.device("cpu")

    def __init__(self, symmetry_of_flows=None):
        self.symmetry_of_flows = symmetry_of_flows

    def __call__(self, target, neighbours, flows):
        b, n = neighbours.shape[:2]
        warped = warp(neighbours.reshape(b * n, *neighbours.shape[2:]), flows.reshape(b * n, *flows.shape[2:]))
        mean = (target + warped.reshape(neighbours.shape).sum(1)) / (n + 1)
        return F.interpolate(mean, scale_factor=2, mode="nearest")


def _window(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    target = torch.rand(1, 3, 12, 16, generator=generator)
    neighbours = torch.rand(1, 2, 3, 12, 16, generator=generator)
    flows = 1.5 * torch.randn(1, 2, 2, 12, 16, generator=generator)
    return target, neighbours, flows


def test_self_ensemble_of_an_equivariant_generator_is_the_generator():
    target, neighbours, flows = _window()
    single = WarpingGenerator()(target, neighbours, flows)
    ensemble = SelfEnsemble(WarpingGenerator())(target, neighbours, flows)
    assert ensemble.shape == single.shape == (1, 3, 24, 32)
    assert torch.allclose(ensemble, single, atol=1e-5)


def test_the_flows_must_turn_with_the_frames():
    # The same ensemble with the flow vectors left as they were (only their pixels moved): the test would see it.
    target, neighbours, flows = _window()
    single = WarpingGenerator()(target, neighbours, flows)
    outputs = []
    for symmetry in ALL_SYMMETRIES:
        moved_only = symmetry.images(flows)
        out = WarpingGenerator()(symmetry.images(target), symmetry.images(neighbours), moved_only)
        outputs.append(symmetry.invert_images(out))
    assert (torch.stack(outputs).mean(0) - single).abs().max() > 0.05


def test_self_ensemble_of_rbpn_averages_eight_passes_and_describes_itself():
    model = tiny_model()
    target, neighbours, flows = _window(1)
    ensemble = SelfEnsemble(model)
    assert ensemble.config == model.config and ensemble.device == torch.device("cpu")
    assert ensemble.describe() == "RBPN, self-ensemble x8"
    with torch.no_grad():
        averaged = ensemble(target, neighbours, flows)
        single = model(target, neighbours, flows)
    assert averaged.dtype == torch.float32 and averaged.shape == single.shape
    assert not torch.allclose(averaged, single, atol=1e-4)  # RBPN is not equivariant: the passes differ
