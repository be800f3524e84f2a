"""The sweep on Ray (`make test-ray`): a local Ray (`ray.init()` with no address) runs a
2-job sweep, one task per job, to the same numbers as the same replays run anywhere else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, clean_env
from tests.test_sweep import _measures_of, _plan, _straight

pytestmark = pytest.mark.ray
pytest.importorskip(
    "ray", reason="the ray extra is not installed: pip install -e '.[ray]' (make test-ray does)"
)


def test_a_two_job_sweep_on_local_ray_gives_the_same_numbers(tmp_path: Path) -> None:
    spec, jobs = _plan(tmp_path, '["breakout:60"]', "2025-09-20T04:00")
    jobs = [job for job in jobs if job.seed == 1]  # the agent (seed 1) and the fixed arm
    spec.write_text(spec.read_text().replace("seeds = [1, 2]", "seeds = [1]"))
    env = clean_env()
    env.pop("RAY_ADDRESS", None)  # a local Ray, started and stopped by the sweep
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "runner.py"), "sweep", str(spec), "--ray",
         "--workers", "2", "--out", str(tmp_path / "out")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 to run on ray" in result.stdout
    for job in jobs:
        assert Path(job.db_path).is_file()  # the database stays where the worker wrote it
        assert _measures_of(tmp_path / "out" / "sweep.csv", job) == _straight(
            tmp_path / "reference" / job.job_id, job
        )
