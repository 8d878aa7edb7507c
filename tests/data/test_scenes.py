"""Scene cuts from frame-difference statistics, on real clips."""

from __future__ import annotations

import itertools

from spectraframe.data.scenes import detect_cuts
from spectraframe.io.video import read_video_frames


def test_real_cuts_found_and_steady_clips_left_alone(shared_dir):
    videos = shared_dir / "data" / "videos"
    # bikes.mp4 is edited: its first 80 frames hold shots starting at frames 30 and 76 (checked by eye).
    assert detect_cuts(itertools.islice(read_video_frames(videos / "bikes.mp4"), 80)) == [30, 76]
    # One continuous shot each: pedestrians (static camera) and a hand-held phone call.
    assert detect_cuts(itertools.islice(read_video_frames(videos / "vtest.avi"), 120)) == []
    assert detect_cuts(read_video_frames(videos / "carphone_pristine.mp4")) == []


def test_the_offline_rule_sees_a_jump_against_the_motion_on_both_sides():
    from spectraframe.data.scenes import offline_cuts

    steady = [float("inf"), 5, 6, 5, 60, 6, 5, 6]  # a cut at 4; 60 is over 4x the nearby median and over 25
    assert offline_cuts(steady, ratio=4.0, above=25.0, context=3) == [True, False, False, False, True, False, False,
                                                                       False]
    busy = [float("inf"), 20, 22, 21, 60, 20, 23, 21]  # the same jump in fast motion is no cut
    assert offline_cuts(busy, ratio=4.0, above=25.0, context=3) == [True] + [False] * 7
