"""QuantizedRBPN (quantization-aware training): it holds an RBPN's weights, its quantizers calibrate on whole
windows, gradients pass straight through to the weights, and its output stays near the float model's."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spectraframe.archs.rbpn import RBPN, RBPNConfig
from spectraframe.archs.rbpn_int8 import (
    ActivationQuantizer,
    QuantizedRBPN,
    calibrate_quantizers,
    is_quantizer_state,
    quantize_weight,
)

TINY = {"lr": RBPNConfig(scale=2, num_frames=3, base_filter=8, feat=8, num_stages=1, n_resblock=1, residual=True,
                         layout="lr"),
        "hr": RBPNConfig(scale=2, num_frames=3, base_filter=8, feat=8, num_stages=2, n_resblock=1, residual=True)}


def live_model(config: RBPNConfig, seed: int = 0) -> RBPN:
    """A random model with every layer live (the lr layout starts its corrections and output at zero)."""
    torch.manual_seed(seed)
    model = RBPN(config)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d | nn.ConvTranspose2d) and not module.weight.abs().sum():
                nn.init.kaiming_normal_(module.weight)
                module.weight.mul_(0.1)
    return model.eval()


def window(config: RBPNConfig, seed: int = 1, size: tuple[int, int] = (12, 16)):
    g = torch.Generator().manual_seed(seed)
    n, (h, w) = config.num_frames - 1, size
    return (torch.rand(2, 3, h, w, generator=g), torch.rand(2, n, 3, h, w, generator=g),
            torch.randn(2, n, 2, h, w, generator=g))


def calibrated(model: RBPN) -> QuantizedRBPN:
    quantized = QuantizedRBPN(model.config)
    quantized.load_float_weights(model.state_dict())
    calibrate_quantizers(quantized, (window(model.config, seed) for seed in range(4)))
    return quantized.eval()


@pytest.mark.parametrize("layout", ["lr", "hr"])
def test_quantized_model_stays_near_the_float_model(layout: str) -> None:
    model = live_model(TINY[layout])
    quantized = calibrated(model)
    inputs = window(model.config, seed=99)
    with torch.no_grad():
        reference, out = model(*inputs), quantized(*inputs)
    assert out.shape == reference.shape
    # 8-bit steps over each tensor's range: a small fraction of the output's spread, not zero.
    error = float((out - reference).abs().mean() / reference.std())
    assert 1e-4 < error < 0.05


def test_a_range_is_the_mean_of_each_windows_extremes() -> None:
    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.quant = ActivationQuantizer()

        def forward(self, target, neighbours, flows):
            return self.quant(target)

    probe = Probe()
    with pytest.raises(RuntimeError, match="not calibrated"):
        probe(torch.zeros(3), None, None)
    calibrate_quantizers(probe, [(torch.tensor([-1.0, 2.0]), None, None), (torch.tensor([0.5, 4.0]), None, None)])
    assert (probe.quant.low.item(), probe.quant.high.item()) == (-0.25, 3.0)  # mean of the mins, of the maxes
    x = torch.tensor([-2.0, -0.2, 0.0, 1.0, 2.9, 7.0], requires_grad=True)
    out = probe(x, None, None)
    step, zero_point = 3.25 / 255, 20  # uint8 levels, zero exactly at level 20
    assert torch.allclose(out, torch.tensor([-zero_point * step, -0.2, 0.0, 1.0, 2.9, (255 - zero_point) * step]),
                          atol=step / 2)
    assert len(set(out.tolist())) == 6 and out[2] == 0
    out.sum().backward()  # straight through inside the range, nothing outside
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 0.0]


def test_weights_are_int8_per_output_channel() -> None:
    weight = torch.randn(6, 4, 3, 3) * torch.arange(1, 7).view(6, 1, 1, 1)
    quantized = quantize_weight(weight)
    for channel in range(6):
        step = weight[channel].abs().max() / 127
        levels = quantized[channel] / step
        assert torch.allclose(levels, levels.round(), atol=1e-3) and levels.abs().max() <= 127.001
    assert float((quantized - weight).abs().max()) <= float(weight.abs().amax() / 127 / 2) + 1e-6


def test_gradients_reach_the_weights() -> None:
    model = live_model(TINY["lr"])
    quantized = calibrated(model).train()
    target, neighbours, flows = window(model.config, seed=5)
    quantized(target, neighbours, flows).square().mean().backward()
    for layer in (quantized.DBPN.up1.up_conv1.conv, quantized.res_feat2[0].conv2, quantized.output.conv):
        assert layer.weight.grad.abs().sum() > 0


def test_float_weights_round_trip() -> None:
    model = live_model(TINY["lr"])
    quantized = calibrated(model)
    state = {k: v for k, v in quantized.state_dict().items() if not is_quantizer_state(k)}
    assert state.keys() == model.state_dict().keys()
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert all(is_quantizer_state(k) for k in quantized.state_dict().keys() - state.keys())
    with pytest.raises(ValueError, match="not an RBPN of this shape"):
        QuantizedRBPN(RBPNConfig(**{**TINY["lr"].to_dict(), "feat": 16})).load_float_weights(model.state_dict())
