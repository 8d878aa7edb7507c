"""Everything generated from the model zoo is up to date: MODEL_CARD.md, docs/models.md, the README's table and
zoo.yaml's own layout (python -m tools.zoo render rewrites them)."""

from __future__ import annotations

import yaml

from spectraframe.zoo import load_zoo, zoo_path
from tools.zoo import README_END, README_START, quality_table, stale_files, write_zoo, zoo_text


def test_no_generated_file_is_stale() -> None:
    stale = [str(path) for path in stale_files()]
    assert stale == [], "run `python -m tools.zoo render` and commit the result"


def test_a_changed_figure_makes_the_files_stale(tmp_path, monkeypatch) -> None:
    from tools.zoo import REPO

    values = yaml.safe_load(zoo_path().read_text(encoding="utf-8"))
    values["models"][0]["metrics"]["val"]["psnr_y"] = 12.3456
    changed = tmp_path / "zoo.yaml"
    write_zoo(values, changed)
    for model in values["models"]:  # the card reads each file's architecture
        (tmp_path / model["file"]).symlink_to(zoo_path().parent / model["file"])
    (tmp_path / "MODEL_CARD.md").write_text((zoo_path().parent / "MODEL_CARD.md").read_text())
    monkeypatch.setattr("spectraframe.zoo.zoo_path", lambda: changed)
    monkeypatch.setattr("tools.zoo.zoo_path", lambda: changed)
    load_zoo.cache_clear()
    try:
        assert "| `default` | 12.35 |" in "\n".join(quality_table(load_zoo(), "val"))
        assert set(stale_files()) == {tmp_path / "MODEL_CARD.md", REPO / "docs" / "models.md", REPO / "README.md"}
    finally:
        load_zoo.cache_clear()


def test_the_readme_holds_the_table_markers_once() -> None:
    from tools.zoo import REPO

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert readme.count(README_START) == 1 and readme.count(README_END) == 1


def test_zoo_yaml_round_trips_through_its_layout() -> None:
    text = zoo_path().read_text(encoding="utf-8")
    assert zoo_text(yaml.safe_load(text)) == text
