"""`evaluate` reproduces the pinned bicubic x4 numbers; reports, comparison frames and the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from spectraframe.cli import main as cli_main
from spectraframe.comparison import comparison_image
from spectraframe.degradation import bicubic_upsample
from spectraframe.errors import SpectraFrameError
from spectraframe.evaluate import evaluate


@pytest.mark.slow
def test_reproduces_every_clip_of_the_pinned_bicubic_reference(shared_dir: Path, train_corpus: Path) -> None:
    reference = json.loads((shared_dir / "reference" / "bicubic_x4_val.json").read_text())
    report = evaluate(train_corpus, train_corpus / "val.txt", scale=4, method="bicubic", progress=False)
    ours = report.to_dict()
    expected_clips = {k: v for k, v in reference.items() if not k.startswith("_")}
    assert set(ours["clips"]) == set(expected_clips)
    for name, expected in expected_clips.items():
        got = ours["clips"][name]
        assert got["frames"] == expected["frames"], name
        assert got["psnr_y"] == pytest.approx(expected["psnr_y"], abs=0.01), name
        assert got["ssim_y"] == pytest.approx(expected["ssim_y"], abs=0.001), name
    mean = reference["_mean_of_clip_means"]
    assert ours["mean_of_clip_means"]["psnr_y"] == pytest.approx(mean["psnr_y"], abs=0.01)
    assert ours["mean_of_clip_means"]["ssim_y"] == pytest.approx(mean["ssim_y"], abs=0.001)


def _tiny_set(root: Path, clips: int = 2, frames: int = 3, size=(40, 32)) -> Path:
    rng = np.random.default_rng(7)
    base = rng.integers(0, 256, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
    for c in range(clips):
        folder = root / f"clip{c}"
        folder.mkdir(parents=True)
        for i in range(frames):
            # Smooth content with motion, so PSNR is finite and differs between frames.
            frame = Image.fromarray(np.roll(base, i + c, axis=1)).resize(size, Image.BICUBIC)
            frame.save(folder / f"{i:03d}.png")
    return root


def test_callable_method_matches_bicubic_and_bad_output_is_reported(tmp_path: Path) -> None:
    root = _tiny_set(tmp_path / "set")
    baseline = evaluate(root, progress=False)

    def sr_clip(lr: torch.Tensor, targets: list[int]) -> torch.Tensor:
        assert lr.shape == (3, 3, 8, 10) and lr.dtype == torch.float32 and targets == [0, 1, 2]
        return bicubic_upsample(lr[targets].double(), 4)

    via_callable = evaluate(root, method=sr_clip, progress=False)
    assert via_callable.mean_of_clip_means() == pytest.approx(baseline.mean_of_clip_means())
    with pytest.raises(SpectraFrameError, match="expected .*3, 3, 32, 40"):
        evaluate(root, method=lambda lr, targets: lr, progress=False)
    with pytest.raises(SpectraFrameError, match="unknown method"):
        evaluate(root, method="nearest", progress=False)


def test_report_files_table_and_options(tmp_path: Path) -> None:
    root = _tiny_set(tmp_path / "set")
    report = evaluate(root, degradation="bd", channel="rgb", border=2, progress=False)
    data = json.loads(report.write_json(tmp_path / "out" / "r.json").read_text())
    assert data["settings"]["degradation"] == "bd" and data["settings"]["channel"] == "rgb"
    assert set(data["clips"]["clip0"]) == {"frames", "psnr_rgb", "ssim_rgb", "per_frame"}
    assert data["clips"]["clip0"]["per_frame"][0]["frame"] == "000.png"
    clip_means = [c["psnr_rgb"] for c in data["clips"].values()]
    assert data["mean_of_clip_means"]["psnr_rgb"] == pytest.approx(np.mean(clip_means))
    rows = list(csv.reader(report.write_csv(tmp_path / "out" / "r.csv").open()))
    assert rows[0] == ["clip", "frames", "psnr_rgb", "ssim_rgb"] and rows[-1][0] == "mean_of_clip_means"
    table = report.format_table()
    assert "clip1" in table and "mean of clip means" in table and "PSNR-RGB" in table


def test_comparison_frames_are_saved(tmp_path: Path) -> None:
    root = _tiny_set(tmp_path / "set", clips=1, frames=2)
    evaluate(root, save_frames=tmp_path / "cmp", progress=False)
    saved = sorted((tmp_path / "cmp" / "clip0").iterdir())
    assert [p.name for p in saved] == ["000.png", "001.png"]
    assert Image.open(saved[0]).size == (3 * 40, 2 * 32)


def test_comparison_image_layout_and_zoomed_detail() -> None:
    flat = np.full((32, 40, 3), 100, np.uint8)
    target = flat.copy()
    target[20:24, 28:36] = 255  # the only detail: the zoomed crop must show it
    picture = comparison_image([("bicubic", flat), ("output", flat), ("ground truth", target)])
    assert picture.shape == (64, 120, 3)
    assert picture[32:, 80:].max() == 255


def test_cli_eval_prints_table_and_writes_json_and_csv(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = _tiny_set(tmp_path / "set")
    out = tmp_path / "res" / "results.json"
    code = cli_main(["eval", "--data", str(root), "--scale", "4", "--method", "bicubic", "--out", str(out),
                     "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "mean of clip means" in printed and "PSNR-Y" in printed
    assert json.loads(out.read_text())["settings"]["method"] == "bicubic"
    assert out.with_suffix(".csv").is_file()
    # a .csv name still gets both files: the JSON is not overwritten by the CSV
    assert cli_main(["eval", "--data", str(root), "--out", str(tmp_path / "b.csv"), "--no-progress"]) == 0
    assert json.loads((tmp_path / "b.json").read_text())["settings"]["scale"] == 4
    assert (tmp_path / "b.csv").read_text().startswith("clip,frames")


def test_cli_eval_ensemble_scores_the_model_on_eight_symmetries(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from helpers.models import tiny_model

    from spectraframe.checkpoints import save_generator

    root = _tiny_set(tmp_path / "set", clips=1)
    weights = save_generator(tmp_path / "tiny_x4.safetensors", tiny_model(scale=4), flow_method="dis")
    scores = {}
    for name, extra in (("single", []), ("ensemble", ["--ensemble"])):
        out = tmp_path / f"{name}.json"
        assert cli_main(["eval", "--data", str(root), "--weights", str(weights), "--out", str(out), "--no-progress",
                         *extra]) == 0
        scores[name] = json.loads(out.read_text())["mean_of_clip_means"]["psnr_y"]
    capsys.readouterr()
    assert abs(scores["ensemble"] - scores["single"]) > 1e-3  # another output: the ensemble ran
    assert cli_main(["eval", "--data", str(root), "--ensemble", "--no-progress"]) == 2
    assert "--ensemble runs a model" in capsys.readouterr().err


def test_cli_eval_bad_data_exits_2_with_message(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "empty").mkdir()
    assert cli_main(["eval", "--data", str(tmp_path / "empty"), "--no-progress"]) == 2
    assert "is empty" in capsys.readouterr().err
    root = _tiny_set(tmp_path / "set", clips=1, frames=2)  # 40x32 frames
    assert cli_main(["eval", "--data", str(root), "--border", "12", "--no-progress"]) == 2
    assert "clip clip0: frames of 40x32" in capsys.readouterr().err
    assert cli_main(["eval", "--data", str(root), "--device", "tpu", "--no-progress"]) == 2
    assert "unknown device 'tpu'" in capsys.readouterr().err


def test_even_frame_count_weights_are_refused_with_a_sentence(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from spectraframe.archs.rbpn import RBPN, RBPNConfig
    from spectraframe.checkpoints import save_generator

    even = RBPNConfig(scale=4, num_frames=4, base_filter=8, feat=4, num_stages=1, n_resblock=0)
    weights = save_generator(tmp_path / "even.safetensors", RBPN(even))
    root = _tiny_set(tmp_path / "set", clips=1, frames=2)
    assert cli_main(["eval", "--data", str(root), "--weights", str(weights), "--no-progress"]) == 2
    assert "is a 4-frame model" in capsys.readouterr().err


def test_lpips_column_when_asked(tmp_path: Path) -> None:
    root = _tiny_set(tmp_path / "set", clips=1, frames=2, size=(48, 48))
    report = evaluate(root, lpips=True, progress=False)
    clip = report.to_dict()["clips"]["clip0"]
    assert 0 < clip["lpips"] < 1 and len(clip["per_frame"]) == 2 and "lpips" in clip["per_frame"][0]
    assert "LPIPS" in report.format_table()


def test_cli_eval_with_weights_runs_the_generator(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from spectraframe.archs.rbpn import RBPN, RBPNConfig
    from spectraframe.checkpoints import save_generator

    torch.manual_seed(0)
    tiny = RBPNConfig(scale=4, num_frames=3, base_filter=8, feat=4, num_stages=2, n_resblock=1, residual=True)
    weights = save_generator(tmp_path / "g.safetensors", RBPN(tiny))
    root = _tiny_set(tmp_path / "set", clips=1, frames=2)
    out = tmp_path / "r.json"
    code = cli_main(["eval", "--data", str(root), "--weights", str(weights), "--out", str(out), "--no-progress",
                     "--device", "cpu"])
    assert code == 0
    data = json.loads(out.read_text())
    assert data["settings"]["method"].startswith("weights:")
    assert data["clips"]["clip0"]["frames"] == 2 and np.isfinite(data["clips"]["clip0"]["psnr_y"])
    assert cli_main(["eval", "--data", str(root), "--weights", str(weights), "--scale", "2", "--no-progress"]) == 2
    assert "x4" in capsys.readouterr().err


def test_comparison_frames_saved_inside_the_dataset_are_not_scored_next_time(tmp_path: Path) -> None:
    root = _tiny_set(tmp_path / "set", clips=1, frames=2)
    first = evaluate(root, save_frames=root / "comparisons", progress=False)
    again = evaluate(root, save_frames=root / "comparisons", progress=False, overwrite=True)
    assert any((root / "comparisons").rglob("*.png"))
    assert [c.name for c in again.clips] == [c.name for c in first.clips] == ["clip0"]


def test_degradation_other_than_the_training_one_is_warned(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from spectraframe.archs.rbpn import RBPN, RBPNConfig
    from spectraframe.checkpoints import save_generator
    from spectraframe.evaluate import generator_method

    tiny = RBPNConfig(scale=4, num_frames=3, base_filter=8, feat=4, num_stages=1, n_resblock=0)
    weights = save_generator(tmp_path / "g.safetensors", RBPN(tiny),
                             provenance={"config": {"data": {"degradation": "bi"}}})
    with caplog.at_level(logging.WARNING):
        generator_method(weights, degradation="bi")
        assert "degradation" not in caplog.text
        generator_method(weights, degradation="bd")
    assert "trained on bi degradation, but the evaluation uses bd" in caplog.text


def test_tof_column_when_asked(tmp_path: Path) -> None:
    root = _tiny_set(tmp_path / "set", clips=1, frames=3)
    report = evaluate(root, tof=True, progress=False)
    value = report.to_dict()["clips"]["clip0"]["tof"]
    assert value > 0 and np.isfinite(value)  # bicubic blurs the texture, so its flow departs from the truth
    assert "TOF" in report.format_table()


def test_vimeo_layout_scores_the_centre_frame_only(tmp_path: Path) -> None:
    _tiny_set(tmp_path / "frames", clips=1, frames=7)
    septuplet = tmp_path / "vimeo" / "sequences" / "00001" / "0001"
    septuplet.mkdir(parents=True)
    for i, frame in enumerate(sorted((tmp_path / "frames" / "clip0").iterdir()), start=1):
        frame.rename(septuplet / f"im{i}.png")
    (tmp_path / "vimeo" / "sep_testlist.txt").write_text("00001/0001\n")
    clip = evaluate(tmp_path / "vimeo", progress=False).to_dict()["clips"]["00001/0001"]
    assert clip["frames"] == 1 and clip["per_frame"][0]["frame"] == "im4.png"
    # a model is asked for the centre frame only (7x less work), with all seven LR frames as its neighbours
    asked = []

    def sr_clip(lr: torch.Tensor, targets: list[int]) -> torch.Tensor:
        asked.append((lr.shape[0], targets))
        return bicubic_upsample(lr[targets].double(), 4)

    via_model = evaluate(tmp_path / "vimeo", method=sr_clip, progress=False).to_dict()["clips"]["00001/0001"]
    assert asked == [(7, [3])] and via_model["psnr_y"] == pytest.approx(clip["psnr_y"])


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_save_frames_never_overwrites_the_dataset(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # `--save-frames ROOT` replaced the ground truth with comparison pictures (Vimeo: even without --list).
    root = _tiny_set(tmp_path / "set", clips=1, frames=3)
    (tmp_path / "list.txt").write_text("clip0\n")
    septuplet = tmp_path / "vimeo" / "sequences" / "00001" / "0001"
    septuplet.mkdir(parents=True)
    for i in range(1, 8):
        Image.fromarray(np.full((32, 40, 3), 20 * i, np.uint8)).save(septuplet / f"im{i}.png")
    before = _files(tmp_path)
    for data, extra in [
        (root, ["--list", str(tmp_path / "list.txt"), "--save-frames", str(root)]),
        (root, ["--list", str(tmp_path / "list.txt"), "--save-frames", str(root / "clip0")]),
        (tmp_path / "vimeo", ["--save-frames", str(tmp_path / "vimeo")]),
        (tmp_path / "vimeo", ["--save-frames", str(tmp_path / "vimeo" / "sequences"), "--overwrite"]),
    ]:
        assert cli_main(["eval", "--data", str(data), *extra, "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert ("is the input" in err or "already exists" in err or "not made by spectraframe" in err) \
            and "Traceback" not in err, err
    assert _files(tmp_path) == before


def test_eval_outputs_are_checked_before_the_evaluation(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # An --out under a regular file failed with FileExistsError after the whole evaluation had run.
    root = _tiny_set(tmp_path / "set", clips=1, frames=2)
    (tmp_path / "notes.txt").write_text("mine")
    import spectraframe.evaluate

    def never(*args, **kwargs):
        raise AssertionError("evaluated before the outputs were checked")

    monkeypatch.setattr(spectraframe.evaluate, "evaluate", never)
    for extra, message in [
        (["--out", str(tmp_path / "notes.txt" / "results")], "notes.txt is a file, not a folder"),
        (["--save-frames", str(tmp_path / "notes.txt" / "pictures")], "notes.txt is a file, not a folder"),
        (["--out", str(tmp_path / "notes.csv")], "notes.json already exists"),  # writes notes.json and notes.csv
    ]:
        (tmp_path / "notes.json").write_text("older results")
        assert cli_main(["eval", "--data", str(root), *extra, "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
    assert (tmp_path / "notes.json").read_text() == "older results"


def test_codec_and_noise_steps_degrade_the_lr_both_methods_see(tmp_path: Path) -> None:
    root = _tiny_set(tmp_path / "set", clips=2, frames=5, size=(64, 48))
    clean = evaluate(root, progress=False).mean_of_clip_means()["psnr_y"]
    compressed = evaluate(root, degradation="bi+h264:crf=40", progress=False)
    assert compressed.settings["degradation"] == "bi+h264:crf=40,preset=medium"
    assert compressed.mean_of_clip_means()["psnr_y"] < clean
    again = evaluate(root, degradation="bi+h264:crf=40", progress=False)
    assert again.mean_of_clip_means() == compressed.mean_of_clip_means()
    seen = []

    def sr_clip(lr: torch.Tensor, targets: list[int]) -> torch.Tensor:
        seen.append(lr.clone())
        return bicubic_upsample(lr[targets].double(), 4)

    noisy = evaluate(root, method=sr_clip, degradation="bi+noise:sigma=5", progress=False)
    assert noisy.mean_of_clip_means()["psnr_y"] == pytest.approx(
        evaluate(root, degradation="bi+noise:sigma=5", progress=False).mean_of_clip_means()["psnr_y"])
    assert seen[0].shape == (5, 3, 12, 16) and torch.equal(seen[0], (seen[0] * 255).round() / 255)


def test_cli_eval_degradation_syntax_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for text, message in (("bi+h265:crf=28", "unknown degradation step 'h265'"),
                          ("bi+h264:crf=x", "bad value for h264:crf in 'bi+h264:crf=x': 'x' is not a number"),
                          ("bi+h264:crf=nan", "'nan' is not a number from 0 to 51"),
                          ("bi+h264:crf=20,crf=30", "gives crf twice"), ("sharp", "must start with a clean")):
        assert cli_main(["eval", "--data", str(tmp_path / "missing"), "--degradation", text, "--no-progress"]) == 2
        assert message in capsys.readouterr().err
