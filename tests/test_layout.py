"""The package layout keeps the Agents SDK importable as `agents` from the repository root."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_import_agents_from_repo_root_resolves_to_the_installed_sdk() -> None:
    probe = "import agents; from agents import Agent, Runner; print(agents.__file__)"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    location = result.stdout.strip()
    assert "site-packages" in location
    assert not location.startswith(str(REPO_ROOT / "agents"))


def test_no_top_level_folder_shadows_the_sdk() -> None:
    assert not (REPO_ROOT / "agents").exists()
    assert (REPO_ROOT / "autotrader" / "agents").is_dir()
