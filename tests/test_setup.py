"""`make setup`: the asset packages (installed without their dependencies) come after everything their dependencies
could be: pip then has no installed package to report as missing one ("lpips 0.1.4 requires torchvision")."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("make") is None, reason="no make here")
def test_asset_packages_are_installed_last_and_without_dependencies(tmp_path):
    plan = subprocess.run(["make", "-n", "-B", "setup", f"VENV={tmp_path / 'venv'}"], cwd=REPO, capture_output=True,
                          text=True, check=True).stdout.splitlines()
    installs = [line for line in plan if " -m pip install " in line]
    assert "torch==" in installs[0] and '-e ".[test,' in installs[1]
    assert "--no-deps" in installs[-1] and "lpips==" in installs[-1] and "scikit-video==" in installs[-1]
    assert len(installs) == 3
