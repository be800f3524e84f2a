"""Comparing sweeps: a variant is judged against the baseline on the windows both finished, and
against the median fixed arm wherever some folder holds the arms' jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from autotrader.sweep.compare import Summary, load_sweep, main, median_arms, shared_jobs, summarize
from autotrader.sweep.plan import Job
from autotrader.sweep.results import build_rows, write_rows

START = datetime(2025, 9, 20, tzinfo=UTC)


def _write(folder: Path, returns: dict[tuple[str, str], float]) -> Path:
    """A sweep folder whose jobs (window, planner) finished with these returns."""
    jobs, summaries = [], {}
    for i, ((window, planner), value) in enumerate(returns.items()):
        jobs.append(
            Job(f"j{i}", window, "f", "p", "BTC/USDT", "5m", START, START + timedelta(days=7),
                "base", (), 1, planner, str(folder / f"j{i}.db"))
        )  # fmt: skip
        summaries[f"j{i}"] = {"return": value, "trades": 2, "fees": 0.5, "max_drawdown": 0.01}
    folder.mkdir()
    write_rows(folder / "sweep.csv", build_rows(jobs, summaries))
    return folder


def _arms(window: str) -> dict[tuple[str, str], float]:
    return {(window, "cash"): 0.0, (window, "breakout:60"): 0.02, (window, "breakout:20"): 0.01}


def _base_and_variant(tmp_path: Path) -> tuple[Path, Path]:
    base = _write(
        tmp_path / "base",
        {("w1", "agent"): 0.005, ("w2", "agent"): 0.02, ("w3", "agent"): 0.0}
        | _arms("w1")
        | _arms("w2"),
    )
    variant = _write(
        tmp_path / "variant", {("w1", "agent"): 0.015, ("w2", "agent"): 0.01, ("w4", "agent"): 0.1}
    )
    return base, variant


def _summaries(*folders: Path) -> list[Summary]:
    sweeps = [load_sweep(folder) for folder in folders]
    return summarize(sweeps, shared_jobs(sweeps), median_arms(sweeps))


def test_a_variant_is_judged_on_the_windows_both_sweeps_finished(tmp_path: Path) -> None:
    base, variant = _base_and_variant(tmp_path)
    first, second = _summaries(base, variant)
    assert (first.jobs, second.jobs) == (2, 2)  # w3 and w4 finished in one folder only
    assert (second.better, second.worse) == (1, 1)
    assert second.mean_return == pytest.approx(0.0125)


def test_the_median_arm_comes_from_whichever_folder_holds_the_arms(tmp_path: Path) -> None:
    base, variant = _base_and_variant(tmp_path)
    first, second = _summaries(variant, base)
    # median arm +1% in both windows: the variant (+1.5%, +1%) meets it twice, base once
    assert (first.at_median, first.with_arms) == (2, 2)
    assert (second.at_median, second.with_arms) == (1, 2)


def test_the_comparison_prints_each_window_and_a_line_per_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, variant = _base_and_variant(tmp_path)
    main([str(base), str(variant)])
    out = capsys.readouterr().out
    assert "w1" in out and "+1.50% 2t" in out and "w3" not in out
    assert "variant: 2 jobs, mean +1.250%; at or above the median arm 2 of 2" in out
    assert "better in 1, worse in 1" in out


@pytest.mark.parametrize(
    "argv",
    [["only_one"], ["a", "b"], ["a", "--arms"]],
    ids=["one folder", "no sweep.csv", "arms without a folder"],
)
def test_bad_arguments_get_a_one_line_usage(
    tmp_path: Path, argv: list[str], monkeypatch: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as raised:
        main(argv)
    message = str(raised.value)
    assert message.startswith("usage: python -m autotrader.sweep.compare") and "\n" not in message
