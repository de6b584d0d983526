"""``[sources.shopify]``: the shop's settings in the file, its access token never there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rxfloor.core.config import ConfigError, load_settings
from rxfloor.core.sources.shopify.plugin import access_token, shop_url
from rxfloor.core.text import scrub


@pytest.fixture
def config() -> Path:
    return Path(os.environ["RXFLOOR_CONFIG"])  # a fresh path per test (conftest)


def test_the_shopify_section(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert shop_url(settings) is None and access_token(settings) is None
    config.write_text(
        '[sources.shopify]\nshop_url = "https://my-shop.myshopify.com/"\nlocation_id = "77"\n'
        "http_timeout_s = 4\n"
    )
    settings = load_settings()
    shop = settings.sources.shopify
    assert shop_url(settings) == "https://my-shop.myshopify.com"
    assert (shop.api_version, shop.location_id, shop.http_timeout_s) == ("2025-10", "77", 4.0)
    token = "shpat_0123456789abcdef0123"
    monkeypatch.setenv("RXFLOOR_SHOPIFY_ACCESS_TOKEN", token)
    resolved = access_token(load_settings())
    assert resolved is not None and resolved.get_secret_value() == token
    assert token not in scrub(f"refused: {token}")  # registered as a secret once resolved
    monkeypatch.setenv("RXFLOOR_SHOPIFY_ACCESS_TOKEN", token + "\n")
    with pytest.raises(ConfigError) as err:
        access_token(load_settings())
    assert "RXFLOOR_SHOPIFY_ACCESS_TOKEN" in str(err.value) and token not in str(err.value)


@pytest.mark.parametrize(
    "text",
    [
        'shopify_access_token = "shpat_x"\n',
        '[sources.shopify]\nshop_url = "https://s.myshopify.com"\naccess_token = "shpat_x"\n',
    ],
)
def test_the_access_token_is_refused_in_the_file(config: Path, text: str) -> None:
    config.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "the Shopify access token does not belong in the config file" in str(err.value)
    assert "shpat_x" not in str(err.value)


def test_a_bad_api_version_is_refused(config: Path) -> None:
    config.write_text('[sources.shopify]\napi_version = "latest"\n')
    with pytest.raises(ConfigError, match=r"sources\.shopify\.api_version"):
        load_settings()
