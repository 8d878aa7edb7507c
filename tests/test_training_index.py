"""training/README.md opens with an index that names every run folder (what became of it, and its result)."""

from __future__ import annotations

from pathlib import Path

TRAINING = Path(__file__).resolve().parents[1] / "training"


def test_every_run_folder_is_in_the_index() -> None:
    text = (TRAINING / "README.md").read_text(encoding="utf-8")
    index = text[text.index("## Index"):text.index("\n## ", text.index("## Index") + 1)]
    runs = sorted(path.name for path in TRAINING.iterdir() if path.is_dir())
    assert runs and [run for run in runs if f"`{run}`" not in index] == []
