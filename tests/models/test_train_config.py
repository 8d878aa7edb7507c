"""Training config: presets, YAML files, overrides, validation messages, round trip."""

from __future__ import annotations

import pytest
import yaml

from spectraframe.errors import SpectraFrameError
from spectraframe.models.config import Config, config_from_dict, load_config, preset_names, save_config


def test_presets_ship_and_load():
    assert {"paper", "cpu_small"} <= set(preset_names())
    paper = load_config("paper")
    assert paper.model.rbpn_config().num_frames == 7
    assert paper.model.rbpn_config().base_filter == 256
    assert (paper.train.batch_size, paper.data.lr_patch, paper.train.epochs) == (8, 64, 150)
    assert (paper.loss.adversarial_weight, paper.loss.perceptual_weight, paper.loss.tv_weight) == (1e-3, 6e-3, 2e-8)
    # The paper preset picks its best checkpoint on clips held out of the training list, not on the test list.
    assert paper.data.val_holdout == 100 and paper.val.list is None
    small = load_config("cpu_small")
    assert small.model.rbpn_config().residual is True
    assert small.train.device == "cpu"


def test_overrides_parse_values_the_way_users_write_them():
    config = load_config("cpu_small", ["train.lr=2e-4", "train.lr_decay_at=[0.6, 0.9]", "data.hflip=false",
                                       "model.num_stages=2", "data.root=some/folder"])
    assert config.train.lr == 2e-4
    assert config.train.lr_decay_at == [0.6, 0.9]
    assert config.data.hflip is False
    assert config.model.rbpn_config().num_stages == 2
    assert config.data.root == "some/folder"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.lrr=1", "did you mean 'lr'"),
        ("trian.lr=1", "did you mean 'train'"),
        ("train.lr=abc", "train.lr must be a number"),
        ("train.batch_size=2.5", "must be an integer"),
        ("data.degradation=xx", "data.degradation must be one of"),
        ("model.num_frames=4", "must be odd"),
        ("train.lr_decay_at=[1.5]", "fractions"),
        ("trainlr=1", "section.key=value"),
        ("model.preset=huge", "unknown model.preset"),
        ("data.val_holdout=5", "set val.list=null, or data.val_holdout=0"),
        ("data.val_holdout=-1", "data.val_holdout must be >= 0"),
        ("train.ema=1", "train.ema is a decay per step"),
        ("train.lr_schedule=linear", "train.lr_schedule must be one of step, cosine"),
        ("loss.pixel=huber", "loss.pixel must be one of mse, l1, charbonnier"),
        ("model.layout=hd", "layout must be one of hr, lr"),
    ],
)
def test_bad_config_is_a_clear_error(override, message):
    with pytest.raises(SpectraFrameError, match=message):
        load_config("cpu_small", [override])


def test_file_config_and_round_trip(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"train": {"iterations": 7}, "model": {"preset": "paper", "num_frames": 5}}))
    config = load_config(path)
    assert config.train.iterations == 7 and config.model.rbpn_config().num_frames == 5
    save_config(config, tmp_path / "resolved.yaml")
    again = config_from_dict(yaml.safe_load((tmp_path / "resolved.yaml").read_text()))
    assert again == config
    assert isinstance(again, Config)


def test_missing_config_names_the_presets():
    with pytest.raises(SpectraFrameError, match="cpu_small"):
        load_config("no_such_preset")
