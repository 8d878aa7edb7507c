"""Checkpoint round trips in both formats, and errors a user can act on."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from spectraframe.archs.rbpn import RBPN, RBPNConfig
from spectraframe.archs.srgan_discriminator import Discriminator
from spectraframe.checkpoints import (
    load_discriminator,
    load_generator,
    read_metadata,
    save_discriminator,
    save_generator,
)
from spectraframe.errors import SpectraFrameError

TINY = RBPNConfig(scale=4, num_frames=3, base_filter=8, feat=4, num_stages=2, n_resblock=1)


def inputs(frames: int = 3) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(1, 3, 5, 6, generator=g), torch.rand(1, frames - 1, 3, 5, 6, generator=g), \
        torch.randn(1, frames - 1, 2, 5, 6, generator=g)


def test_safetensors_round_trip_builds_model_from_metadata(tmp_path: Path) -> None:
    model = RBPN(TINY).eval()
    path = save_generator(tmp_path / "g.safetensors", model, flow_method="dis",
                          provenance={"iterations": 12})
    loaded, meta = load_generator(path)
    assert loaded.config == TINY
    assert meta["flow_method"] == "dis" and meta["provenance"] == {"iterations": 12}
    assert read_metadata(path)["num_frames"] == 3
    with torch.no_grad():
        torch.testing.assert_close(loaded(*inputs()), model(*inputs()), rtol=0, atol=0)
    assert not list(tmp_path.glob("*.tmp")), "atomic write left a temporary file"


def test_published_pth_with_module_prefix_loads(tmp_path: Path) -> None:
    model = RBPN(TINY).eval()
    # What nn.DataParallel checkpoints of the published code look like.
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, tmp_path / "RBPN_4x.pth")
    loaded, meta = load_generator(tmp_path / "RBPN_4x.pth")
    assert loaded.config == TINY
    assert meta["provenance"]["source"] == "published .pth checkpoint"
    with torch.no_grad():
        torch.testing.assert_close(loaded(*inputs()), model(*inputs()), rtol=0, atol=0)


def test_published_paper_shapes_infer_paper_config(tmp_path: Path) -> None:
    torch.save(RBPN().state_dict(), tmp_path / "paper.pth")
    loaded, _ = load_generator(tmp_path / "paper.pth", expected=RBPNConfig())
    assert loaded.config == RBPNConfig()


def test_frame_count_mismatch_is_a_sentence(tmp_path: Path) -> None:
    eleven = RBPNConfig(**{**TINY.to_dict(), "num_frames": 11})
    torch.save(RBPN(eleven).state_dict(), tmp_path / "f11.pth")
    with pytest.raises(SpectraFrameError, match="trained for 11 frames, model has 7"):
        load_generator(tmp_path / "f11.pth", num_frames=7)
    with pytest.raises(SpectraFrameError, match="trained for 11 frames, model has 3"):
        load_generator(tmp_path / "f11.pth", expected=TINY)


def test_scale_mismatch_is_a_sentence(tmp_path: Path) -> None:
    path = save_generator(tmp_path / "x4.safetensors", RBPN(TINY))
    with pytest.raises(SpectraFrameError, match="trained for x4, but x2 was asked for"):
        load_generator(path, scale=2)


def test_truncated_and_corrupt_files(tmp_path: Path) -> None:
    good = save_generator(tmp_path / "g.safetensors", RBPN(TINY))
    data = good.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(SpectraFrameError, match="corrupt or truncated"):
        load_generator(tmp_path / "cut.safetensors")
    torch.save(RBPN(TINY).state_dict(), tmp_path / "g.pth")
    pth = (tmp_path / "g.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(pth[: len(pth) // 2])
    with pytest.raises(SpectraFrameError, match="truncated, corrupt"):
        load_generator(tmp_path / "cut.pth")
    (tmp_path / "noise.pth").write_bytes(b"not a checkpoint at all")
    with pytest.raises(SpectraFrameError, match="cannot read checkpoint"):
        load_generator(tmp_path / "noise.pth")
    with pytest.raises(SpectraFrameError, match="not found"):
        load_generator(tmp_path / "missing.pth")


def test_code_carrying_pickle_is_refused(tmp_path: Path) -> None:
    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"weights": Payload()}, tmp_path / "evil.pth")
    with pytest.raises(SpectraFrameError, match="cannot read checkpoint"):
        load_generator(tmp_path / "evil.pth")


def test_other_network_in_checkpoint(tmp_path: Path) -> None:
    torch.save(Discriminator().state_dict(), tmp_path / "d.pth")
    with pytest.raises(SpectraFrameError, match="not an RBPN generator"):
        load_generator(tmp_path / "d.pth")


def test_discriminator_round_trips(tmp_path: Path) -> None:
    d = Discriminator().eval()
    save_discriminator(tmp_path / "d.safetensors", d)
    torch.save({f"module.{k}": v for k, v in d.state_dict().items()}, tmp_path / "netD.pth")
    x = torch.rand(2, 3, 32, 32)
    for name in ("d.safetensors", "netD.pth"):
        loaded = load_discriminator(tmp_path / name).eval()
        torch.testing.assert_close(loaded(x), d(x), rtol=0, atol=0)


def test_discriminator_shape_mismatch_is_listed(tmp_path: Path) -> None:
    state = Discriminator().state_dict()
    state["net.0.weight"] = torch.zeros(32, 3, 3, 3)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(SpectraFrameError, match=r"another shape .*net\.0\.weight"):
        load_discriminator(tmp_path / "bad.pth")
