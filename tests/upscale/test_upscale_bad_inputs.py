"""Bad inputs: each gives a clear message and a non-zero exit, and leaves nothing behind; or, for
convertible inputs (grayscale, 10-bit, alpha, odd sizes), works and says what it converted."""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import av
import pytest
from helpers.media import moving_frames, read_back, write_video

from spectraframe.cli import main as cli_main
from spectraframe.errors import SpectraFrameError
from spectraframe.io.video import scan_video
from spectraframe.upscale.pipeline import UpscaleOptions, Upscaler
from spectraframe.zoo import default_weights_path


def run_cli(tmp_path, tiny_weights, source, *extra) -> int:
    try:
        return cli_main(["upscale", str(source), "-o", str(tmp_path / "out.mp4"), "--weights", str(tiny_weights),
                         "--no-progress", *extra])
    except SystemExit as exit:  # argparse's refusal of an option's value (spectraframe.cli_numbers)
        return exit.code


def assert_fails_cleanly(tmp_path, tiny_weights, source, capsys, message, *extra):
    before = set(tmp_path.iterdir())
    assert run_cli(tmp_path, tiny_weights, source, *extra) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert set(tmp_path.iterdir()) == before  # no output, no work folder


def test_unreadable_file(tmp_path, tiny_weights, capsys):
    source = tmp_path / "noise.mp4"
    source.write_bytes(b"this is not a video" * 100)
    assert_fails_cleanly(tmp_path, tiny_weights, source, capsys, "cannot open video")


def test_missing_file(tmp_path, tiny_weights, capsys):
    assert_fails_cleanly(tmp_path, tiny_weights, tmp_path / "nowhere.mp4", capsys, "not found")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero here")
def test_a_device_is_not_a_video_file(tmp_path, tiny_weights, capsys):
    # It exists: "video file not found" was wrong; it is not a regular file.
    assert_fails_cleanly(tmp_path, tiny_weights, "/dev/zero", capsys, "/dev/zero is not a regular file")


def test_the_main_video_stream_is_upscaled_not_a_cover_picture(tmp_path, tiny_weights):
    # The first video stream used to be taken: a 1-frame cover first gave a 1-frame output, the video dropped.
    source = tmp_path / "with_cover.mp4"
    with av.open(str(source), "w") as container:
        cover = container.add_stream("libx264", rate=25)
        cover.width, cover.height, cover.pix_fmt = 48, 40, "yuv420p"
        video = container.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 32, 24, "yuv420p"
        container.mux(cover.encode(av.VideoFrame.from_ndarray(moving_frames(1, 48, 40)[0], format="rgb24")))
        container.mux(cover.encode(None))
        for image in moving_frames(6):
            container.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(video.encode(None))
    result = Upscaler(UpscaleOptions(weights=tiny_weights, progress=False, flow_method="dis")).run(
        source, tmp_path / "out.mp4")
    frames, _, _ = read_back(tmp_path / "out.mp4")
    assert result.frames == len(frames) == 6 and frames[0].shape == (48, 64, 3)
    assert any("the main one, #1 (32x24, 6 frames), is read" in note for note in result.notes), result.notes


def test_repeated_timestamps_shift_no_later_frame(tmp_path, tiny_weights):
    # Frame 3 repeats frame 2's timestamp. It used to be moved a whole frame on, and every later frame with it
    # (input 0-0.24 s, output 0-0.28 s: audio would drift). Now it alone is shown a tick later.
    source = write_video(tmp_path / "dup.mkv", moving_frames(7), pts=[0, 1, 2, 2, 3, 4, 5], time_base=Fraction(1, 25))
    _, source_pts, source_facts = read_back(source)
    result = Upscaler(UpscaleOptions(weights=tiny_weights, progress=False, flow_method="dis")).run(
        source, tmp_path / "out.mp4")
    frames, pts, facts = read_back(tmp_path / "out.mp4")
    seconds = [float(p * facts["time_base"]) for p in pts]
    expected = [float(p * source_facts["time_base"]) for p in source_pts]
    assert len(frames) == 7
    assert seconds[:3] == expected[:3] and seconds[4:] == expected[4:]  # every other frame keeps its time
    assert expected[2] < seconds[3] < expected[2] + 0.002
    assert any("1 frame(s) repeat the timestamp" in note for note in result.notes), result.notes


def test_dis_flow_on_a_tiny_video(tmp_path, tiny_weights):
    # An 8x8 video with --flow-method dis ended in an OpenCV traceback (DIS needs 12 px; under 16 it may crash).
    source = write_video(tmp_path / "tiny.mp4", moving_frames(3, width=8, height=8))
    assert Upscaler(UpscaleOptions(weights=tiny_weights, progress=False, flow_method="dis")).run(
        source, tmp_path / "out.mp4").frames == 3


