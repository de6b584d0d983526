"""Settings: a section per source, the top-level spellings kept, retry numbers, one-line errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rxfloor.core import sources
from rxfloor.core.config import ConfigError, load_settings
from rxfloor.core.sources.rxscale.plugin import rxscale_settings
from rxfloor.core.sources.rxscale.source import RxScaleSource
from rxfloor.core.sync.retry import RetryPolicy


@pytest.fixture
def config() -> Path:
    return Path(os.environ["RXFLOOR_CONFIG"])  # a fresh path per test (conftest)


def test_rxscale_section(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config.write_text(
        '[sources.rxscale]\napi_url = "http://file.example/api"\nrate_limit_per_s = 3\n'
        'http_timeout_s = 4\ndialect = "v2"\n'
    )
    rx = rxscale_settings(load_settings())
    assert (rx.api_url, rx.rate_limit_per_s, rx.http_timeout_s, rx.dialect) == (
        "http://file.example/api", 3.0, 4.0, "v2"
    )  # fmt: skip
    assert sources.configured(load_settings()) == ["rxscale"]
    # the top-level spellings, given, still win (the environment beats the file)
    monkeypatch.setenv("RXFLOOR_API_URL", "http://env.example/api")
    monkeypatch.setenv("RXFLOOR_RATE_LIMIT_PER_S", "7")
    rx = rxscale_settings(load_settings())
    assert (rx.api_url, rx.rate_limit_per_s, rx.http_timeout_s) == (
        "http://env.example/api", 7.0, 4.0
    )  # fmt: skip


def test_top_level_spellings_alone_configure_rxscale(monkeypatch: pytest.MonkeyPatch) -> None:
    assert sources.configured(load_settings()) == []  # nothing set: the board runs offline
    monkeypatch.setenv("RXFLOOR_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("RXFLOOR_API_KEY", "k-123")
    settings = load_settings()
    rx = rxscale_settings(settings)
    assert (rx.api_url, rx.rate_limit_per_s, rx.http_timeout_s, rx.dialect) == (
        "http://127.0.0.1:9/api", 10.0, 10.0, None
    )  # fmt: skip
    source = sources.open_source("rxscale", settings)
    try:
        assert isinstance(source, RxScaleSource) and source.name == "rxscale"
        assert source.rate_limit_per_s == 10.0 and source.dialect is None
    finally:
        source.close()
    with pytest.raises(ValueError, match="unknown source 'nope'"):
        sources.open_source("nope", settings)


def test_retry_numbers_come_from_settings(config: Path) -> None:
    assert RetryPolicy.from_settings(load_settings()) == RetryPolicy()
    config.write_text("retry_base_s = 2\nretry_cap_s = 30\n")
    assert RetryPolicy.from_settings(load_settings()) == RetryPolicy(base_s=2.0, cap_s=30.0)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[sources.rxscale]\nrate_limit_per_s = 0\n", "sources.rxscale.rate_limit_per_s"),
        ('[sources.rxscale]\ndialect = "v3"\n', "sources.rxscale.dialect"),
        ('[sources.rxscale]\napi_key = "x"\n', "sources.rxscale.api_key"),  # secrets: env only
        ('[sources.nosuch]\napi_url = "x"\n', "sources.nosuch"),  # no such source
        ("retry_base_s = 5\nretry_cap_s = 1\n", "retry_cap_s"),
    ],
)
def test_a_bad_value_is_one_line_naming_it(config: Path, text: str, named: str) -> None:
    config.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings()
    message = str(err.value)
    assert "\n" not in message and f"{named}:" in message, message
