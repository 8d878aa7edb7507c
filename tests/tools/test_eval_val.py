"""make eval-val's committed per-clip figures carry no machine's paths, so any checkout can reuse them."""

from __future__ import annotations

import json

from tools.eval_val import FULL_RESULTS, REPO, portable


def test_portable_results_name_the_data_relative_to_the_repository():
    result = {"settings": {"dataset_root": str(REPO.parent / "shared" / "data" / "train_corpus"), "scale": 4},
              "mean_of_clip_means": {"psnr_y": 30.0}}
    assert portable(result) == {"settings": {"dataset_root": "../shared/data/train_corpus", "scale": 4},
                                "mean_of_clip_means": {"psnr_y": 30.0}}
    assert portable({"clips": {}}) == {"clips": {}}


def test_committed_figures_hold_no_absolute_paths():
    for name, result in json.loads(FULL_RESULTS.read_text()).items():
        for key in ("dataset_root", "list_file"):
            assert not result.get("settings", {}).get(key, "").startswith("/"), name
