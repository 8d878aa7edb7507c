"""io/video.py on its own: names to muxers and encoders, decoding, the frame index and windows read by seeking."""

from __future__ import annotations

import av
import numpy as np
import pytest
from helpers.media import moving_frames, write_video

from spectraframe.errors import SpectraFrameError
from spectraframe.io.video import (
    decode_video,
    index_video,
    output_format,
    probe_video,
    read_video_window,
    resolve_encoder,
    seek_index,
)


def test_output_names_choose_the_muxer_and_others_are_refused():
    assert output_format("a/clip.MKV") == "matroska" and output_format("clip.m4v") == "mp4"
    with pytest.raises(SpectraFrameError, match="cannot write a video named clip.gif"):
        output_format("clip.gif")


def test_codec_aliases_resolve_and_unknown_codecs_list_what_works():
    assert resolve_encoder("H264") == "libx264"
    with pytest.raises(SpectraFrameError, match="not available in this FFmpeg build; try one of"):
        resolve_encoder("nonsense")


def close(decoded: np.ndarray, written: np.ndarray) -> bool:
    return int(np.abs(decoded.astype(int) - written.astype(int)).max()) <= 3


@pytest.fixture(scope="module")
def lossless(tmp_path_factory):
    """12 frames of FFV1 (every frame a key frame); yuv444p: decoded frames within RGB<->YUV rounding."""
    frames = moving_frames(12, width=32, height=24, seed=4)
    path = write_video(tmp_path_factory.mktemp("video") / "clip.mkv", frames, codec="ffv1", pix_fmt="yuv444p")
    return path, frames


def test_probe_and_decode_give_the_written_frames(lossless):
    path, frames = lossless
    info = probe_video(path)
    assert (info.width, info.height) == (32, 24)
    decoded = [frame.image for frame in decode_video(path)]
    assert len(decoded) == 12 and all(close(a, b) for a, b in zip(decoded, frames, strict=True))


def test_windows_read_with_or_without_the_index_are_the_same_frames(lossless):
    path, frames = lossless
    index = index_video(path)
    assert index.frames == 12
    for first, last in ((0, 2), (5, 9), (10, 14)):
        with_index = read_video_window(path, first, last, index)
        assert len(with_index) == min(last, 11) - first + 1
        assert all(close(a, b) for a, b in zip(with_index, frames[first:], strict=False))
        plain = read_video_window(path, first, last)
        assert all(np.array_equal(a, b) for a, b in zip(with_index, plain, strict=True))


def test_a_part_of_the_scan_seeks_to_a_window_as_the_whole_index_does(tmp_path):
    # What a cluster actor gets: the decoder's timestamps and key frames from one decode, only around its window.
    from spectraframe.io.video import _seek_window

    path = tmp_path / "gops.mkv"  # a key frame every 3 frames
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv444p"
        stream.codec_context.gop_size = 3
        for image in moving_frames(12, seed=4):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    decoded = list(decode_video(path))
    pts = [frame.decoded_pts for frame in decoded]
    keyframes = [frame.index for frame in decoded if frame.key_frame]
    whole = index_video(path)
    assert tuple(pts) == whole.pts and tuple(keyframes) == whole.keyframes
    assert keyframes == [0, 3, 6, 9]
    part = seek_index(pts, keyframes, 7, 10)
    assert part.offset == 0 and part.pts == whole.pts[:11] and part.keyframes == (0, 3, 6)
    part = seek_index(pts, keyframes, 10, 11)
    assert part.offset == 3 and part.pts == whole.pts[3:12] and part.keyframes == (3, 6, 9)
    seeked = _seek_window(path, part, 10, 11)
    assert seeked is not None  # by seeking, not by decoding from frame 0
    assert all(np.array_equal(a, b) for a, b in zip(seeked, read_video_window(path, 10, 11), strict=True))
    assert seek_index([*pts[:10], pts[9], pts[11]], keyframes, 10, 11) is None  # a repeated timestamp: no seeking


def test_a_file_that_is_not_a_video_is_a_sentence(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("not a video")
    with pytest.raises(SpectraFrameError):
        probe_video(path)


def _with_cover(path, *, cover_first: bool, attached_pic: bool, cover_codec: str = "mjpeg"):
    """A clip of 6 frames and a one-frame 64x64 cover stream, muxed the way tagging tools and downloaders do:
    an MJPEG picture marked as an attached picture (mp4), or a one-frame track before the video (Matroska),
    which claims one second where the clip lasts 0.24 s."""
    import av

    with av.open(str(path), "w") as container:
        def add_cover():
            cover = container.add_stream(cover_codec, rate=1)
            cover.width, cover.height, cover.pix_fmt = 64, 64, "yuvj420p" if cover_codec == "mjpeg" else "yuv420p"
            if attached_pic:
                cover.disposition = av.stream.Disposition.attached_pic
            return cover

        cover = add_cover() if cover_first else None
        video = container.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 32, 24, "yuv420p"
        cover = cover or add_cover()
        picture = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 200, np.uint8), format="rgb24")
        for packet in [*cover.encode(picture), *cover.encode(None)]:
            container.mux(packet)
        for image in moving_frames(6):
            container.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(video.encode(None))
    return path


@pytest.mark.parametrize(("name", "cover_first", "attached_pic"), [
    ("cover_track_first.mkv", True, False),  # the old choice (longest duration) took the cover: 1 frame out
    ("cover_attached.mp4", True, True),
    ("cover_attached_last.mkv", False, True),
])
def test_the_video_stream_with_the_most_frames_is_read_not_a_cover(tmp_path, name, cover_first, attached_pic):
    path = _with_cover(tmp_path / name, cover_first=cover_first, attached_pic=attached_pic)
    info = probe_video(path)
    frames = [frame.image for frame in decode_video(path)]
    assert (info.width, info.height) == (32, 24) and len(frames) == 6 and frames[0].shape == (24, 32, 3)
    assert info.stream_note is not None and "(64x64, 1 frame)" in info.stream_note
    assert "(32x24, 6 frames), is read" in info.stream_note
    assert index_video(path).frames == 6
