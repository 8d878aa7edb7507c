"""Scene cuts from frame-difference statistics, on real clips."""

from __future__ import annotations

import itertools

from spectraframe.io.video import read_video_frames
from spectraframe.upscale.scenes import detect_cuts


def test_real_cuts_found_and_steady_clips_left_alone(shared_dir):
    videos = shared_dir / "data" / "videos"
    # bikes.mp4 is edited: its first 80 frames hold shots starting at frames 30 and 76 (checked by eye).
    assert detect_cuts(itertools.islice(read_video_frames(videos / "bikes.mp4"), 80)) == [30, 76]
    # One continuous shot each: pedestrians (static camera) and a hand-held phone call.
    assert detect_cuts(itertools.islice(read_video_frames(videos / "vtest.avi"), 120)) == []
    assert detect_cuts(read_video_frames(videos / "carphone_pristine.mp4")) == []
