"""Training data: layouts, errors before training, deterministic samples, LR/HR/flow alignment."""

from __future__ import annotations

import shutil

import av
import numpy as np
import pytest
import torch

from spectraframe.data.train_datasets import (
    ClipSource,
    StreamSampler,
    TrainingSamples,
    find_training_clips,
    split_holdout,
    video_source,
)
from spectraframe.degradation import degrade
from spectraframe.errors import SpectraFrameError
from spectraframe.io.video import _seek_window

VIMEO = ["vimeo_septuplet/sequences/00001/0001", "vimeo_septuplet/sequences/00002/0003"]


@pytest.fixture(scope="module")
def flow_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("flow_cache")


def _samples(sources, flow_cache, **kwargs):
    options = {"scale": 4, "num_frames": 3, "lr_patch": 16, "flow_cache": flow_cache, "seed": 5, **kwargs}
    return TrainingSamples(sources, **options)


def test_corpus_list_resolves_every_entry(train_corpus):
    sources = find_training_clips(train_corpus, "train.txt")
    assert len(sources) == len((train_corpus / "train.txt").read_text().split())
    assert all(s.length >= 7 for s in sources)


def test_vimeo_layout_with_its_own_list(tmp_path, train_corpus):
    root = tmp_path / "vimeo"
    (root / "sequences").mkdir(parents=True)
    (root / "sequences" / "00001").symlink_to(train_corpus / "vimeo_septuplet" / "sequences" / "00001")
    (root / "sep_trainlist.txt").write_text("00001/0001\n00001/0004\n")
    sources = find_training_clips(root)
    assert [s.name for s in sources] == ["00001/0001", "00001/0004"]
    assert [p.name for p in sources[0].frame_paths] == [f"im{i}.png" for i in range(1, 8)]


def test_missing_entries_and_empty_sets_fail_clearly(tmp_path, train_corpus):
    bad = tmp_path / "bad.txt"
    bad.write_text(f"{VIMEO[0]}\nno/such/clip\n")
    with pytest.raises(SpectraFrameError, match=r"1 of 2 entries .* no/such/clip"):
        find_training_clips(train_corpus, bad)
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    with pytest.raises(SpectraFrameError, match="empty"):
        find_training_clips(train_corpus, empty)
    (tmp_path / "nothing").mkdir()
    with pytest.raises(SpectraFrameError, match="no training clips"):
        find_training_clips(tmp_path / "nothing")


def test_frames_smaller_than_the_patch_and_short_clips_fail_before_any_sample(tmp_path, train_corpus, flow_cache):
    sources = [s for s in find_training_clips(train_corpus, "train.txt") if s.name in VIMEO]
    with pytest.raises(SpectraFrameError, match=r"448x256 are 112x64 at x4, smaller than the 80x80 LR patch"):
        _samples(sources, flow_cache, lr_patch=80)
    short = tmp_path / "short"
    short.mkdir()
    for name in ("im1.png", "im2.png"):
        shutil.copy(train_corpus / VIMEO[0] / name, short / name)
    with pytest.raises(SpectraFrameError, match="2 frames, the model needs 3"):
        _samples(find_training_clips(tmp_path), flow_cache)


def test_samples_are_a_pure_function_of_seed_and_index(train_corpus, flow_cache):
    sources = [s for s in find_training_clips(train_corpus, "train.txt") if s.name in VIMEO]
    one, two = _samples(sources, flow_cache), _samples(sources, flow_cache)
    later = one[7]
    first = two[3], two[7]
    assert all(torch.equal(later[k], first[1][k]) for k in later)
    assert later["target"].shape == (3, 16, 16)
    assert later["neighbours"].shape == (2, 3, 16, 16) and later["flows"].shape == (2, 2, 16, 16)
    assert later["hr"].shape == (3, 64, 64)
    # Each epoch visits every clip once, in a seed-dependent order.
    assert sorted(one.item_for(g)[0] for g in range(2)) == [0, 1]
    other_seed = _samples(sources, flow_cache, seed=6)
    assert any(not torch.equal(other_seed[g]["hr"], one[g]["hr"]) for g in range(4))


@pytest.mark.parametrize("kind", ["bi", "bd"])
def test_lr_patch_is_the_degraded_hr_patch_after_any_flip(train_corpus, flow_cache, kind):
    sources = [s for s in find_training_clips(train_corpus, "train.txt") if s.name in VIMEO]
    dataset = _samples(sources, flow_cache, degradation=kind)
    for g in range(6):
        sample = dataset[g]
        again = degrade(sample["hr"][None], 4, kind)[0]
        inner = (slice(None), slice(3, -3), slice(3, -3))  # the patch border saw pixels outside the crop
        assert (again[inner] - sample["target"][inner]).abs().max() <= 1.5 / 255


