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
        ("model.overparameterise=-1", "model.overparameterise must be >= 0"),
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


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.lr=.inf", "train.lr must be a finite number"),
        ("train.lr=.nan", "train.lr must be a finite number"),
        ("loss.tv_weight=-.inf", "loss.tv_weight must be a finite number"),
        ("train.lr_decay_at=[.nan]", "must be a finite number"),
        ("model.base_filter=abc", "model.base_filter must be an integer"),
        ("train.batch_size=99999999999999999999999", "train.batch_size must be a whole number of at most 2147483647"),
        ("model.residual=maybe", "model.residual must be true or false"),
        ("model.init_from=[a, b]", "model.init_from must be text"),
    ],
)
def test_non_finite_and_mistyped_values_are_refused(override, message):
    # train.lr=.inf used to pass and the run "finished" with every tensor non-finite; model fields had no type.
    with pytest.raises(SpectraFrameError, match=message):
        load_config("cpu_small", [override])
    config = load_config("cpu_small")
    config.train.lr = float("inf")  # set from Python: validate() says so too
    with pytest.raises(SpectraFrameError, match="train.lr must be a finite number"):
        config.validate()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"- train\n- model\n", "must be a mapping of sections"),
        (b"train:\n  - lr\n  - 1\n", "section 'train' must be a mapping"),
        (b"train:\n  lr: 1e-4\n  # \xe9t\xe9\n", "is not UTF-8 text"),
        (b"model:\n  base_filter: abc\n", "model.base_filter must be an integer"),
        (b"train:\n  lr: .nan\n", "train.lr must be a finite number"),
    ],
)
def test_broken_config_files_are_one_sentence(tmp_path, content, message):
    path = tmp_path / "mine.yaml"
    path.write_bytes(content)
    with pytest.raises(SpectraFrameError, match=message):
        load_config(path)


def test_realworld_section_reads_lists_of_names_and_numbers_and_reports_bad_ranges():
    config = load_config("cpu_small", ["data.degradation=realworld", "realworld.codec_list=[mpeg4]",
                                       "realworld.codec_weights=[1]", "realworld.crf_range=[20, 30]"])
    assert config.realworld.codec_list == ["mpeg4"] and config.realworld.crf_range == [20.0, 30.0]
    assert config.validation_degradation() == "bi"  # the real-world pipeline validates on the clean protocol
    with pytest.raises(SpectraFrameError) as caught:
        load_config("cpu_small", ["realworld.codec_list=[h265]", "realworld.noise_prob=2",
                                  "val.degradation=bi+h264:crf=99", "data.degradation=real"])
    message = str(caught.value)
    for expected in ("realworld.codec_list takes one or more of libx264, mpeg4", "realworld.noise_prob is a "
                     "probability", "val.degradation: bad value for h264:crf in 'bi+h264:crf=99': '99' is not a number "
                     "from 0 to 51", "data.degradation must be one of bi, bd, realworld"):
        assert expected in message
    with pytest.raises(SpectraFrameError, match="realworld.kernel_list takes one or more of iso, aniso"):
        load_config("cpu_small", ["realworld.kernel_list=[1, 2]"])


def test_real_preset_fine_tunes_the_shipped_default_on_the_realworld_pipeline():
    from spectraframe.zoo import default_weights_path, resolve_weights

    real = load_config("real")
    assert real.data.degradation == "realworld" and real.model.preset == "efficient"
    # init_from is a shipped weights name, found inside the installed package from any working folder.
    assert resolve_weights(real.model.init_from) == default_weights_path()
    assert real.validation_degradation() == "bi+h264:crf=28"
    assert {"libx264", "mpeg4"} <= set(real.realworld.codec_list) and real.realworld.crf_range == [18.0, 35.0]


def test_a_recipe_inherits_its_base_and_states_only_what_differs(tmp_path):
    gan, efficient = load_config("efficient_gan"), load_config("efficient")
    assert (gan.data.source, gan.data.pack, gan.model.preset) == (efficient.data.source, ".gpu_pack", "efficient")
    assert (gan.train.batch_size, efficient.train.batch_size, gan.loss.gan_form) == (32, 64, "ragan")
    (tmp_path / "mine.yaml").write_text("base: parent.yaml\ntrain:\n  lr: 3.0e-4\n")
    (tmp_path / "parent.yaml").write_text("base: efficient\ntrain:\n  batch_size: 16\n  lr: 1.0e-4\n")
    mine = load_config(tmp_path / "mine.yaml")
    assert (mine.train.lr, mine.train.batch_size, mine.train.seconds) == (3e-4, 16, efficient.train.seconds)
    (tmp_path / "loop.yaml").write_text("base: loop.yaml\n")
    with pytest.raises(SpectraFrameError, match="base chain loops"):
        load_config(tmp_path / "loop.yaml")


def test_resident_source_refuses_what_it_cannot_do():
    with pytest.raises(SpectraFrameError) as caught:
        load_config("efficient", ["data.degradation=bd", "data.targets=centre", "data.rot90=false"])
    for expected in ("data.degradation must be bi", "data.targets=all", "the 8 symmetries"):
        assert expected in str(caught.value)
