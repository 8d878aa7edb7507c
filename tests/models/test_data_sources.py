"""The resident data source inside Trainer: prepared once from folder clips, held-out clips validated through the
evaluation protocol, a wall-time budget that ends the run, and what the provenance records."""

from __future__ import annotations

from spectraframe.data.eval_datasets import MemoryClip
from spectraframe.models.config import load_config
from spectraframe.models.data_sources import ResidentSource
from spectraframe.models.trainer import Trainer

CLIPS = ["vimeo_septuplet/sequences/00001/0001", "vimeo_septuplet/sequences/00002/0003",
         "vimeo_septuplet/sequences/00001/0001"]


def test_resident_run_on_folder_clips_stops_at_its_budget_and_validates_held_out_clips(tmp_path, train_corpus,
                                                                                       one_thread):
    (tmp_path / "train.txt").write_text("\n".join(CLIPS[:2]) + "\n")
    config = load_config("efficient", [
        "data.pack=null", f"data.root={train_corpus}", f"data.train_list={tmp_path / 'train.txt'}",
        f"data.prepared={tmp_path / 'prepared'}", "data.val_holdout=1", "data.num_workers=0", "data.lr_patch=16",
        "model.base_filter=8", "model.feat=8", "model.num_frames=3", "train.batch_size=2",
        "train.amp=none", "train.device=cpu", "train.seconds=1.5", "train.iterations=100000", "val.every=100000",
        "log.progress=false", "log.tensorboard=false",
    ])
    trainer = Trainer(config, tmp_path / "run", origin={"command": "spectraframe train --config efficient",
                                                          "config": "efficient", "overrides": []})
    assert isinstance(trainer.source, ResidentSource)
    assert [type(c) for c in trainer.val_clips] == [MemoryClip] and trainer.source.train_clips == 1
    result = trainer.fit()
    assert 0 < result.step < 100000 and trainer.wall_time >= 1.5  # the budget ended it, not the step cap
    assert result.finished
    assert result.best_psnr is not None and result.best_psnr > 20  # the final validation, on the held-out clip
    provenance = trainer.provenance()
    assert provenance["data"]["source"] == "resident" and provenance["data"]["held_out_clips"] == 1
    assert provenance["recipe"] == {"config": "efficient", "overrides": []}
    assert (tmp_path / "prepared").is_dir() and len(list((tmp_path / "prepared").glob("*.pt"))) == 1