def test_truncated_file(tmp_path, tiny_weights, capsys):
    whole = write_video(tmp_path / "whole.mp4", moving_frames(12))
    # Move the index to the front (as streaming sites do), then cut the file: it still opens.
    faststart = tmp_path / "faststart.mp4"
    with av.open(str(whole)) as src, av.open(str(faststart), "w", options={"movflags": "faststart"}) as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.size:
                packet.stream = stream
                dst.mux(packet)
    data = faststart.read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: int(len(data) * 0.6)])
    whole.unlink()
    faststart.unlink()
    assert_fails_cleanly(tmp_path, tiny_weights, truncated, capsys, "truncated")


def test_truncated_real_clip(tmp_path, tiny_weights, capsys, shared_dir):
    # tree.avi announces 444 frames in its header but holds 68.
    source = shutil.copy(shared_dir / "data" / "videos" / "tree.avi", tmp_path / "tree.avi")
    assert_fails_cleanly(tmp_path, tiny_weights, source, capsys, "header announces 444 frames but only 68")


@pytest.mark.parametrize(("suffix", "codec", "message"), [
    (".avi", "mpeg4", "no readable video frame (empty or truncated file)"),  # the header keeps the stream
    (".mp4", "libx264", "no stream at all (an empty or zero-frame video file)"),  # MP4 drops an empty track
])
def test_zero_frame_video(tmp_path, tiny_weights, capsys, suffix, codec, message):
    source = tmp_path / f"empty{suffix}"
    with av.open(str(source), "w") as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        container.start_encoding()
    assert_fails_cleanly(tmp_path, tiny_weights, source, capsys, message)


def test_audio_only_file(tmp_path, tiny_weights, capsys):
    source = tmp_path / "sound.m4a"
    with av.open(str(source), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=16000)
        stream.layout = "mono"
        import numpy as np

        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 16000, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    assert_fails_cleanly(tmp_path, tiny_weights, source, capsys, "no video stream (it has: audio)")


def test_weights_for_another_scale(tmp_path, tiny_weights, capsys):
    source = write_video(tmp_path / "in.mp4", moving_frames(4))
    assert_fails_cleanly(tmp_path, tiny_weights, source, capsys, "trained for x2, but x4 was asked for",
                         "--scale", "4")


def test_fp16_on_cpu_is_refused(tmp_path, tiny_weights, capsys):
    source = write_video(tmp_path / "in.mp4", moving_frames(4))
    assert_fails_cleanly(tmp_path, tiny_weights, source, capsys, "fp16 is not supported on the CPU",
                         "--precision", "fp16", "--device", "cpu")


def test_existing_output_needs_overwrite(tmp_path, tiny_weights, capsys):
    source = write_video(tmp_path / "in.mp4", moving_frames(4))
    (tmp_path / "out.mp4").write_bytes(b"precious")
    assert_fails_cleanly(tmp_path, tiny_weights, source, capsys, "--overwrite")
    assert (tmp_path / "out.mp4").read_bytes() == b"precious"
    assert run_cli(tmp_path, tiny_weights, source, "--overwrite", "--flow-method", "dis") == 0
    assert len(read_back(tmp_path / "out.mp4")[0]) == 4


def test_missing_default_weights_say_to_pass_weights():
    try:
        path = default_weights_path()
    except SpectraFrameError as exc:
        assert "--weights" in str(exc)
    else:
        assert path.is_file()


@pytest.mark.parametrize(
    ("name", "pix_fmt", "size", "note"),
    [
        ("gray", "gray", (32, 24), "grayscale"),
        ("deep", "yuv420p10le", (32, 24), "more than 8 bits"),
        ("alpha", "yuva420p", (32, 24), "alpha channel"),
        ("odd", "yuv444p", (33, 25), None),
    ],
)
def test_convertible_inputs_work_and_say_so(tmp_path, tiny_weights, name, pix_fmt, size, note):
    frames = moving_frames(5, width=size[0], height=size[1])
    source = write_video(tmp_path / f"{name}.mkv", frames, codec="ffv1", pix_fmt=pix_fmt)
    result = Upscaler(UpscaleOptions(weights=tiny_weights, progress=False)).run(source, tmp_path / "out.mp4")
    out_frames, _, _ = read_back(tmp_path / "out.mp4")
    assert len(out_frames) == 5 and out_frames[0].shape == (size[1] * 2, size[0] * 2, 3)
    if note:
        assert any(note in n for n in result.notes), result.notes


