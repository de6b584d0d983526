"""``rxfloor sandbox --source shopify`` as a real process."""

from __future__ import annotations

import os
import re
import signal
import subprocess

import httpx
import pytest

from rxfloor.tui.cli.main import main
from tests.helpers import rxfloor_cmd


def test_the_shopify_stand_in_serves_graphql_and_never_prints_its_secrets() -> None:
    token, secret = "shpat_cli_token_123", "cli-app-secret-456"
    env = {**os.environ, "RXFLOOR_SANDBOX_SHOPIFY_SECRET": secret}
    proc = subprocess.Popen(
        rxfloor_cmd("sandbox", "--source", "shopify", "--port", "0", "--seed", "4",
                    "--access-token", token, "--restore-rate", "100"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+/admin/api/2025-10/graphql\.json)", line)
        assert match, line
        url = match.group(1)
        query = {"query": "{ assignedFulfillmentOrders(first: 10) { nodes { orderName } } }"}
        answer = httpx.post(url, json=query, headers={"X-Shopify-Access-Token": token})
        names = [
            n["orderName"] for n in answer.json()["data"]["assignedFulfillmentOrders"]["nodes"]
        ]
        assert names == ["#1001", "#1002", "#1003", "#1004"]
        assert answer.json()["extensions"]["cost"]["throttleStatus"]["restoreRate"] == 100
        assert httpx.post(url, json=query).status_code == 401
        control = url.split("/admin/")[0] + "/_sandbox/stats"
        assert httpx.get(control).json()["requests"] == 2
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    for word in (token, secret):
        assert word not in line + out + err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--source", "shopify", "--dialect", "v2"], "--dialect applies to --source rxscale only"),
        (["--source", "shopify", "--api-key", "k"], "--api-key applies to --source rxscale"),
        (["--access-token", "t"], "--access-token applies to --source shopify only"),
        (["--source", "shopify", "--restore-rate", "0"], "restore_rate"),
        (["--source", "shopify", "--seed", "-3"], "seed"),
    ],
)
def test_options_of_the_other_source_are_one_clear_line(
    args: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sandbox", "--port", "0", *args]) == 3
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and lines[0].startswith("rxfloor sandbox:")
