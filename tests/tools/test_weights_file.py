"""tools/weights_file.py: the files it writes carry what a shipped file needs and nothing changes the weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from spectraframe.archs.rbpn import RBPN, RBPNConfig
from spectraframe.checkpoints import load_generator, save_generator
from spectraframe.errors import SpectraFrameError
from tools.weights_file import main

TINY = RBPNConfig(scale=4, num_frames=3, base_filter=8, feat=4, num_stages=1, n_resblock=1)


def test_annotate_sets_provenance_keys_and_keeps_the_weights(tmp_path: Path) -> None:
    source = save_generator(tmp_path / "run.safetensors", RBPN(TINY).eval(), flow_method="dis",
                            provenance={"iterations": 12, "lineage": "old", "trained_on": "NVIDIA H200",
                                        "recipe": {"batch": 32, "d_warmup": 200}})
    out = tmp_path / "shipped.safetensors"
    main(["annotate", str(source), str(out), "lineage=a -> b", 'data={"clips": 3}', "iterations=40",
          "--config", "efficient_gan", "--override", "train.device=cuda"])
    model, metadata = load_generator(out)
    original, _ = load_generator(source)
    pairs = zip(model.state_dict().values(), original.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
    provenance = metadata["provenance"]
    assert provenance["lineage"] == "a -> b" and provenance["data"] == {"clips": 3} and provenance["iterations"] == 40
    assert metadata["flow_method"] == "dis"
    # the recipe resolved: what the shipped-weights test reads
    assert provenance["recipe"] == {"config": "efficient_gan", "overrides": ["train.device=cuda"]}
    assert provenance["reproduce"].startswith("spectraframe train --config efficient_gan --out runs/efficient_gan")
    loss = provenance["config"]["loss"]
    assert len(loss["perceptual_layers"]) == 5 and loss["adversarial_weight"] > 0 and loss["temporal_weight"] == 200
    train = provenance["config"]["train"]
    recorded = (train["batch_size"], train["device"], train["amp"], train["d_warmup_iterations"])
    assert recorded == (32, "cuda", "bf16", 200)


def test_annotate_rejects_a_setting_without_a_key_and_an_unknown_recipe(tmp_path: Path) -> None:
    source = save_generator(tmp_path / "run.safetensors", RBPN(TINY).eval())
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        main(["annotate", str(source), str(tmp_path / "a.safetensors"), "lineage"])
    with pytest.raises(SpectraFrameError, match="neither a file nor a preset"):
        main(["annotate", str(source), str(tmp_path / "b.safetensors"), "--config", "nope"])
    assert not (tmp_path / "a.safetensors").exists() and not (tmp_path / "b.safetensors").exists()