def test_video_files_are_training_sources(tmp_path, shared_dir, flow_cache):
    shutil.copy(shared_dir / "data" / "videos" / "carphone_pristine.mp4", tmp_path / "carphone.mp4")
    sources = find_training_clips(tmp_path)
    assert sources[0].video is not None and sources[0].length == 120
    dataset = _samples(sources, flow_cache, lr_patch=24, video_stride=60)
    assert len(dataset) == 2  # targets 1 and 61 of 120 frames
    assert dataset[0]["hr"].shape == (3, 96, 96)


def test_video_windows_seek_to_a_keyframe_and_equal_a_full_decode(tmp_path):
    # H.264 with B-frames (decode order != display order) and a keyframe every 10 frames; each frame is marked.
    path = tmp_path / "moving.mp4"
    base = np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25, options={"g": "10", "bf": "2", "crf": "28"})
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for i in range(40):
            image = np.roll(base, 3 * i, axis=1)
            image[:8, :8] = 6 * i
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with av.open(str(path)) as container:
        full = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    source = video_source("moving.mp4", path)
    assert source.length == len(full) == 40 and len(source.video_index.keyframes) > 1
    for first in (13, 20, 29):  # inside a GOP, on a keyframe, just before one
        window = [first, first + 1, first + 3, first + 6]
        # decoded from a keyframe, not from 0
        assert _seek_window(path, source.video_index, first, first + 6) is not None
        frames = source.read(window)
        assert all(np.array_equal(frame, full[i]) for frame, i in zip(frames, window, strict=True)), first


def test_validation_holdout_is_a_fixed_spread_of_folder_clips():
    folders = [ClipSource(name=f"c{i:02d}", frame_paths=(f"c{i:02d}/im1.png",)) for i in range(10)]
    video = ClipSource(name="v.mp4", video="v.mp4", video_frames=50)
    train, held = split_holdout([*folders[:5], video, *folders[5:]], 3)
    assert [s.name for s in held] == ["c01", "c05", "c08"]  # centres of three equal parts of the 10 folders
    assert [s.name for s in train] == ["c00", "c02", "c03", "c04", "v.mp4", "c06", "c07", "c09"]
    assert split_holdout(folders, 0) == (folders, [])
    with pytest.raises(SpectraFrameError, match="all 10 training clips"):
        split_holdout(folders, 10)
    with pytest.raises(SpectraFrameError, match="only 1 of the 3 training clips are folders"):
        split_holdout([folders[0], video, video], 2)


def test_stream_sampler_splits_ranks_and_resumes_mid_stream():
    full = list(StreamSampler(2, 0, end_step=4))
    assert full == list(range(8))
    assert list(StreamSampler(2, 2, end_step=4)) == full[4:]
    rank0 = list(StreamSampler(2, 0, rank=0, world_size=2, end_step=2))
    rank1 = list(StreamSampler(2, 0, rank=1, world_size=2, end_step=2))
    assert sorted(rank0 + rank1) == list(range(8)) and not set(rank0) & set(rank1)


def _contains(image, patch) -> bool:
    """Whether `patch` (C, p, p) is a sub-block of `image` (C, H, W)."""
    windows = image.unfold(1, patch.shape[1], 1).unfold(2, patch.shape[2], 1)  # C, H', W', p, p
    return bool((windows == patch[:, None, None]).all(dim=(0, 3, 4)).any())


def test_temporal_samples_carry_the_next_frames_window_with_the_same_crop(train_corpus, flow_cache):
    sources = [s for s in find_training_clips(train_corpus, "train.txt") if s.name in VIMEO]
    dataset = _samples(sources, flow_cache, temporal=True, targets="all")
    plain = _samples(sources, flow_cache, targets="all")
    seen_last_frame = False
    for g in range(14):
        sample, t = dataset[g], dataset.item_for(g)[1]
        assert all(torch.equal(sample[k], value) for k, value in plain[g].items())
        # RBPN order of a 3-frame window is [t-1, t+1]: the next frame is t+1, or t-1 at a clip's last frame.
        slot = 0 if t == 6 else 1
        seen_last_frame |= t == 6
        assert torch.equal(sample["next_target"], sample["neighbours"][slot])
        assert torch.equal(sample["next_flow"], sample["flows"][slot])
        assert sample["next_hr"].shape == sample["hr"].shape and not torch.equal(sample["next_hr"], sample["hr"])
        assert sample["next_neighbours"].shape == (2, 3, 16, 16) and sample["next_flows"].shape == (2, 2, 16, 16)
    assert seen_last_frame
    with pytest.raises(SpectraFrameError, match="num_frames >= 3"):
        _samples(sources, flow_cache, temporal=True, num_frames=1)


