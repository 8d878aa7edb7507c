"""Checkpoint round trips in both formats, and errors a user can act on."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from spectraframe.archs.rbpn import RBPN, RBPNConfig
from spectraframe.archs.srgan_discriminator import Discriminator
from spectraframe.checkpoints import (
    interpolate_generators,
    load_discriminator,
    load_generator,
    read_metadata,
    save_discriminator,
    save_generator,
    widen_window,
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


# --- the architecture a file really holds (issue 14) --------------------------------------------------------


def _shipped_model():
    return load_generator(Path(__file__).resolve().parents[1] / "spectraframe" / "weights"
                          / "spectraframe_compact_x4.safetensors")[0]


def test_training_checkpoint_loads_with_its_own_config(tmp_path: Path) -> None:
    # A trainer's RUN/checkpoints/last.pt of the compact preset: the architecture comes from the config it
    # records (residual=True), not from shapes, which cannot show the bicubic residual (output nearly black).
    from spectraframe.models.config import Config, ModelConfig

    for layout in ("hr", "lr"):
        config = Config(model=ModelConfig(preset="compact", layout=layout))
        torch.manual_seed(0)
        model = RBPN(config.model.rbpn_config()).eval()
        torch.save({"step": 5, "generator": model.state_dict(), "config": config.to_dict()}, tmp_path / "last.pt")
        loaded, meta = load_generator(tmp_path / "last.pt")
        assert loaded.config == model.config and loaded.config.residual and loaded.config.layout == layout
        assert meta["flow_method"] == "coarse2fine" and meta["provenance"]["iterations"] == 5
        with torch.no_grad():
            torch.testing.assert_close(loaded(*inputs()), model(*inputs()), rtol=0, atol=0)


def test_config_less_pth_of_a_residual_network_adds_the_bicubic(tmp_path: Path) -> None:
    # The shipped weights re-saved as a published-style .pth: a plain state dict without any config.
    shipped = _shipped_model()
    torch.save(shipped.state_dict(), tmp_path / "compact.pth")
    loaded, _ = load_generator(tmp_path / "compact.pth")
    assert loaded.config == shipped.config and loaded.config.residual
    lr = torch.rand(1, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = loaded(lr, lr.expand(1, 2, 3, 12, 12), torch.zeros(1, 2, 2, 12, 12))
    assert out.mean() > 0.3  # a picture, not the near-black correction alone
    # The same shapes trained without the residual stay a plain network (untrained here: not near black).
    plain = RBPN(RBPNConfig.from_dict({**shipped.config.to_dict(), "residual": False}))
    torch.save(plain.state_dict(), tmp_path / "plain.pth")
    assert not load_generator(tmp_path / "plain.pth")[0].config.residual


def test_lr_layout_is_read_from_the_weight_names(tmp_path: Path) -> None:
    lr_layout = RBPNConfig(**{**TINY.to_dict(), "layout": "lr"})
    torch.save(RBPN(lr_layout).state_dict(), tmp_path / "lr.pth")
    assert load_generator(tmp_path / "lr.pth")[0].config == lr_layout


def test_check_compatible_compares_every_field(tmp_path: Path) -> None:
    # model.init_from must not fine-tune another network: residual and layout count like the shapes.
    path = save_generator(tmp_path / "g.safetensors", RBPN(TINY))
    for field, value in (("residual", True), ("layout", "lr")):
        expected = RBPNConfig(**{**TINY.to_dict(), field: value})
        with pytest.raises(SpectraFrameError, match=f"has {field}="):
            load_generator(path, expected=expected)
    load_generator(path, expected=TINY)


@pytest.mark.parametrize(("bad", "message"), [
    (float("nan"), "holds NaN or infinite values"),
    (float("inf"), "holds NaN or infinite values"),
    ("int32", "holds int32 numbers, not floating point"),
])
def test_non_finite_or_integer_weights_are_refused(tmp_path: Path, bad, message) -> None:
    state = RBPN(TINY).state_dict()
    if bad == "int32":
        state["feat0.conv.weight"] = state["feat0.conv.weight"].round().to(torch.int32)
    else:
        state["feat0.conv.weight"][0, 0, 0, 0] = bad
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(SpectraFrameError, match=rf"weight feat0\.conv\.weight {message}"):
        load_generator(tmp_path / "bad.pth")
    path = _safetensors(tmp_path / "bad.safetensors", RBPN(TINY), state=state)
    with pytest.raises(SpectraFrameError, match=message):
        load_generator(path)


def _safetensors(path: Path, model: RBPN, edit=lambda m: m, state=None) -> Path:
    """`model` saved in our format, its metadata changed by `edit(metadata) -> any JSON`, its tensors by `state`."""
    import json

    from safetensors.torch import save_file

    metadata = read_metadata(save_generator(path, model))
    tensors = {k: v.contiguous() for k, v in (state or model.state_dict()).items()}
    save_file(tensors, str(path), metadata={"spectraframe": json.dumps(edit(metadata))})
    return path


@pytest.mark.parametrize(("edit", "message"), [
    (lambda m: {**m, "config": {**m["config"], "base_filter": 10**9}}, r"base_filter=1000000000, outside 1\.\.4096"),
    (lambda m: {**m, "config": {**m["config"], "num_frames": 7}}, "says num_frames=7, but its weights"),
    (lambda m: {**m, "config": {**m["config"], "num_frames": 10**6}}, "num_frames=1000000, outside"),
    (lambda m: {**m, "config": {**m["config"], "feat": "4"}}, "feat='4', expected int"),
    (lambda m: {**m, "config": {**m["config"], "residual": "no"}}, "residual='no', expected bool"),
    (lambda m: {**m, "config": [1, 2]}, "recorded config is a list"),
    (lambda m: [m], "metadata is a JSON list"),
    (lambda m: {k: v for k, v in m.items() if k != "config"}, "has no config"),
])
def test_hostile_metadata_is_refused_before_anything_is_built(tmp_path: Path, monkeypatch, edit, message) -> None:
    path = _safetensors(tmp_path / "w.safetensors", RBPN(TINY), edit)
    import spectraframe.checkpoints as checkpoints

    def never(*args, **kwargs):
        raise AssertionError("a network was built from unchecked metadata")

    monkeypatch.setattr(checkpoints, "RBPN", never)
    with pytest.raises(SpectraFrameError, match=message):
        load_generator(path)


def test_format_is_read_from_the_content_and_errors_give_no_unsafe_advice(tmp_path: Path) -> None:
    model = RBPN(TINY).eval()
    # A safetensors file named .pth, and a .pth named .safetensors, load as what they are.
    save_generator(tmp_path / "ours.pth", model)
    torch.save(model.state_dict(), tmp_path / "published.safetensors")
    for name in ("ours.pth", "published.safetensors"):
        assert load_generator(tmp_path / name)[0].config == TINY

    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"weights": Payload()}, tmp_path / "evil.pth")
    (tmp_path / "noise.pth").write_bytes(b"\x80\x02not a checkpoint at all")
    for name, reason in (("evil.pth", "Python objects other than tensors"), ("noise.pth", "truncated, corrupt")):
        with pytest.raises(SpectraFrameError) as caught:
            load_generator(tmp_path / name)
        text = str(caught.value)
        assert reason in text and "weights_only" not in text and "will likely succeed" not in text, text
        assert len(text.splitlines()) == 1


def test_interpolated_generator_moves_every_weight_between_the_two() -> None:
    torch.manual_seed(0)
    base, tuned = RBPN(TINY), RBPN(TINY)
    half = interpolate_generators(base, tuned, 0.5)
    for name, value in half.state_dict().items():
        if value.is_floating_point():
            assert torch.allclose(value, (base.state_dict()[name] + tuned.state_dict()[name]) / 2)
    assert all(torch.equal(a, b) for a, b in zip(interpolate_generators(base, tuned, 0.0).state_dict().values(),
                                                  base.state_dict().values(), strict=True))
    assert all(torch.equal(a, b) for a, b in zip(interpolate_generators(base, tuned, 1.0).state_dict().values(),
                                                  tuned.state_dict().values(), strict=True))
    assert not half.training and half is not base
    beyond = interpolate_generators(base, tuned, 1.5, extrapolate=True)
    for name, value in beyond.state_dict().items():
        if value.is_floating_point():
            expected = base.state_dict()[name] + 1.5 * (tuned.state_dict()[name] - base.state_dict()[name])
            assert torch.allclose(value, expected, atol=1e-6)


def test_interpolation_refuses_other_architectures_and_strengths_out_of_range() -> None:
    base = RBPN(TINY)
    with pytest.raises(SpectraFrameError, match="between 0 and 1, got 1.5"):
        interpolate_generators(base, RBPN(TINY), 1.5)
    wider = RBPN(RBPNConfig(**{**TINY.to_dict(), "feat": 8}))
    with pytest.raises(SpectraFrameError, match="checkpoint wider.safetensors has feat=8, model has feat=4"):
        interpolate_generators(base, wider, 0.5, "wider.safetensors")


def test_a_wider_window_keeps_every_shared_weight_and_splits_the_output_share_by_side() -> None:
    torch.manual_seed(0)
    three = RBPN(TINY)
    nn_init = three.output.conv.weight
    with torch.no_grad():
        nn_init.normal_()  # the residual preset starts the output at zero: give it something to split
    seven = widen_window(three, 7)
    assert seven.config.num_frames == 7 and seven.config.feat == TINY.feat
    old, new = three.state_dict(), seven.state_dict()
    for name, value in old.items():
        if name != "output.conv.weight":
            assert torch.equal(new[name], value), name
    feat = TINY.feat
    past, future = old["output.conv.weight"][:, :feat], old["output.conv.weight"][:, feat:]
    shares = new["output.conv.weight"].split(feat, dim=1)  # slots t-3, t-2, t-1, t+1, t+2, t+3
    assert all(torch.allclose(share, past / 3) for share in shares[:3])
    assert all(torch.allclose(share, future / 3) for share in shares[3:])
    assert seven(*inputs(7)).shape == three(*inputs(3)).shape
    with pytest.raises(SpectraFrameError, match="3-frame model: it can start a model with an odd number of frames "
                                                "of at least 3, not 4"):
        widen_window(three, 4)
