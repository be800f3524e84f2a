"""Settings: defaults, and every invalid value fails at start with one line and exit code 2."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from autotrader.config import load_settings
from autotrader.errors import ConfigError
from tests.conftest import REPO_ROOT, clean_env


def test_defaults_are_paper_mode_on_bundled_replay_with_offline_model() -> None:
    settings = load_settings(env_file=None)
    assert settings.mode == "paper"
    assert settings.resolved_feed == "replay"
    assert settings.provider == "offline"
    assert settings.deposit_cap_usdt == Decimal("5")
    assert isinstance(settings.deposit_cap_usdt, Decimal)
    assert settings.resolved_replay_path.is_file()
    assert (settings.openai_model_planner, settings.openai_model_trader) == ("gpt-5-mini", "gpt-5")


def test_an_openai_key_selects_the_openai_provider_for_a_live_feed_only() -> None:
    live = load_settings(env_file=None, openai_api_key="sk-test", feed="live")
    assert live.provider_choice == ("openai", "auto: OPENAI_API_KEY is set and the feed is live")
    replay = load_settings(env_file=None, openai_api_key="sk-test")
    assert replay.provider == "offline"  # a replay never spends API money by default
    paid = load_settings(env_file=None, openai_api_key="sk-test", model_provider="openai")
    assert paid.provider == "openai"


def test_a_base_url_selects_a_compatible_server_whatever_the_key() -> None:
    ollama = load_settings(
        env_file=None, openai_api_key="ollama", openai_base_url="http://localhost:11434/v1"
    )
    assert ollama.provider_choice == ("openai-compatible", "auto: OPENAI_BASE_URL is set")


def test_the_example_env_file_copied_as_is_keeps_the_offline_default(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text((REPO_ROOT / ".env.example").read_text())
    settings = load_settings(env_file=str(env_file), environ={})
    assert settings.provider == "offline" and settings.openai_api_key is None


def test_a_password_in_a_url_is_masked() -> None:
    from autotrader.config import mask_url

    assert mask_url("http://user:PASS@host:8080/v1") == "http://user:***@host:8080/v1"
    assert mask_url("http://localhost:11434/v1") == "http://localhost:11434/v1"


def test_settings_are_read_from_a_dotenv_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("SYMBOL=ETH/USDT\nDEPOSIT_CAP_USDT=12.5\n")
    settings = load_settings(env_file=str(env_file))
    assert settings.symbol == "ETH/USDT"
    assert settings.deposit_cap_usdt == Decimal("12.5")


def test_secrets_never_appear_in_the_error_line() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None, mode="real", exchange_api_key="super-secret-key")
    assert "super-secret-key" not in str(caught.value)


INVALID = [
    ({"MODE": "yolo"}, "MODE='yolo'"),
    ({"SYMBOL": "btcusdt"}, "SYMBOL='btcusdt'"),
    ({"TIMEFRAME": "7m"}, "TIMEFRAME='7m'"),
    ({"DEPOSIT_CAP_USDT": "-1"}, "DEPOSIT_CAP_USDT='-1'"),
    ({"DEPOSIT_CAP_USDT": "lots"}, "DEPOSIT_CAP_USDT='lots'"),
    ({"DB_PATH": "/proc/nope/autotrader.db"}, "DB_PATH='/proc/nope/autotrader.db'"),
    ({"OHLCV_LIMIT": "5"}, "OHLCV_LIMIT='5'"),
    ({"MODE": "real"}, "EXCHANGE_API_KEY"),
    ({"MODE": "testnet"}, "EXCHANGE_API_KEY"),
    ({"MODEL_PROVIDER": "openai-compatible"}, "OPENAI_BASE_URL"),
    ({"MODEL_PROVIDER": "openai", "OPENAI_API_KEY": ""}, "needs OPENAI_API_KEY"),
    ({"OPENAI_BASE_URL": "not a url"}, "OPENAI_BASE_URL='not a url'"),
    ({"OPENAI_BASE_URL": "ftp://host/v1"}, "must be an http(s) URL"),
    ({"MDOE": "real"}, "environment variable MDOE is not a setting; did you mean MODE?"),
    ({"OPENAI_MODEL_TRAIDER": "gpt-5"}, "did you mean OPENAI_MODEL_TRADER?"),
    ({"SEED": str(2**64)}, "SEED="),
    ({"MODEL_TIMEOUT_SECS": "nan"}, "MODEL_TIMEOUT_SECS='nan'"),
]


@pytest.mark.parametrize(("env", "named"), INVALID, ids=[next(iter(e)) for e, _ in INVALID])
def test_invalid_setting_prints_one_line_naming_it_and_exits_2(
    env: dict[str, str], named: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "runner.py")],
        cwd=tmp_path,  # no .env here
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert named in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_env_example_documents_every_setting() -> None:
    import re

    from autotrader.config import Settings

    text = (REPO_ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^#? ?([A-Z_]+)=", text, re.MULTILINE))
    assert listed == {name.upper() for name in Settings.model_fields}


def test_an_unknown_key_in_the_env_file_stops_the_start_naming_the_closest(
    tmp_path: Path,
) -> None:
    (tmp_path / ".env").write_text("MDOE=real\n")
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "runner.py")],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "autotrader: unknown setting MDOE in .env; did you mean MODE?"
    ]
