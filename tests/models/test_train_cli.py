"""`spectraframe train`: presets with overrides, --out, --max-steps then --resume, clear CLI errors."""

from __future__ import annotations

import pytest
import torch

from spectraframe.cli import main
from spectraframe.models.trainer import CHECKPOINT


@pytest.fixture(autouse=True)
def _single_threaded(one_thread):
    """Every test here runs with one torch thread (fixture in conftest.py)."""


def test_train_stop_and_resume_from_the_command_line(tmp_path, train_corpus, capsys, tmp_path_factory):
    (tmp_path / "train.txt").write_text("vimeo_septuplet/sequences/00001/0001\n")
    flows = tmp_path_factory.getbasetemp() / "spectraframe_train_flows"
    run = tmp_path / "run"
    overrides = [
        f"data.root={train_corpus}", f"data.train_list={tmp_path / 'train.txt'}", "data.num_workers=0",
        f"data.flow_cache={flows}",
        "data.lr_patch=16", "model.base_filter=8", "model.feat=8", "model.num_frames=3", "train.batch_size=1",
        "train.iterations=3", "train.warmup_iterations=3", "loss.perceptual_weight=0", "val.every=0",
        "log.progress=false",
    ]
    assert main(["train", "--config", "cpu_small", *overrides, "--out", str(run), "--max-steps", "2"]) == 0
    assert "stopped at step 2/3" in capsys.readouterr().out
    assert (run / "config.yaml").is_file()
    # Starting again into the same folder is refused; --resume continues.
    assert main(["train", "--config", "cpu_small", *overrides, "--out", str(run)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["train", "--resume", str(run)]) == 0
    assert "finished at step 3/3" in capsys.readouterr().out
    assert torch.load(run / CHECKPOINT, weights_only=True)["step"] == 3
    assert (run / "generator.safetensors").is_file()


def test_train_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["train"]) == 2
    assert "--config" in capsys.readouterr().err
    assert main(["train", "--config", "cpu_small", "train.lr=fast"]) == 2
    assert "train.lr must be a number" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "not a training run folder" in capsys.readouterr().err


def test_overrides_may_come_before_between_and_after_the_options(tmp_path, capsys):
    from spectraframe.cli import parse_arguments
    from spectraframe.models.config import preset_names

    args = parse_arguments(["train", "train.lr=2e-4", "--config", "cpu_small", "data.root=clips",
                                      "--out", str(tmp_path), "train.batch_size=3", "--max-steps", "1"])
    assert args.overrides == ["train.lr=2e-4", "data.root=clips", "train.batch_size=3"]
    assert (args.config, args.out, args.max_steps) == ("cpu_small", str(tmp_path), 1)
    with pytest.raises(SystemExit):  # anything else stays an error
        parse_arguments(["train", "--config", "cpu_small", "--bogus"])
    # A bad override after the options reaches the config (it is not an "unrecognized argument").
    assert main(["train", "train.lr=2e-4", "--config", "cpu_small", "--out", str(tmp_path), "train.lr_d=x"]) == 2
    assert "train.lr_d must be a number" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(name in text for name in preset_names()), (text, preset_names())


def test_a_new_run_never_writes_into_a_folder_holding_files(tmp_path, train_corpus, capsys):
    # It used to refuse only a folder holding checkpoints/last.pt and overwrote the user's config.yaml and log.csv.
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.yaml").write_text("my own notes\n")
    (mine / "log.csv").write_text("my own log\n")
    overrides = [f"data.root={train_corpus}", "val.every=0", "log.progress=false"]
    assert main(["train", "--config", "cpu_small", *overrides, "--out", str(mine)]) == 2
    err = capsys.readouterr().err
    assert "already exists and is not empty" in err and "Traceback" not in err
    assert sorted(p.name for p in mine.iterdir()) == ["config.yaml", "log.csv"]
    assert (mine / "config.yaml").read_text() == "my own notes\n" and (mine / "log.csv").read_text() == "my own log\n"
    # The data itself is never a run folder either.
    assert main(["train", "--config", "cpu_small", *overrides, "--out", str(train_corpus)]) == 2
    assert "is the input" in capsys.readouterr().err


def test_resume_from_a_hostile_checkpoint_is_one_sentence(tmp_path, capsys):
    from spectraframe.models.config import load_config, save_config

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    save_config(load_config("cpu_small"), run / "config.yaml")

    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"step": Payload()}, run / CHECKPOINT)
    assert main(["train", "--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert "holds Python objects other than tensors" in err and "weights_only" not in err
    assert len(err.strip().splitlines()) == 1 and "pwned" not in capsys.readouterr().out
    torch.save({"weights": torch.zeros(3)}, run / CHECKPOINT)
    assert main(["train", "--resume", str(run)]) == 2
    assert "is not a spectraframe training checkpoint" in capsys.readouterr().err
