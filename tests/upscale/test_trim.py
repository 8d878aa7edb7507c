"""`upscale --start/--duration`: the section's frames, with its audio and subtitles cut alike."""

from __future__ import annotations

import av
import pytest
from helpers.media import add_subtitles, moving_frames, read_back, subtitle_texts, write_video

from spectraframe.cli import main as cli_main
from spectraframe.upscale.trim import Trim, parse_time


def test_times_are_read_as_ffmpeg_writes_them():
    assert parse_time("90") == 90 and parse_time("1.5") == 1.5
    assert parse_time("01:30") == 90 and parse_time("00:01:30.5") == 90.5 and parse_time("1:00:00") == 3600
    for bad in ("1:75", "-3", "ten", "nan", "inf"):
        with pytest.raises(ValueError):
            parse_time(bad)
    assert Trim(1.0, 0.5).frame_range([0.0, 0.4, 0.8, 1.2, 1.6, 2.0]) == (3, 1)
    assert Trim(1.0).frames_at(25, 50) == (25, 25)


def audio_seconds(path) -> float:
    """The length of the first audio track, from its packets (Matroska keeps no stream duration)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        packets = [p for p in container.demux(stream) if p.size]
        start = min(p.pts for p in packets)
        end = max(p.pts + p.duration for p in packets)
        return float((end - start) * stream.time_base), float(start * stream.time_base)


def test_a_trimmed_clip_has_the_section_frames_and_audio(tmp_path, tiny_weights):
    source = write_video(tmp_path / "clip.mp4", moving_frames(50), fps=25, audio_seconds=2.0)
    code = cli_main(["upscale", str(source), "--start", "00:00:00.4", "--duration", "1", "--weights",
                     str(tiny_weights), "--no-progress", "--flow-method", "dis"])
    assert code == 0
    output = tmp_path / "clip_x2_0.4s-1.4s.mp4"  # the section is in the default name
    frames, pts, facts = read_back(output)
    assert len(frames) == 25  # 1 s at 25 fps
    assert pts[0] == 0 and float((pts[-1] - pts[0]) * facts["time_base"]) == pytest.approx(0.96)
    length, start = audio_seconds(output)
    assert start == pytest.approx(0.0, abs=0.065) and length == pytest.approx(1.0, abs=0.07)  # AAC: 64 ms packets
    assert frames[0].shape == (48, 64, 3)


def test_subtitles_of_the_section_move_with_it(tmp_path, tiny_weights):
    video = write_video(tmp_path / "plain.mkv", moving_frames(25))
    source = add_subtitles(video, tmp_path / "film.mkv", [(0.1, 0.3, "before"), (0.6, 0.8, "inside")])
    code = cli_main(["upscale", str(source), "--start", "0.48", "--weights", str(tiny_weights), "--no-progress",
                     "--flow-method", "dis", "-o", str(tmp_path / "out.mkv")])
    assert code == 0
    assert subtitle_texts(tmp_path / "out.mkv") == [b"inside"]
    with av.open(str(tmp_path / "out.mkv")) as container:
        cue = next(p for p in container.demux(container.streams.subtitles[0]) if p.size)
        assert float(cue.pts * cue.time_base) == pytest.approx(0.12, abs=0.002)  # 0.6 s, 0.48 s in
    assert len(read_back(tmp_path / "out.mkv")[0]) == 13  # frames 12..24 of 25 at 25 fps


def test_a_start_past_the_end_is_one_sentence(tmp_path, tiny_weights, capsys):
    source = write_video(tmp_path / "clip.mp4", moving_frames(10))
    assert cli_main(["upscale", str(source), "--start", "5", "--weights", str(tiny_weights), "--no-progress"]) == 2
    assert "--start 00:00:05.00 is past the end of the clip, which lasts 00:00:00.40" in capsys.readouterr().err


def test_a_trimmed_frame_folder(tmp_path, tiny_weights):
    from spectraframe.io.images import write_image

    for i, image in enumerate(moving_frames(10)):
        write_image(tmp_path / "shots" / f"{i:03d}.png", image)
    code = cli_main(["upscale", str(tmp_path / "shots"), "--fps", "10", "--start", "0.3", "--duration", "0.4",
                     "--weights", str(tiny_weights), "--no-progress", "--flow-method", "dis"])
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "shots_x2_0.3s-0.7s").glob("*.png")) == [
        "003.png", "004.png", "005.png", "006.png"]


def test_a_section_deep_in_a_clip_is_decoded_from_its_key_frame_with_the_same_frames(tmp_path, monkeypatch):
    import numpy as np

    from spectraframe.upscale import sources
    from spectraframe.upscale.sources import FrameSource

    path = tmp_path / "gop.mp4"
    with av.open(str(path), "w") as container:  # a key frame every 10 frames, B-frames between
        stream = container.add_stream("libx264", rate=25, options={"g": "10", "bf": "2"})
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        for image in moving_frames(60):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    opened = []
    real = sources.decode_from
    monkeypatch.setattr(sources, "decode_from", lambda *a: opened.append(a[2]) or real(*a))
    seeking = [(f.index, f.pts, f.image) for f in FrameSource(path, trim=Trim(1.3, 0.5)).frames()]
    assert opened == [33]  # the first frame shown from 1.3 s on (1.32 s), reached from the key frame at 30
    monkeypatch.setattr(sources, "decode_from", lambda *a: None)
    from_start = [(f.index, f.pts, f.image) for f in FrameSource(path, trim=Trim(1.3, 0.5)).frames()]
    assert [(i, p) for i, p, _ in seeking] == [(i, p) for i, p, _ in from_start] and len(seeking) == 12
    assert all(np.array_equal(a, b) for (_, _, a), (_, _, b) in zip(seeking, from_start, strict=True))
