"""The evaluation degradation syntax: parsing, its errors, and the steps on an LR clip."""

from __future__ import annotations

import pytest
import torch

from spectraframe.degradation.steps import apply_steps, parse_degradation
from spectraframe.errors import SpectraFrameError


def test_parses_into_a_base_and_steps_with_defaults_filled_in() -> None:
    spec = parse_degradation("bi+h264:crf=28")
    assert spec.base == "bi" and [s.name for s in spec.steps] == ["h264"]
    assert spec.steps[0].params == {"crf": 28.0, "preset": "medium"}
    assert str(spec) == "bi+h264:crf=28,preset=medium"
    assert str(parse_degradation("bd")) == "bd"
    assert parse_degradation("bi+mpeg4:bitrate=200k").steps[0].params["bitrate"] == 200_000
    assert parse_degradation("bi+mpeg4:bitrate=1.5M").steps[0].params["bitrate"] == 1_500_000
    chain = parse_degradation("bi+noise:sigma=3,gray=1+h264:crf=23,preset=slow")
    assert str(chain) == "bi+noise:sigma=3,gray=1+h264:crf=23,preset=slow"


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty degradation"),
    ("nearest+h264:crf=28", "must start with a clean degradation.*not 'nearest'"),
    ("h264:crf=28", "must start with a clean degradation"),
    ("bi+h265:crf=28", "unknown degradation step 'h265'.*h264, mpeg4, noise, jpeg"),
    ("bi+h264:qp=28", "step 'h264' .* has no parameter 'qp'; its parameters are crf, preset"),
    ("bi+h264:crf=abc", "bad value for h264:crf .*'abc' is not a number"),
    ("bi+h264:crf=60", "bad value for h264:crf .*'60' is not a number from 0 to 51"),
    # Numbers that are not numbers: refused in one sentence, never an OverflowError or a silent nan.
    ("bi+h264:crf=nan", "'nan' is not a number from 0 to 51"),
    ("bi+noise:sigma=inf", "'inf' is not a number from 0 to 255"),
    ("bi+mpeg4:bitrate=1e308", "'1e308' is not a bit rate from 1k to 1000M"),
    ("bi+mpeg4:bitrate=infk", "'infk' is not a bit rate"),
    ("bi+jpeg:quality=1e3", "'1e3' is not a whole number from 1 to 100"),
    ("bi+jpeg:quality=99999999999999999999999", "is not a whole number from 1 to 100"),
    # The same key twice used to run with the last value, silently.
    ("bi+h264:crf=20,crf=30", "gives crf twice"),
    ("bi+h264:crf", "must be key=value"),
    ("bi+h264:preset=quick", "must be one of ultrafast"),
    ("bi+mpeg4:bitrate=12", "from 1k"),
    ("bi+noise:gray=2", "must be 0 or 1"),
    ("bi+jpeg:quality=0", "from 1 to 100"),
])
def test_mistakes_are_named(text: str, message: str) -> None:
    with pytest.raises(SpectraFrameError, match=message):
        parse_degradation(text)


def _lr_clip() -> torch.Tensor:
    ramp = torch.linspace(0.3, 0.7, 24)
    frame = (ramp[None, :] * ramp[:, None]).expand(3, 24, 24)
    return ((frame[None].repeat(4, 1, 1, 1) * 255).round() / 255).contiguous()


def test_noise_is_fixed_by_clip_name_has_the_asked_sigma_and_lands_on_the_grid() -> None:
    clip = _lr_clip().repeat(1, 1, 8, 8)  # 4 x 3 x 192 x 192: enough pixels for the statistics
    spec = parse_degradation("bi+noise:sigma=5")
    noisy = apply_steps(clip, spec, "clipA")
    assert torch.equal(noisy, apply_steps(clip, spec, "clipA"))
    assert not torch.equal(noisy, apply_steps(clip, spec, "clipB"))
    assert torch.equal(noisy, (noisy * 255).round() / 255)
    difference = (noisy - clip) * 255
    assert abs(float(difference.mean())) < 0.05
    # Rounding to the grid adds variance 1/12 to the noise's 25.
    assert float(difference.std()) == pytest.approx((25 + 1 / 12) ** 0.5, rel=0.03)
    gray = (apply_steps(clip, parse_degradation("bi+noise:sigma=5,gray=1"), "clipA") - clip) * 255
    assert torch.allclose(gray[:, 0], gray[:, 1], atol=1.01) and float(gray.std()) > 4


def test_codec_and_jpeg_steps_change_the_clip_but_not_its_shape() -> None:
    clip = torch.rand(3, 3, 22, 30)
    clip = (clip * 255).round() / 255
    for text in ("bi+h264:crf=35", "bi+mpeg4:bitrate=20k", "bi+jpeg:quality=20"):
        out = apply_steps(clip, parse_degradation(text), "x")
        assert out.shape == clip.shape and not torch.equal(out, clip), text
        assert torch.equal(out, apply_steps(clip, parse_degradation(text), "x")), text
