"""Sweep specs: every invalid spec is refused with one line naming the key, before any job."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from autotrader.errors import ConfigError
from autotrader.sweep.plan import plan_jobs
from autotrader.sweep.spec import load_spec
from tests.conftest import REPO_ROOT, clean_env

BUNDLED = "binance_BTCUSDT_5m_2025-09-06_2025-10-06.csv.gz"
DATA = f"""
[[data]]
file = "{BUNDLED}"
symbol = "BTC/USDT"
timeframes = ["5m"]
windows = [{{ from = "2025-09-10", until = "2025-09-10T03:00" }}]
"""
TOP = 'name = "t"\nseeds = [1]\n'
GOOD = TOP + DATA


def _spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


INVALID = [
    ("a key that is not in the spec", GOOD.replace("seeds", "seedz"), "seedz"),
    ("no seeds", GOOD.replace("seeds = [1]", "seeds = []"), "seeds"),
    ("a seed twice", GOOD.replace("seeds = [1]", "seeds = [1, 1]"), "lists a seed twice"),
    ("an unknown arm", 'baselines = ["breakout:huge"]\n' + GOOD, "'breakout:huge' is not an arm"),
    ("an unknown setting", 'name = "t"\nseeds = [1]\n[vary]\nORDER_FRACTON = ["0.1"]\n' + DATA,
     "ORDER_FRACTON is not a setting"),
    ("a setting the sweep owns", TOP + '[settings]\nSYMBOL = "ETH/USDT"\n' + DATA,
     "SYMBOL is set by the sweep"),
    ("an empty list of values", TOP + "[vary]\nFEE_RATE = []\n" + DATA, "FEE_RATE lists no values"),
    ("windows and walk_forward both", GOOD + 'walk_forward = { window = "1d", step = "1d" }',
     "either windows or walk_forward"),
    ("a duration that is not one", GOOD.replace(
        'windows = [{ from = "2025-09-10", until = "2025-09-10T03:00" }]',
        'walk_forward = { window = "30 days", step = "1d" }'), "'30 days' is not a duration"),
    ("an unknown timeframe", GOOD.replace('["5m"]', '["7m"]'), "'7m' is not one of"),
    ("a backwards window", GOOD.replace("2025-09-10T03:00", "2025-09-09"), "is not after from"),
    ("a symbol that is not BASE/QUOTE", GOOD.replace('"BTC/USDT"', '"btcusdt"'), "BASE/QUOTE"),
    ("not TOML", "name = \n", "not valid TOML"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "named"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_an_invalid_spec_is_one_line_naming_the_problem(
    tmp_path: Path, text: str, named: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_spec(_spec(tmp_path, text))
    message = str(caught.value)
    assert named in message and "\n" not in message
    assert message.startswith(f"sweep spec {tmp_path / 'spec.toml'}")


PLANNING = [
    ("a missing data file", GOOD.replace(BUNDLED, "nope.csv.gz"), "'nope.csv.gz' is not in"),
    ("an invalid setting value", 'name = "t"\nseeds = [1]\n[vary]\nORDER_FRACTION = ["2"]\n' + DATA,
     "ORDER_FRACTION='2'"),
    ("a window outside the data", GOOD.replace("2025-09-10", "2026-03-01", 1).replace(
        "2025-09-10T03:00", "2026-03-02"), "--from 2026-03-01"),
    ("a walk-forward window longer than the data", GOOD.replace(
        'windows = [{ from = "2025-09-10", until = "2025-09-10T03:00" }]',
        'walk_forward = { window = "60d", step = "1d" }'), "window 60d does not fit"),
    ("a timeframe the file cannot give", GOOD.replace('["5m"]', '["1m"]'), "TIMEFRAME=1m"),
    ("a symbol the file is not", GOOD.replace('"BTC/USDT"', '"ETH/USDT"'), "SYMBOL=ETH/USDT"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "named"), [c[1:] for c in PLANNING], ids=[c[0] for c in PLANNING])
def test_a_spec_that_cannot_be_planned_is_one_line_before_any_job(
    tmp_path: Path, text: str, named: str
) -> None:
    path = _spec(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        plan_jobs(load_spec(path), path, tmp_path, tmp_path / "out")
    assert named in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_the_cli_refuses_a_bad_spec_with_one_line_and_exit_2(tmp_path: Path) -> None:
    path = _spec(tmp_path, GOOD.replace(BUNDLED, "nope.csv.gz"))
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "runner.py"), "sweep", str(path), "--data", "."],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "'nope.csv.gz' is not in ." in lines[0], result.stderr
    assert "pass --data DIR" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.toml"]


def test_the_repository_specs_are_valid_and_plan() -> None:
    for name in ("learning", "smoke"):
        path = REPO_ROOT / "sweeps" / f"{name}.toml"
        jobs = plan_jobs(load_spec(path), path, REPO_ROOT / "no-such-folder", REPO_ROOT / "x")
        assert jobs and len({job.job_id for job in jobs}) == len(jobs)
    for name in ("dev", "dev-quick"):  # over ../shared/data: checked here without it
        dev = load_spec(REPO_ROOT / "sweeps" / f"{name}.toml")
        assert dev.seeds == [1, 2, 3] and dev.baselines == "all" and len(dev.data) == 5
