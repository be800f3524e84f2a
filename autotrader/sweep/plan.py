"""A sweep spec expanded into jobs: data sets x timeframes x windows x configurations x planners
(the agent under each seed; each fixed arm once, since a pinned offline planner draws no random
numbers). Every file, window and configuration is checked here, before any job starts, so a bad
spec fails with one line instead of as a sweep of failed jobs.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from autotrader.config import Settings, bundled_data_path, load_settings
from autotrader.core.replay import load_replay, replay_span
from autotrader.errors import ConfigError, DataError
from autotrader.sweep.spec import DataSet, Scalar, SweepSpec, duration_text

DATA_ENV = "AUTOTRADER_DATA"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"  # ../shared/data beside the repo
AGENT = "agent"


@dataclass(frozen=True)
class Job:
    """One replay: picklable, so a process pool or a Ray task can take it as it is."""

    job_id: str
    window: str  # "BTC/USDT 5m 2025-09-07 -> 2025-09-17"
    file: str
    replay_path: str
    symbol: str
    timeframe: str
    start: datetime
    until: datetime
    config: str  # the varied settings, "ORDER_FRACTION=0.25", or "base"
    overrides: tuple[tuple[str, Scalar], ...]  # Settings fields (lower case): fixed and varied
    seed: int
    planner: str  # "agent" or an arm
    db_path: str

    @property
    def arm(self) -> str | None:
        return None if self.planner == AGENT else self.planner

    @property
    def result_path(self) -> Path:
        return Path(self.db_path).with_suffix(".json")


def data_dir(given: str | None) -> Path:
    """--data, else $AUTOTRADER_DATA, else ../shared/data beside the repository."""
    return Path(given or os.environ.get(DATA_ENV) or DEFAULT_DATA)


def resolve_file(name: str, folder: Path, spec_path: Path) -> Path:
    """An absolute path as it is; a name in the data folder, else among the bundled files."""
    path = Path(name) if Path(name).is_absolute() else folder / name
    if not path.is_file() and not Path(name).is_absolute():
        path = bundled_data_path(name)
    if not path.is_file():
        raise ConfigError(
            f"sweep spec {spec_path}: data file {name!r} is not in {folder}; pass --data DIR "
            f"(or set {DATA_ENV}) to the folder that holds it"
        )
    return path.resolve()


def _configs(spec: SweepSpec) -> list[tuple[str, dict[str, Scalar]]]:
    names = list(spec.vary)
    combos = itertools.product(*(spec.vary[name] for name in names)) if names else [()]
    configs = []
    for values in combos:
        varied = dict(zip(names, values, strict=True))
        label = ", ".join(f"{k}={v}" for k, v in varied.items()) or "base"
        settings = {k.lower(): v for k, v in {**spec.settings, **varied}.items()}
        configs.append((label, settings))
    return configs


def _settings(spec_path: Path, where: str, **values: Any) -> Settings:
    try:  # a sweep only ever replays, whatever MODE the environment holds
        return load_settings(env_file=None, **values, mode="paper", feed="replay")
    except ConfigError as error:
        raise ConfigError(f"sweep spec {spec_path}: {where}: {error}") from None


def _walk_forward(
    span: tuple[datetime, datetime], window: timedelta, step: timedelta
) -> list[tuple[datetime, datetime]]:
    """Window starts from the first whole day (or hour, for windows under a day) after the
    warm-up, one every `step`, while a whole window fits."""
    first, last = span
    unit = timedelta(days=1) if window >= timedelta(days=1) else timedelta(hours=1)
    epoch = datetime(1970, 1, 1, tzinfo=first.tzinfo)
    start = epoch + -((epoch - first) // unit) * unit  # first rounded up to the unit
    windows = []
    while start + window <= last:
        windows.append((start, start + window))
        start += step
    return windows


def _windows(
    spec_path: Path, data_set: DataSet, settings: Settings, where: str
) -> list[tuple[datetime, datetime]]:
    try:
        replay = load_replay(settings)
        if data_set.walk_forward is not None:
            full = replay_span(replay, None, None, None)
            rule = data_set.walk_forward
            found = _walk_forward(full, rule.window, rule.step)
            if not found:
                raise ConfigError(
                    f"walk_forward window {duration_text(rule.window)} does not fit in the "
                    "replayable span "
                    f"{full[0]:%Y-%m-%d %H:%M} to {full[1]:%Y-%m-%d %H:%M}"
                )
            return found
        return [replay_span(replay, w.start, w.until, None) for w in data_set.windows or []]
    except (ConfigError, DataError) as error:
        raise ConfigError(f"sweep spec {spec_path}: {where}: {error}") from None


def _label(symbol: str, timeframe: str, start: datetime, until: datetime) -> str:
    whole_days = start.hour == start.minute == until.hour == until.minute == 0
    shape = "%Y-%m-%d" if whole_days else "%Y-%m-%d %H:%M"
    return f"{symbol} {timeframe} {start:{shape}} -> {until:{shape}}"


def plan_jobs(spec: SweepSpec, spec_path: Path, folder: Path, out: Path) -> list[Job]:
    """Every job of the sweep, in a stable order; job ids are stable across runs."""
    configs = _configs(spec)
    for label, values in configs:
        _settings(spec_path, f"settings {label}", **values)
    jobs: list[Job] = []
    for index, data_set in enumerate(spec.data):
        path = resolve_file(data_set.file, folder, spec_path)
        for timeframe in data_set.timeframes:
            where = f"data[{index}] {data_set.file} {timeframe}"
            base = _settings(
                spec_path,
                where,
                replay_path=path,
                symbol=data_set.symbol,
                timeframe=timeframe,
                **dict(configs[0][1]),
            )
            for start, until in _windows(spec_path, data_set, base, where):
                window = _label(data_set.symbol, timeframe, start, until)
                for label, values in configs:
                    planners = [(AGENT, seed) for seed in spec.seeds] if spec.agent else []
                    planners += [(arm, spec.seeds[0]) for arm in spec.arms]
                    for planner, seed in planners:
                        identity = [
                            data_set.file,
                            data_set.symbol,
                            timeframe,
                            start.isoformat(),
                            until.isoformat(),
                            sorted(values.items()),
                            seed,
                            planner,
                        ]
                        digest = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:12]
                        job_id = f"{planner.replace(':', '-')}-s{seed}-{digest}"
                        jobs.append(
                            Job(
                                job_id=job_id,
                                window=window,
                                file=data_set.file,
                                replay_path=str(path),
                                symbol=data_set.symbol,
                                timeframe=timeframe,
                                start=start,
                                until=until,
                                config=label,
                                overrides=tuple(sorted(values.items())),
                                seed=seed,
                                planner=planner,
                                db_path=str((out / "jobs" / f"{job_id}.db").resolve()),
                            )
                        )
    return jobs
