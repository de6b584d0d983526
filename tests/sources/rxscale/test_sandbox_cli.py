"""``rxfloor sandbox`` as a real process, and the documented calls made with plain curl."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess

import httpx
import pytest

from rxfloor.tui.cli.main import main
from tests import remote_fixtures
from tests.helpers import rxfloor_cmd
from tests.remote_fixtures import SandboxServer

sandbox_server = remote_fixtures.sandbox_server


def test_rxfloor_sandbox_serves_health_and_never_prints_the_key() -> None:
    key = "cli-secret-key-123"
    proc = subprocess.Popen(
        rxfloor_cmd("sandbox", "--port", "0", "--seed", "5", "--api-key", key, "--dialect", "v2"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+/v1/external-pharmacy-api-v1)", line)
        assert match, line
        base = match.group(1)
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=10) as api:
            assert api.get("/health/").json() == {"status": "ok"}
            page = api.get("/pharmacy_orders/").json()
            assert page["totalRegistries"] == 5
            assert {o["status"] for o in page["data"]} == {"waiting for pharmacy"}
            assert httpx.get(base + "/health/", headers={"X-API-Key": "wrong"}).status_code == 401
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert key not in line + out + err


def test_api_key_from_the_environment() -> None:
    env = {**os.environ, "RXFLOOR_SANDBOX_API_KEY": "env-key-456"}
    proc = subprocess.Popen(
        rxfloor_cmd("sandbox", "--port", "0"), stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        base = re.search(r"(http://\S+/v1/external-pharmacy-api-v1)", line)
        assert base, line
        r = httpx.get(base.group(1) + "/health/", headers={"X-API-Key": "env-key-456"})
        assert r.status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=15)
    assert "env-key-456" not in line


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--fail-rate", "2"], "fail_rate"),
        (["--rate-limit", "0"], "rate_limit"),
        (["--seed", "-1"], "seed"),
        (["--port", "70000"], "port"),
    ],
)
def test_bad_options_are_one_clear_line(
    args: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sandbox", "--port", "0", *args]) == 3
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and lines[0].startswith("rxfloor sandbox:")


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.network
def test_the_documented_calls_with_curl(sandbox_server: SandboxServer) -> None:
    """the calls of docs/pages/sources/rxscale.md as a person would type them (host and key
    aside)."""
    s = sandbox_server
    key = s.api_key

    def curl(*args: str) -> tuple[int, str]:
        result = subprocess.run(
            ["curl", "-sS", "-w", "\n%{http_code}", "-H", f"X-API-Key: {key}", *args],
            capture_output=True,
            text=True,
            timeout=30,
        )
        body, _, code = result.stdout.rpartition("\n")
        return int(code), body

    code, body = curl(f"{s.base_url}/health/")
    assert code == 200
    code, body = curl(f"{s.base_url}/pharmacy_orders/?page=0&limit=50&status=open")
    page = json.loads(body)
    assert code == 200 and page["totalRegistries"] == 20
    uid = page["data"][0]["uid"]
    code, body = curl(f"{s.old_base_url}/pharmacy_orders/{uid}")
    assert code == 200 and json.loads(body)["patient_data"]
    code, body = curl(
        "-X", "PATCH", "-H", "Content-Type: application/json",
        "-d", '{"status": "processing"}', f"{s.base_url}/pharmacy_orders/{uid}/status",
    )  # fmt: skip
    assert code == 200 and json.loads(body)["status"] == "processing"
    hook = {"target": "https://example.org/hook", "notification_type": "pharmacy_order_updated"}
    code, body = curl(
        "-X", "POST", "-H", "Content-Type: application/json",
        "-d", json.dumps(hook), f"{s.base_url}/webhooks/",
    )  # fmt: skip
    assert code == 201 and json.loads(body)["signing_secret"].startswith("whsec_")
    code, body = curl(f"{s.base_url}/webhooks/")
    assert code == 200 and len(json.loads(body)["data"]) == 1
