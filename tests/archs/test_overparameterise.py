"""Training-time over-parameterisation: it starts as the plain network, trains its branches, and fuses back
into a plain RBPN that computes the same output."""

from __future__ import annotations

import pytest
import torch

from spectraframe.archs.overparameterise import fused, is_overparameterised, overparameterise
from spectraframe.archs.rbpn import RBPN, RBPNConfig
from spectraframe.checkpoints import load_generator, save_generator
from spectraframe.errors import SpectraFrameError

TINY = RBPNConfig(num_frames=3, base_filter=8, feat=8, num_stages=1, n_resblock=1, residual=True, layout="lr")


def inputs() -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(2, 3, 10, 9, generator=g), torch.rand(2, 2, 3, 10, 9, generator=g), \
        torch.randn(2, 2, 2, 10, 9, generator=g)


def trained_a_little(model: RBPN) -> RBPN:
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(5):  # zero-initialised output and corrections: gradients reach the inner layers by step 3
        optimiser.zero_grad()
        model(*inputs()).square().mean().backward()
        optimiser.step()
    return model


def test_starts_as_the_plain_network_and_every_3x3_kernel_gets_a_branch():
    torch.manual_seed(0)
    plain = RBPN(TINY)
    torch.manual_seed(0)  # the same RBPN weights; its branches' squeeze starts at zero
    wide = overparameterise(RBPN(TINY), 2)
    assert torch.equal(wide(*inputs()), plain(*inputs()))
    kernels = [m for m in plain.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    branches = [n for n, _ in wide.named_parameters() if n.endswith(".squeeze")]
    assert len(branches) == len(kernels) > 0
    # The 1x1 fusion layer keeps its plain kernel.
    assert "DBPN.feat1.conv.weight" in dict(wide.named_parameters())


def test_branches_train_and_fuse_into_a_plain_rbpn_with_the_same_output():
    torch.manual_seed(0)
    model = trained_a_little(overparameterise(RBPN(TINY), 2))
    branch = dict(model.named_parameters())["res_feat2.0.conv1.parametrizations.weight.0.squeeze"]
    assert branch.abs().max() > 0  # the branch took part in training
    plain = fused(model)
    assert not is_overparameterised(plain) and is_overparameterised(model)
    assert set(plain.state_dict()) == set(RBPN(TINY).state_dict())
    with torch.no_grad():
        torch.testing.assert_close(plain(*inputs()), model(*inputs()), rtol=1e-5, atol=1e-6)
    assert fused(plain) is plain
    trained_a_little(model)  # fusing leaves the model it was made from intact


def test_saved_weights_are_fused(tmp_path):
    torch.manual_seed(0)
    model = trained_a_little(overparameterise(RBPN(TINY), 1))
    loaded, _ = load_generator(save_generator(tmp_path / "g.safetensors", model))
    assert type(loaded) is RBPN and not is_overparameterised(loaded)
    with torch.no_grad():
        torch.testing.assert_close(loaded(*inputs()), model(*inputs()), rtol=1e-5, atol=1e-6)


def test_bad_requests_are_refused():
    with pytest.raises(SpectraFrameError, match="expansion must be >= 1, got 0"):
        overparameterise(RBPN(TINY), 0)
    model = overparameterise(RBPN(TINY), 2)
    with pytest.raises(SpectraFrameError, match="over-parameterised already"):
        overparameterise(model, 2)
    with pytest.raises(SpectraFrameError, match="no 3x3 convolution"):
        overparameterise(torch.nn.Linear(2, 2), 2)