def test_missing_weights_file(tmp_path, tiny_weights, capsys):
    source = write_video(tmp_path / "in.mp4", moving_frames(4))
    missing = tmp_path / "missing.safetensors"
    assert_fails_cleanly(tmp_path, tiny_weights, source, capsys, f"weights file not found: {missing}",
                         "--weights", str(missing))


@pytest.mark.parametrize(("extra", "message"), [
    (("--crf", "-5"), "the libx264 encoder refuses the settings crf=-5"),
    (("--preset", "sluggish"), "preset=sluggish"),
    (("--codec", "h265", "-o", "{tmp}/out.webm"), "a .webm file (webm) cannot hold libx265 video"),
    (("--tile", "12", "--tile-overlap=-1"), "argument --tile-overlap: '-1' is not a whole number from 0"),
    (("--tile=-3",), "argument --tile: '-3' is not a whole number from 0"),
    (("--tile", "1e23"), "argument --tile: '1e23' is not a whole number"),  # a 1e23-pixel tile used to run
    (("--segment-frames", "0"), "argument --segment-frames: '0' is not a whole number from 1"),
    (("--crf", "nan"), "argument --crf: 'nan' is not a number"),
    (("--fps", "1e308"), "argument --fps: a frame rate must be more than 0 and at most 1000, got 1e308"),
    (("--max-memory", "9" * 400 + "T"), "is more than any computer has"),  # an OverflowError traceback before
    (("--crf", "99"), "crf=99: its constant quality runs from 0 (best) to 51"),  # x264 clamped it to 51 silently
    (("--codec", "vp9", "-o", "{tmp}/out.webm", "--crf", "64"), "runs from 0 (best) to 63"),
    (("--max-memory", "0"), "memory size must be more than 0 bytes"),  # silently meant "the default"
])
def test_bad_settings_fail_before_writing(tmp_path, tiny_weights, capsys, extra, message):
    # These used to end in a traceback and a work folder that blocked the next run ("pass --resume").
    source = write_video(tmp_path / "in.mp4", moving_frames(4))
    extra = [arg.format(tmp=tmp_path) for arg in extra]
    assert_fails_cleanly(tmp_path, tiny_weights, source, capsys, message, *extra)


def test_truncated_matroska(tmp_path, tiny_weights, capsys):
    # Matroska announces no frame count, only a duration: 150 frames, 6 s, cut in half.
    whole = write_video(tmp_path / "whole.mkv", moving_frames(150))
    data = whole.read_bytes()
    whole.unlink()
    half = tmp_path / "half.mkv"
    half.write_bytes(data[: len(data) // 2])
    assert_fails_cleanly(tmp_path, tiny_weights, half, capsys, "is truncated: its video frames end at")
    assert_fails_cleanly(tmp_path, tiny_weights, half, capsys, "but the video stream lasts 6.00 s")


def test_longer_container_duration_only_warns(tmp_path):
    # NUT gives no per-stream duration; its overall duration covers the longer audio track.
    source = write_video(tmp_path / "in.nut", moving_frames(10), codec="ffv1", audio_seconds=2.0)
    scan = scan_video(source)
    assert scan.frame_count == 10
    assert any("may be truncated" in note and "lasts 2." in note for note in scan.notes), scan.notes


def test_still_frame_held_at_the_end_is_not_truncation(tmp_path):
    # The last frame lasts 5 s (a title card): the stream's duration says so, the packet's duration too.
    plain = write_video(tmp_path / "plain.mkv", moving_frames(4))
    held = tmp_path / "held.mkv"
    with av.open(str(plain)) as src, av.open(str(held), "w") as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        packets = [p for p in src.demux(src.streams.video[0]) if p.size]
        for packet in packets:
            if packet is packets[-1]:
                packet.duration = 5000  # ms: Matroska's time base
            packet.stream = stream
            dst.mux(packet)
    scan = scan_video(held)
    assert scan.frame_count == 4 and scan.notes == ()


def test_paths_too_long_for_the_system_fail_in_one_sentence(tmp_path, tiny_weights, capsys):
    # An OSError traceback (File name too long) before: the limit is now checked up front and named.
    source = write_video(tmp_path / "in.mp4", moving_frames(3))
    deep = str(tmp_path.joinpath(*["d" * 200] * 21))
    assert_fails_cleanly(tmp_path, tiny_weights, source, capsys, "more than the 4095 a path may have",
                         "-o", f"{deep}/out.mp4")
    assert_fails_cleanly(tmp_path, tiny_weights, f"{deep}/in.mp4", capsys, "more than the 4095 a path may have")
