"""The device-resident corpus gives the samples TrainingSamples gives; packed clips decode to what was packed."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from spectraframe.data.augment import Crop, Symmetry
from spectraframe.data.packed import decode_clip, pack_clips, read_index
from spectraframe.data.resident import ResidentCorpus, prepare_clip
from spectraframe.data.train_datasets import TrainingSamples, find_training_clips
from spectraframe.errors import SpectraFrameError
from spectraframe.io.images import list_frames, read_frames

CLIP = "vimeo_septuplet/sequences/00001/0001"


@pytest.fixture(scope="module")
def prepared(train_corpus):
    frames = read_frames(list_frames(train_corpus / CLIP))
    return prepare_clip(CLIP, frames, 4, 3, "dis")


def test_patches_match_training_samples_for_every_symmetry(train_corpus, prepared, tmp_path):
    sources = [s for s in find_training_clips(train_corpus, "train.txt") if s.name == CLIP]
    samples = TrainingSamples(sources, scale=4, num_frames=3, lr_patch=16, targets="all", flow_method="dis",
                              flow_cache=tmp_path / "cache")
    corpus = ResidentCorpus([prepared], scale=4)
    for t, (h, v, r) in zip([0, 3, 6, 2, 5, 1, 4, 3], itertools.product([False, True], repeat=3), strict=True):
        crop = Crop(5 + t, 20 + 3 * t, 16)
        hr, lr, flows = samples.window_at(0, t)
        expected = samples._patches(hr, lr, flows, crop, Symmetry(h, v, r), 0, t, 0)
        got = corpus.patches(torch.tensor([t]), torch.tensor([crop.y]), torch.tensor([crop.x]), 16,
                             torch.tensor([h]), torch.tensor([v]), torch.tensor([r]))
        assert torch.equal(got["hr"][0], expected["hr"])
        for key in ("target", "neighbours"):  # LR of the whole frame vs of a region with a margin: rounding
            assert (got[key][0] - expected[key]).abs().max() <= 1 / 255 + 1e-6, key
        # The flow cache keeps half floats.
        torch.testing.assert_close(got["flows"][0], expected["flows"], atol=1e-3, rtol=1e-3)


def test_temporal_batches_match_training_samples(train_corpus, prepared, tmp_path):
    sources = [s for s in find_training_clips(train_corpus, "train.txt") if s.name == CLIP]
    samples = TrainingSamples(sources, scale=4, num_frames=3, lr_patch=16, targets="all", flow_method="dis",
                              flow_cache=tmp_path / "cache", temporal=True)
    corpus = ResidentCorpus([prepared], scale=4)
    batch = corpus.sample(corpus.frames_of([0]), 24, 16, torch.Generator().manual_seed(1), temporal=True)
    assert batch["next_flow"].shape == (24, 2, 16, 16) and batch["next_neighbours"].shape == (24, 2, 3, 16, 16)
    for t, symmetry in ((6, Symmetry(True, False, True)), (0, Symmetry(False, True, False)),
                        (3, Symmetry(True, True, True))):  # the last frame pairs with t-1, the others with t+1
        crop = Crop(4, 30, 16)
        sample = samples[t]  # only for its keys; the crop and symmetry are set below
        hr, lr, flows = samples.window_at(0, t)
        following = t + 1 if t < 6 else t - 1
        expected = {f"next_{k}": v for k, v in samples._patches(*samples.window_at(0, following), crop, symmetry,
                                                                0, following, 0).items()}
        slot = [t - 1, t + 1].index(following) if t > 0 else 1
        expected["next_flow"] = symmetry.flows(crop.lr(flows[slot][None]))[0]
        flags = [torch.tensor([flag]) for flag in (symmetry.hflip, symmetry.vflip, symmetry.rot90)]
        frames, y, x = torch.tensor([t]), torch.tensor([crop.y]), torch.tensor([crop.x])
        got = {f"next_{k}": v for k, v in corpus.patches(corpus.following[frames], y, x, 16, *flags).items()}
        got["next_flow"] = corpus.next_flow(frames, y, x, 16, *flags)
        assert set(got) <= set(sample)
        assert torch.equal(got["next_hr"][0], expected["next_hr"])
        torch.testing.assert_close(got["next_flow"][0], expected["next_flow"], atol=1e-3, rtol=1e-3)
        assert (got["next_target"][0] - expected["next_target"]).abs().max() <= 1 / 255 + 1e-6


def test_sample_draws_valid_batches_and_whole_windows(prepared):
    other = prepare_clip("small", [np.full((96, 128, 3), i * 20, np.uint8) for i in range(7)], 4, 3, "dis")
    corpus = ResidentCorpus([prepared, other], scale=4)
    assert corpus.frames_total == 14 and corpus.frames_of([1]).tolist() == list(range(7, 14))
    batch = corpus.sample(corpus.frames_of([0, 1]), 16, 16, torch.Generator().manual_seed(0))
    assert batch["target"].shape == (16, 3, 16, 16) and batch["hr"].shape == (16, 3, 64, 64)
    assert batch["neighbours"].shape == (16, 2, 3, 16, 16) and batch["flows"].shape == (16, 2, 2, 16, 16)
    window = corpus.window(9)
    assert window["target"].shape == (3, 24, 32) and window["hr"].shape == (3, 96, 128)
    assert torch.allclose(window["neighbours"][:, 0, 0, 0] * 255, torch.tensor([20 * 1.0, 20 * 3]), atol=0.5)
    with pytest.raises(SpectraFrameError, match="smaller than the 32x32 patch"):
        corpus.sample(corpus.frames_of([1]), 4, 32, torch.Generator())


def test_pack_round_trip_is_near_lossless(train_corpus, tmp_path):
    clips = pack_clips(train_corpus, [CLIP], tmp_path / "pack", crf=14)
    assert read_index(tmp_path / "pack") == clips
    decoded = decode_clip(tmp_path / "pack" / clips[0].file, 7)
    original = read_frames(list_frames(train_corpus / CLIP))
    assert decoded[3].shape == original[3].shape and clips[0].psnr > 38
    with pytest.raises(SpectraFrameError, match="not empty"):
        pack_clips(train_corpus, [CLIP], tmp_path / "pack")
