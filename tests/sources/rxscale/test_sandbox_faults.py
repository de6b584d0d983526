"""Faults and the rate limit over loopback: what an httpx client really sees, reproducibly."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable

import httpx
import pytest

from rxfloor.sandbox.rxscale import (
    FAULT_KINDS,
    ConnectionDropped,
    RxScaleSandboxConfig,
    RxScaleSandboxState,
    create_app,
)
from tests import remote_fixtures
from tests.remote_fixtures import SandboxServer

sandbox_server = remote_fixtures.sandbox_server
sandbox_factory = remote_fixtures.sandbox_factory

Factory = Callable[..., SandboxServer]


def _first_open(s: SandboxServer) -> str:
    uid: str = s.state.list_orders(0, 1, "open")[0][0]["uid"]
    return uid


@pytest.mark.network
def test_dropped_before_applying_is_a_network_error(sandbox_server: SandboxServer) -> None:
    s = sandbox_server
    uid = _first_open(s)
    s.set_faults(next=["drop_before"])
    with s.api() as api:
        with pytest.raises(httpx.RemoteProtocolError):
            api.patch(f"/pharmacy_orders/{uid}/status", json={"status": "processing"})
        assert api.get(f"/pharmacy_orders/{uid}").json()["status"] == "open"  # not applied
    assert s.transitions() == []
    assert [(r["fault"], r["status_code"]) for r in s.requests()] == [
        ("drop_before", None),
        (None, 200),
    ]


@pytest.mark.network
def test_dropped_after_applying_loses_only_the_answer(sandbox_server: SandboxServer) -> None:
    s = sandbox_server
    uid = _first_open(s)
    s.set_faults(next=["drop_after"])
    with s.api() as api:
        with pytest.raises(httpx.RemoteProtocolError):
            api.patch(
                f"/pharmacy_orders/{uid}/status",
                json={"status": "processing"},
                headers={"Idempotency-Key": "k1"},
            )
        # the connection pool recovers; reading back shows the move was applied
        assert api.get(f"/pharmacy_orders/{uid}").json()["status"] == "processing"
    (t,) = s.transitions()
    assert (t["uid"], t["to"], t["by"], t["idempotency_key"]) == (uid, "processing", "api", "k1")
    assert s.requests()[0]["fault"] == "drop_after"


def test_server_error_rate_limit_and_malformed(sandbox_server: SandboxServer) -> None:
    s = sandbox_server
    uid = _first_open(s)
    s.set_faults(next=["server_error", "rate_limit", "malformed"], retry_after_s=3)
    with s.api() as api:
        r = api.patch(f"/pharmacy_orders/{uid}/status", json={"status": "processing"})
        assert r.status_code >= 500 and r.json()["error"]
        r = api.patch(f"/pharmacy_orders/{uid}/status", json={"status": "processing"})
        assert r.status_code == 429 and r.headers["Retry-After"] == "3"
        assert s.transitions() == []  # neither was applied
        r = api.patch(f"/pharmacy_orders/{uid}/status", json={"status": "processing"})
        assert r.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            r.json()
        assert api.get(f"/pharmacy_orders/{uid}").json()["status"] == "processing"
    assert len(s.transitions()) == 1  # the malformed answer's move was applied


@pytest.mark.network
def test_slow_answer_times_out_the_client_but_is_applied(sandbox_server: SandboxServer) -> None:
    s = sandbox_server
    uid = _first_open(s)
    s.set_faults(next=["slow"], slow_s=1.5)
    with s.api(timeout=0.3) as impatient, pytest.raises(httpx.ReadTimeout):
        impatient.patch(f"/pharmacy_orders/{uid}/status", json={"status": "processing"})
    assert s.wait_transitions(1)[0]["to"] == "processing"  # applied while the answer waits
    with s.api() as api:
        assert api.get(f"/pharmacy_orders/{uid}").json()["status"] == "processing"
    assert [t["to"] for t in s.transitions()] == ["processing"]


def _fault_trace(s: SandboxServer, n: int) -> list[str | None]:
    with s.api(timeout=5) as api:
        for _ in range(n):
            with contextlib.suppress(httpx.HTTPError):
                api.get("/health/")
    return [r["fault"] for r in s.requests()]


@pytest.mark.network
def test_random_faults_are_reproducible_from_the_seed(sandbox_factory: Factory) -> None:
    # "slow" is left out so that no client timeout can reorder requests; it has its own test
    kinds = [k for k in FAULT_KINDS if k != "slow"]
    settings = {"fail_rate": 0.5, "fault_seed": 42, "kinds": kinds}
    a = sandbox_factory(faults=settings)
    b = sandbox_factory(faults=settings)
    other = sandbox_factory(faults={**settings, "fault_seed": 43})
    trace = _fault_trace(a, 40)
    assert trace == _fault_trace(b, 40)
    assert trace != _fault_trace(other, 40)
    assert {k for k in trace if k} == set(kinds)  # every kind turns up
    assert 10 <= sum(k is not None for k in trace) <= 30
    # a live change of settings restarts the same sequence
    a.set_faults(**settings)
    assert _fault_trace(a, 40)[40:] == trace


def test_faults_can_be_limited_to_some_methods(sandbox_server: SandboxServer) -> None:
    s = sandbox_server
    s.set_faults(fail_rate=1.0, kinds=["server_error"], methods=["patch"])
    uid = _first_open(s)
    with s.api() as api:
        assert api.get("/health/").status_code == 200
        assert (
            api.patch(f"/pharmacy_orders/{uid}/status", json={"status": "processing"}).status_code
            == 500
        )
    settings = s.control.get("/faults").json()
    assert settings["methods"] == ["PATCH"] and settings["fail_rate"] == 1.0
    assert s.control.post("/faults", json={"fail_rate": 2}).status_code == 422
    assert s.control.post("/faults", json={"kinds": ["meteor"]}).status_code == 422


def test_rate_limit_answers_429_with_retry_after_only_when_asked(sandbox_factory: Factory) -> None:
    s = sandbox_factory(rate_limit=5)
    with s.api() as api:
        codes = [api.get("/health/") for _ in range(20)]
        assert [r.status_code for r in codes[:5]] == [200] * 5
        limited = [r for r in codes if r.status_code == 429]
        assert limited and all("Retry-After" not in r.headers for r in limited)  # documented
        time.sleep(1.05)
    s.set_faults(retry_after_s=1)  # a remote that says when
    with s.api() as api:
        codes = [api.get("/health/") for _ in range(20)]
        limited = [r for r in codes if r.status_code == 429]
        assert limited and all(int(r.headers["Retry-After"]) >= 1 for r in limited)
        assert all(r.json()["error"] for r in limited)
        time.sleep(1.05)
        assert api.get("/health/").status_code == 200  # the window moved on
    s.set_faults(rate_limit=None)
    with s.api() as api:
        assert all(api.get("/health/").status_code == 200 for _ in range(20))
    assert s.control.get("/faults").json()["rate_limit"] is None


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limit_window_is_exact() -> None:
    """At most R accepted in any one-second window; a client paced at R never sees a 429."""
    clock = FakeClock()
    state = RxScaleSandboxState(RxScaleSandboxConfig(rate_limit=10), monotonic=clock)
    refused = 0
    for i in range(100):  # exactly 10/s for 10 s
        clock.now = 1000.0 + i * 0.1
        refused += state.admit() is not None
    assert refused == 0
    clock.now += 5
    burst = [state.admit() for _ in range(15)]  # after a pause: the first 10 pass
    assert burst[:10] == [None] * 10 and burst[10:] == [1] * 5
    accepted: list[float] = []
    for _ in range(200):  # a greedy client at 40/s for 5 s, the burst's second still counting
        clock.now += 0.025
        if state.admit() is None:
            accepted.append(clock.now)
    for t in accepted:
        assert sum(t - 1.0 < u <= t for u in accepted) <= 10
    assert 38 <= len(accepted) <= 42  # the 4 s after the burst's second, at 10/s


async def test_faults_in_process_surface_as_transport_errors() -> None:
    """Through httpx.ASGITransport (the demo) a dropped connection is an httpx error too."""
    app = create_app(RxScaleSandboxConfig(seed=2))
    state = app.state.sandbox
    uid = state.list_orders(0, 1)[0][0]["uid"]
    state.set_faults({"next": ["drop_before", "drop_after", "malformed"]})
    transport = httpx.ASGITransport(app=app)
    base = "http://sandbox/v1/external-pharmacy-api-v1"
    headers = {"X-API-Key": "sandbox-key"}
    async with httpx.AsyncClient(transport=transport, base_url=base, headers=headers) as api:
        url = f"/pharmacy_orders/{uid}/status"
        with pytest.raises(httpx.TransportError) as first:
            await api.patch(url, json={"status": "processing"})
        assert isinstance(first.value, ConnectionDropped)
        assert state.transitions() == []
        with pytest.raises(httpx.RemoteProtocolError):
            await api.patch(url, json={"status": "processing"})
        assert [t["to"] for t in state.transitions()] == ["processing"]
        r = await api.patch(url, json={"status": "shipped"})
        with pytest.raises(json.JSONDecodeError):
            r.json()
        assert (await api.get(f"/pharmacy_orders/{uid}")).json()["status"] == "shipped"


@pytest.mark.network
def test_stats_count_answers_faults_and_sides(sandbox_server: SandboxServer) -> None:
    s = sandbox_server
    uid = _first_open(s)
    s.set_faults(next=["server_error", "drop_after"])
    with s.api() as api:
        assert api.get("/health/").status_code == 500
        with pytest.raises(httpx.RemoteProtocolError):
            api.patch(
                f"/pharmacy_orders/{uid}/status",
                json={"status": "processing"},
                headers={"X-Idempotency-Key": "x-1"},
            )
        assert api.get("/health/").status_code == 200
    s.remote_status(uid, "cancel")
    stats = s.control.get("/stats").json()
    assert stats["requests"] == 3
    assert stats["by_status_code"] == {"500": 1, "None": 1, "200": 1}
    assert stats["by_fault"] == {"server_error": 1, "drop_after": 1}
    assert stats["by_method"] == {"GET": 2, "PATCH": 1}
    assert stats["transitions_by"] == {"api": 1, "sandbox": 1}
    assert stats["first_request_time"] <= stats["last_request_time"]
    assert s.transitions()[0]["idempotency_key"] == "x-1"


def test_outage_then_recovery_on_the_same_port(sandbox_server: SandboxServer) -> None:
    s = sandbox_server
    uid = _first_open(s)
    s.stop()
    assert not s.running
    with s.api(timeout=2) as api:
        with pytest.raises(httpx.ConnectError):
            api.get("/health/")
        s.start()
        assert api.patch(f"/pharmacy_orders/{uid}/status", json={"status": "processing"}).is_success
    assert [t["to"] for t in s.transitions()] == ["processing"]
