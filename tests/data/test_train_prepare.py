"""`spectraframe prepare`: clips never cross a cut, duplicates and static clips are dropped, splits by video."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest

from spectraframe.cli import main
from spectraframe.data import prepare
from spectraframe.data.prepare import PrepareOptions, assign_splits, plan_clips, prepare_dataset, write_clips
from spectraframe.errors import SpectraFrameError
from spectraframe.io.images import list_frames, read_frames, read_image, write_image


def _write_video(path, frames, fps=25):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=fps)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "bgr0"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _shot(train_corpus, clip, size=(96, 64)):
    import cv2

    return [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in read_frames(list_frames(train_corpus / clip))]


def test_plan_splits_at_cuts_and_skips_static_clips():
    options = PrepareOptions(clip_length=3, cut_above=20, cut_ratio=6)
    # Frames 0-5 a shot, a cut at 6, frames 6-11 another shot whose second half is static.
    differences = [np.inf, 3, 3, 3, 3, 3, 90, 3, 3, 0.1, 0.1, 0.1]
    kept = list(range(12))
    clips, cuts, static = plan_clips(kept, differences, options)
    assert cuts == 1
    assert clips == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert static == 1


def test_splits_are_by_video_and_cover_all():
    names = [f"v{i}" for i in range(10)]
    assignment = assign_splits(names, (80, 10, 10), seed=0)
    assert sorted(assignment) == names
    assert sorted(assignment.values()).count("train") == 8
    assert assign_splits(names, (80, 10, 10), seed=0) == assignment
    assert list(assign_splits(["only"], (80, 10, 10), seed=3).values()) == ["train"]


def test_prepare_real_frames_end_to_end(tmp_path, train_corpus, capsys):
    # Video 1: two shots joined by a hard cut, with a repeated frame; video 2: one shot.
    a = _shot(train_corpus, "davis2016_val/car-shadow_01")
    b = _shot(train_corpus, "davis2016_val/parkour_01")
    c = _shot(train_corpus, "vimeo_septuplet/sequences/00001/0003")
    first = [*a[:4], a[3], *a[4:], *b]  # 8 frames of shot A (one duplicate) + 7 of shot B
    _write_video(tmp_path / "cut.avi", first)
    _write_video(tmp_path / "calm.avi", c)
    out = tmp_path / "set"
    code = main(["prepare", str(tmp_path / "cut.avi"), str(tmp_path / "calm.avi"), "-o", str(out),
                 "--split", "50/50/0"])
    assert code == 0
    # The summary names only the lists that were written (test.txt was not: its share is 0).
    assert "(lists: train.txt, val.txt; details: prepare.json)" in capsys.readouterr().out
    report = json.loads((out / "prepare.json").read_text())
    by_name = {v["name"]: v for v in report["videos"]}
    assert by_name["cut"]["duplicates"] == 1 and by_name["cut"]["cuts"] == 1
    assert by_name["cut"]["clips"] == 2  # one per shot, none across the cut
    train = (out / "train.txt").read_text().split()
    val = (out / "val.txt").read_text().split()
    assert not (out / "test.txt").exists()
    assert {e.split("/")[0] for e in train}.isdisjoint({e.split("/")[0] for e in val})
    # The clip of shot B holds exactly B's frames (ffv1 is lossless), in order.
    clip_b = out / "cut" / "0002"
    written = [read_image(clip_b / f"im{i}.png") for i in range(1, 8)]
    assert all(np.array_equal(w, f) for w, f in zip(written, b, strict=True))


def test_prepare_downscales_real_video_and_refuses_non_empty_output(tmp_path, shared_dir):
    video = shared_dir / "data" / "videos" / "bikes.mp4"
    plans = prepare_dataset([video], tmp_path / "out", PrepareOptions(short_side=96, max_clips_per_video=2),
                            progress=False)
    assert len(plans[0].clips) == 2
    frame = read_image(tmp_path / "out" / "bikes" / "0001" / "im1.png")
    assert frame.shape[0] == 96 and frame.shape[1] % 4 == 0
    with pytest.raises(SpectraFrameError, match="not empty"):
        prepare_dataset([video], tmp_path / "out", progress=False)
    with pytest.raises(SpectraFrameError, match="not found"):
        prepare_dataset([tmp_path / "missing.mp4"], tmp_path / "other", progress=False)


def test_unreadable_videos_are_skipped_and_reported(tmp_path, train_corpus, capsys):
    _write_video(tmp_path / "good.avi", _shot(train_corpus, "vimeo_septuplet/sequences/00001/0003"))
    (tmp_path / "broken.mp4").write_bytes(b"\x00 not a video " * 100)
    out = tmp_path / "set"
    assert main(["prepare", str(tmp_path / "broken.mp4"), str(tmp_path / "good.avi"), "-o", str(out),
                 "--split", "100/0/0"]) == 0
    printed = capsys.readouterr().out
    assert "broken: skipped, cannot be read" in printed
    assert "1 clips written to" in printed and "(lists: train.txt; details: prepare.json)" in printed
    assert f"1 of 2 videos skipped because they cannot be read: {tmp_path / 'broken.mp4'}" in printed
    assert sorted(p.name for p in out.iterdir()) == ["good", "prepare.json", "train.txt"]
    report = {v["name"]: v for v in json.loads((out / "prepare.json").read_text())["videos"]}
    assert report["broken"]["error"] and report["broken"]["clips"] == 0 and not report["good"]["error"]
    # Nothing usable at all is still an error, and leaves no output folder.
    assert main(["prepare", str(tmp_path / "broken.mp4"), "-o", str(tmp_path / "none")]) == 2
    assert "1 could not be read" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()


def test_a_failure_while_writing_leaves_nothing_behind_and_a_rerun_works(tmp_path, train_corpus, monkeypatch):
    shots = _shot(train_corpus, "davis2016_val/car-shadow_01") + _shot(train_corpus, "davis2016_val/parkour_01")
    _write_video(tmp_path / "two.avi", shots)  # two shots: two clips
    out = tmp_path / "sets" / "mine"
    written = []

    def disk_full_after_nine_frames(path, image):
        if len(written) == 9:
            raise OSError("No space left on device")
        written.append(path)
        write_image(path, image)

    monkeypatch.setattr(prepare, "write_image", disk_full_after_nine_frames)
    with pytest.raises(OSError, match="No space"):
        prepare_dataset([tmp_path / "two.avi"], out, progress=False)
    assert len(written) == 9 and list((tmp_path / "sets").iterdir()) == []  # no partial set, no hidden one
    monkeypatch.undo()
    plans = prepare_dataset([tmp_path / "two.avi"], out, progress=False)  # not refused as "not empty"
    assert len(plans[0].clips) == 2 and (out / "two" / "0002" / "im7.png").is_file()
    # Progress advances per clip, when a clip's last frame is written.
    done = []
    write_clips(plans[0], tmp_path / "again", PrepareOptions(), on_clip=lambda: done.append(len(list(
        (tmp_path / "again" / "two").rglob("*.png")))))
    assert done == [7, 14]


@pytest.mark.parametrize(("extra", "message"), [
    (["--max-clips=-1"], "argument --max-clips: '-1' is not a whole number from 0"),
    (["--gap=-7"], "argument --gap: '-7' is not a whole number from 0"),  # a range() step of 0, a traceback
    (["--clip-length", "1"], "argument --clip-length: '1' is not a whole number from 2"),
    (["--seed", "1e30"], "argument --seed: '1e30' is not a whole number"),
])
def test_negative_counts_are_one_sentence(tmp_path, capsys, extra, message):
    (tmp_path / "v.mp4").write_bytes(b"never read")
    with pytest.raises(SystemExit) as exit:  # argparse refuses the value (spectraframe.cli_numbers)
        main(["prepare", str(tmp_path / "v.mp4"), "-o", str(tmp_path / "set"), *extra])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]


def test_the_output_never_holds_the_videos(tmp_path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "v.mp4").write_bytes(b"my video")
    assert main(["prepare", str(videos / "v.mp4"), "-o", str(videos / "..")]) == 2
    assert "contains the input" in capsys.readouterr().err
    assert (videos / "v.mp4").read_bytes() == b"my video"