def test_realworld_samples_are_seeded_aligned_and_degraded(train_corpus, flow_cache, monkeypatch):
    import spectraframe.flow.api as flow_api
    from spectraframe.degradation.realworld import RealWorldConfig

    flow_inputs = []
    real_estimate = flow_api.estimate_flow

    def recording_estimate(target, neighbours, **kwargs):
        flow_inputs.append((target, neighbours, kwargs.get("cache")))
        return real_estimate(target, neighbours, **kwargs)

    monkeypatch.setattr(flow_api, "estimate_flow", recording_estimate)

    sources = [s for s in find_training_clips(train_corpus, "train.txt") if s.name in VIMEO]
    clean = _samples(sources, flow_cache)
    real = _samples(sources, flow_cache, degradation="realworld")
    again = _samples(sources, flow_cache, degradation="realworld")
    for g in range(4):
        flow_inputs.clear()
        sample = real[g]
        [(target, neighbours, cache)] = flow_inputs
        assert sample["target"].shape == (3, 16, 16) and sample["neighbours"].shape == (2, 3, 16, 16)
        assert sample["flows"].shape == (2, 2, 16, 16)
        assert all(torch.equal(sample[k], again[g][k]) for k in sample)
        # The same crop and flips as the clean samples: the HR target does not depend on the degradation.
        assert torch.equal(sample["hr"], clean[g]["hr"])
        assert not torch.equal(sample["target"], clean[g]["target"])
        # The flows are estimated, uncached, on the degraded frames the network sees (as upscale does on
        # compressed input), not taken from the clean frames' cache.
        assert cache is None
        assert _contains(target, sample["target"])
        assert all(_contains(n, m) for n, m in zip(neighbours, sample["neighbours"], strict=True))
    # With the clean share at 1 the pipeline is the bicubic protocol: LR and HR stay aligned through the margin.
    aligned = _samples(sources, flow_cache, degradation="realworld", realworld=RealWorldConfig(clean_prob=1.0))
    for g in range(4):
        sample = aligned[g]
        inner = (slice(None), slice(3, -3), slice(3, -3))
        assert (degrade(sample["hr"][None], 4, "bi")[0][inner] - sample["target"][inner]).abs().max() <= 1.5 / 255


def test_realworld_lead_frames_code_the_window_inside_a_gop(train_corpus, flow_cache):
    from spectraframe.data.windows import neighbour_indices
    from spectraframe.degradation.realworld import RealWorldConfig
    from spectraframe.models.config import load_config

    sources = [s for s in find_training_clips(train_corpus, "train.txt") if s.name in VIMEO]
    h264 = {"codec_prob": 1.0, "codec_list": ["libx264"], "codec_weights": [1.0], "crf_range": [30, 30]}
    plain = _samples(sources, flow_cache, degradation="realworld", targets="all", realworld=RealWorldConfig(**h264))
    led = _samples(sources, flow_cache, degradation="realworld", targets="all",
                   realworld=RealWorldConfig(**h264, codec_lead_frames=3))
    firsts = set()
    for g in range(10):
        t = plain.item_for(g)[1]
        first = min([t, *neighbour_indices(t, 7, 3)])
        sample, again, without = led[g], led[g], plain[g]
        assert torch.equal(sample["hr"], without["hr"])  # the same crop, flips and target
        assert all(torch.equal(sample[k], again[k]) for k in sample)  # seeded
        # Frames before the window change how the codec codes it; at a clip's start there are none.
        assert torch.equal(sample["target"], without["target"]) == (first <= 0)
        firsts.add(first <= 0)
    assert firsts == {True, False}
    with pytest.raises(SpectraFrameError, match="codec_lead_frames"):
        load_config("real", ["realworld.codec_lead_frames=-1"])


NO_PYAV_PROBE = """
import sys
sys.modules["av"] = None  # as where PyAV is not installed
from pathlib import Path
from spectraframe.data.train_datasets import TrainingSamples, find_training_clips
from spectraframe.degradation.realworld import RealWorldConfig
from spectraframe.errors import SpectraFrameError
import spectraframe.models.trainer  # the whole training stack imports

sources = find_training_clips(sys.argv[1])
common = dict(scale=4, num_frames=3, lr_patch=8, flow_cache=sys.argv[2], degradation="realworld")
sample = TrainingSamples(sources, realworld=RealWorldConfig(codec_prob=0.0), **common)[0]
print("sample", tuple(sample["target"].shape))
try:
    TrainingSamples(sources, realworld=RealWorldConfig(codec_prob=1.0), **common)[0]
except SpectraFrameError as exc:
    print("error", exc)
"""


def test_training_without_pyav_needs_it_only_for_the_codec(tmp_path):
    import subprocess
    import sys

    from helpers.media import moving_frames
    from PIL import Image

    clip = tmp_path / "clips" / "clip0"
    clip.mkdir(parents=True)
    for i, frame in enumerate(moving_frames(3, width=48, height=48)):
        Image.fromarray(frame).save(clip / f"{i:03d}.png")
    result = subprocess.run([sys.executable, "-c", NO_PYAV_PROBE, str(tmp_path / "clips"), str(tmp_path / "flows")],
                            capture_output=True, text=True, check=True)
    lines = result.stdout.splitlines()
    assert lines[0] == "sample (3, 8, 8)"
    assert lines[1].startswith("error the video-codec degradation (h264 / mpeg4) needs PyAV")
