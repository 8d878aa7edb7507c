"""The upscale stream's window planner: neighbours stay inside the target's scene."""

from __future__ import annotations

from spectraframe.data.windows import scene_window


def test_mid_scene_the_window_is_the_plain_neighbourhood():
    assert scene_window(10, 5, scene_start=0, next_cut=None, known=13, ended=False) == [8, 9, 11, 12]


def test_a_cut_ahead_replicates_the_last_frame_of_the_scene():
    assert scene_window(10, 5, scene_start=0, next_cut=11, known=13, ended=False) == [8, 9, 10, 10]


def test_a_scene_start_replicates_its_first_frame():
    assert scene_window(10, 5, scene_start=10, next_cut=None, known=13, ended=False) == [10, 10, 11, 12]


def test_the_video_end_replicates_the_last_frame():
    assert scene_window(11, 5, scene_start=0, next_cut=None, known=12, ended=True) == [9, 10, 11, 11]


def test_a_one_frame_scene_repeats_the_target():
    assert scene_window(4, 3, scene_start=4, next_cut=5, known=6, ended=False) == [4, 4]
