"""The stand-in over loopback (real uvicorn): the documented API, both dialects, control calls."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from starlette.routing import Mount, Route

from rxfloor.sandbox.rxscale import (
    BASE_PATH,
    KeyGrant,
    RxScaleSandboxConfig,
    RxScaleSandboxState,
    create_app,
    drive_activity,
)
from rxfloor.sandbox.rxscale.dialects import DIALECTS
from rxfloor.sandbox.rxscale.openapi import openapi_schema
from tests import remote_fixtures
from tests.remote_fixtures import SandboxServer

sandbox_server = remote_fixtures.sandbox_server
sandbox_factory = remote_fixtures.sandbox_factory

Factory = Callable[..., SandboxServer]


def test_documented_calls_under_both_base_paths(sandbox_server: SandboxServer) -> None:
    s = sandbox_server
    for base in (s.base_url, s.old_base_url):
        with s.http(base, headers=s.headers) as api:
            assert api.get("/health/").status_code == 200
            page = api.get("/pharmacy_orders/", params={"page": 0, "limit": 50}).json()
            assert set(page) == {"data", "totalRegistries", "totalPages"}
            assert page["totalRegistries"] == 20 and page["totalPages"] == 1
            assert len(page["data"]) == 20
            order = page["data"][0]
            assert order["status"] == "open" and order["uid"].startswith("po-")
            assert "patient_data" not in order  # detail only
            detail = api.get(f"/pharmacy_orders/{order['uid']}").json()
            assert detail["patient_data"]["display_name"]
            assert set(detail) >= {"doctor_data", "prescription_file", "prepaid", "order_items"}
            assert isinstance(detail["created_at"], int)
            assert detail["order"]["delivery_address"]["city"]
            item = detail["order_items"][0]
            assert item["sku"]["display_name"] and item["total_paid_amount"] > 0


def test_order_content_is_realistic_and_reproducible(sandbox_factory: Factory) -> None:
    a = sandbox_factory(seed=30, content_seed=4)
    b = sandbox_factory(seed=30, content_seed=4)
    pages = []
    for s in (a, b):
        with s.api() as api:
            pages.append(api.get("/pharmacy_orders/", params={"limit": 200}).json()["data"])
    strip = [
        {k: v for k, v in o.items() if k not in ("updated_at", "created_at")} for o in pages[0]
    ]
    assert strip == [
        {k: v for k, v in o.items() if k not in ("updated_at", "created_at")} for o in pages[1]
    ]
    assert {o["order"]["priority"] for o in pages[0]} >= {0, 1}
    kinds = {o["delivery_type"]["identifier"] if o["delivery_type"] else None for o in pages[0]}
    assert kinds >= {"pickup", "shipping"}
    names = [o["name"] for o in pages[0]]
    assert len(set(names)) == 30 and all(n.startswith("#") for n in names)


def test_auth_failures_are_answered_as_documented(sandbox_factory: Factory) -> None:
    s = sandbox_factory(
        seed=2,
        api_key="full-key",
        extra_keys={
            "read-key": KeyGrant(permissions=frozenset({"orders_read"})),
            "group-key": KeyGrant(group=True),
        },
    )
    uid = s.state.list_orders(0, 1)[0][0]["uid"]
    with s.http(s.base_url) as c:
        r = c.get("/pharmacy_orders/")
        assert r.status_code == 401 and r.json()["code"] == "authorization_header_missing"
        r = c.get("/pharmacy_orders/", headers={"X-API-Key": "nope"})
        assert r.status_code == 401 and r.json()["code"] == "invalid_api_key"
        r = c.get("/pharmacy_orders/", headers={"X-API-Key": "Bearer full-key"})
        assert r.status_code == 401 and r.json()["code"] == "invalid_header"
        assert "description" in r.json()
        read = {"X-API-Key": "read-key"}
        assert c.get("/pharmacy_orders/", headers=read).status_code == 200
        r = c.patch(f"/pharmacy_orders/{uid}/status", json={"status": "processing"}, headers=read)
        assert r.status_code == 403 and "orders_write" in r.json()["description"]
        assert c.get("/webhooks/", headers=read).status_code == 403
        r = c.get("/pharmacy_orders/po-unknown", headers=read)
        assert r.status_code == 404 and "po-unknown" in r.json()["error"]
        group = {"X-API-Key": "group-key"}
        r = c.get("/pharmacy_orders/", headers=group)
        assert r.status_code == 400 and "pharmacy_uid" in r.json()["error"]
        ok = c.get("/pharmacy_orders/", headers=group, params={"pharmacy_uid": "ph-sandbox-0001"})
        assert ok.status_code == 200 and ok.json()["totalRegistries"] == 2
        other = c.get("/pharmacy_orders/", headers=group, params={"pharmacy_uid": "ph-other"})
        assert other.status_code == 404
        assert c.get("/health/", headers=group).status_code == 200
    assert s.state.transitions() == []  # nothing refused was applied


def test_paging_and_filters(sandbox_factory: Factory) -> None:
    s = sandbox_factory(seed=45)
    with s.api() as api:
        seen = []
        first = api.get("/pharmacy_orders/", params={"limit": 20}).json()
        assert first["totalRegistries"] == 45 and first["totalPages"] == 3
        for page in range(first["totalPages"]):
            data = api.get("/pharmacy_orders/", params={"page": page, "limit": 20}).json()["data"]
            seen += [o["uid"] for o in data]
        assert len(seen) == len(set(seen)) == 45
        assert api.get("/pharmacy_orders/", params={"page": 9}).json()["data"] == []
        assert len(api.get("/pharmacy_orders/").json()["data"]) == 45  # default limit 50
        big = api.get("/pharmacy_orders/", params={"limit": 1000}).json()
        assert big["totalPages"] == 1  # at most 200 a page
        for bad in ({"page": -1}, {"limit": 0}, {"limit": "x"}, {"status": "bogus"}):
            r = api.get("/pharmacy_orders/", params=bad)
            assert r.status_code == 422 and r.json()["details"], bad
        uid = seen[3]
        assert api.patch(f"/pharmacy_orders/{uid}/status", json={"status": "processing"}).is_success
        proc = api.get("/pharmacy_orders/", params={"status": "processing"}).json()
        assert [o["uid"] for o in proc["data"]] == [uid] and proc["totalRegistries"] == 1
        assert (
            api.get("/pharmacy_orders/", params={"status": "open"}).json()["totalRegistries"] == 44
        )
        order = api.get(f"/pharmacy_orders/{uid}").json()
        for needle in (order["name"], order["patient_data"]["display_name"].split()[-1]):
            found = api.get("/pharmacy_orders/", params={"search": needle.upper()}).json()
            assert uid in [o["uid"] for o in found["data"]], needle
        none = api.get("/pharmacy_orders/", params={"search": "zzz-nothing"}).json()
        assert none == {"data": [], "totalRegistries": 0, "totalPages": 0}


def _patch(api: httpx.Client, uid: str, status: str, **extra: str) -> httpx.Response:
    return api.patch(f"/pharmacy_orders/{uid}/status", json={"status": status, **extra})


def test_v1_transition_rules(sandbox_factory: Factory) -> None:
    s = sandbox_factory(seed=4)
    a, b, c, d = (o["uid"] for o in s.state.list_orders(0, 4)[0])
    with s.api() as api:
        r = _patch(api, a, "shipped")
        assert r.status_code == 409 and "open" in r.json()["error"]  # no skipping
        assert _patch(api, a, "processing").json()["status"] == "processing"
        assert _patch(api, a, "processing").status_code == 409  # not twice
        assert _patch(api, a, "shipped").json()["status"] == "shipped"
        assert _patch(api, a, "cancelled").status_code == 409  # not after shipping
        r = _patch(api, b, "completed")
        assert r.status_code == 422 and r.json()["details"][0]["field"] == "status"
        assert _patch(api, b, "open").status_code == 422
        assert _patch(api, b, "nonsense").status_code == 422
        assert _patch(api, b, "cancelled").json()["status"] == "cancelled"  # from open
        assert _patch(api, c, "processing").is_success
        assert _patch(api, c, "cancelled").json()["status"] == "cancelled"  # from processing
        assert api.patch(f"/pharmacy_orders/{d}/complete_order").status_code == 404  # v2 only
        r = api.patch(f"/pharmacy_orders/{d}/status", content=b"{not json")
        assert r.status_code == 400 and "JSON" in r.json()["error"]
        assert api.patch(f"/pharmacy_orders/{d}/status", json={}).status_code == 422
        assert _patch(api, "po-missing", "processing").status_code == 404
    moves = [(t["uid"], t["from"], t["to"], t["by"]) for t in s.transitions()]
    assert moves == [
        (a, "open", "processing", "api"),
        (a, "processing", "shipped", "api"),
        (b, "open", "cancelled", "api"),
        (c, "open", "processing", "api"),
        (c, "processing", "cancelled", "api"),
    ]


def test_v2_transition_rules(sandbox_factory: Factory) -> None:
    s = sandbox_factory(seed=3, dialect="v2")
    a, b, c = (o["uid"] for o in s.state.list_orders(0, 3)[0])
    with s.api() as api:
        assert api.get(f"/pharmacy_orders/{a}").json()["status"] == "waiting for pharmacy"
        assert _patch(api, a, "in-progress").status_code == 409  # review first
        assert _patch(api, a, "pending review").is_success
        r = _patch(api, a, "on-hold")
        assert r.status_code == 422 and "comment" in r.json()["error"]
        assert _patch(api, a, "on-hold", comment="   ").status_code == 422
        held = _patch(api, a, "on-hold", comment="Awaiting prescriber callback").json()
        assert held["status"] == "on-hold" and held["comment"] == "Awaiting prescriber callback"
        assert _patch(api, a, "pending review").is_success
        assert _patch(api, a, "in-progress").is_success
        assert _patch(api, a, "completed").status_code == 422  # only via complete_order
        assert api.patch(f"/pharmacy_orders/{a}/complete_order").status_code == 409
        assert _patch(api, a, "ready_for_pickup").json()["external_status"] == "READY_FOR_PICKUP"
        done = api.patch(f"/pharmacy_orders/{a}/complete_order")
        assert done.status_code == 200 and done.json()["status"] == "completed"
        assert _patch(api, b, "cancelled").json()["status"] == "cancelled"
        assert _patch(api, c, "processing").status_code == 422  # a v1 word
        assert api.get("/pharmacy_orders/", params={"status": "open"}).status_code == 422
        waiting = api.get("/pharmacy_orders/", params={"status": "waiting for pharmacy"}).json()
        assert [o["uid"] for o in waiting["data"]] == [c]
    assert [t["to"] for t in s.transitions() if t["uid"] == a] == [
        "pending review", "on-hold", "pending review", "in-progress", "ready_for_pickup",
        "completed",
    ]  # fmt: skip


def test_control_endpoints(sandbox_server: SandboxServer) -> None:
    s = sandbox_server
    new = s.add_orders(3)
    assert len(new) == 3
    with s.api() as api:
        page = api.get("/pharmacy_orders/", params={"limit": 3}).json()
        assert page["totalRegistries"] == 23
        assert set(new) <= {o["uid"] for o in api.get("/pharmacy_orders/").json()["data"]}
        key = "move-1"
        r = api.patch(
            f"/pharmacy_orders/{new[0]}/status",
            json={"status": "processing"},
            headers={"Idempotency-Key": key},
        )
        assert r.status_code == 200
        cancelled = s.remote_status(new[0], "cancel")
        assert cancelled["status"] == "cancelled"
        assert s.remote_status(new[1], "processing")["status"] == "processing"
        assert s.remote_status(new[1], "shipped")["status"] == "shipped"
        assert s.remote_status(new[1], "complete")["status"] == "completed"
        assert api.get(f"/pharmacy_orders/{new[0]}").json()["status"] == "cancelled"
    r = s.control.post(f"/orders/{new[2]}/status", json={"status": "hold"})
    assert r.status_code == 422 and "v1" in r.json()["error"]  # v1 has no hold
    assert s.control.post("/orders/po-nope/status", json={"status": "cancel"}).status_code == 404
    assert s.control.post("/orders", json={"count": 0}).status_code == 422
    assert s.control.post("/orders", content=b"[]").status_code == 400
    trans = s.transitions()
    assert [(t["uid"], t["from"], t["to"], t["by"]) for t in trans] == [
        (new[0], "open", "processing", "api"),
        (new[0], "processing", "cancelled", "sandbox"),
        (new[1], "open", "processing", "sandbox"),
        (new[1], "processing", "shipped", "sandbox"),
        (new[1], "shipped", "completed", "sandbox"),
    ]
    assert trans[0]["idempotency_key"] == key and isinstance(trans[0]["time"], float)
    assert [t["seq"] for t in trans] == [1, 2, 3, 4, 5]
    reqs = s.requests()
    assert [(r["method"], r["status_code"]) for r in reqs] == [
        ("GET", 200), ("GET", 200), ("PATCH", 200), ("GET", 200),
    ]  # fmt: skip
    assert reqs[2]["path"].endswith(f"/pharmacy_orders/{new[0]}/status")
    assert reqs[0]["query"] == "limit=3" and all(r["time"] > 0 for r in reqs)
    assert trans[0]["request_seq"] == reqs[2]["seq"]
    # control calls are never logged as API requests
    assert not any(r["path"].startswith("/_sandbox") for r in reqs)


@pytest.mark.parametrize("dialect", ["v1", "v2"])
def test_remote_hold_and_openapi(sandbox_factory: Factory, dialect: str) -> None:
    s = sandbox_factory(seed=1, dialect=dialect)
    with s.api() as api:
        schema = api.get("/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    assert "/pharmacy_orders/{uid}/status" in schema["paths"]
    statuses = schema["components"]["schemas"]["Order"]["properties"]["status"]["enum"]
    assert ("on-hold" in statuses) is (dialect == "v2")
    assert ("/pharmacy_orders/{uid}/complete_order" in schema["paths"]) is (dialect == "v2")
    assert s.get(s.root_url + "/openapi.json").json() == schema
    if dialect == "v2":
        uid = s.state.list_orders(0, 1)[0][0]["uid"]
        held = s.remote_status(uid, "hold", "Out of stock - reorder placed")
        assert held["status"] == "on-hold" and held["comment"] == "Out of stock - reorder placed"


def test_unknown_routes_and_methods_answer_json(sandbox_server: SandboxServer) -> None:
    with sandbox_server.api() as api:
        r = api.get("/no_such_thing/")
        assert r.status_code == 404 and r.json() == {"error": "not found"}
        r = api.delete("/pharmacy_orders/")
        assert r.status_code == 405 and r.json()["error"]


def test_remote_side_cannot_reopen_a_closed_order_unless_forced(
    sandbox_server: SandboxServer,
) -> None:
    s = sandbox_server
    uid = s.state.list_orders(0, 1)[0][0]["uid"]
    s.remote_status(uid, "cancel")
    r = s.control.post(f"/orders/{uid}/status", json={"status": "open"})
    assert r.status_code == 409 and "cancelled" in r.json()["error"]
    r = s.control.post(f"/orders/{uid}/status", json={"status": "open", "force": True})
    assert r.json()["status"] == "open"
    assert [t["to"] for t in s.transitions()] == ["cancelled", "open"]
    assert s.remote_status(uid, "open")["status"] == "open"  # no change, nothing logged
    assert len(s.transitions()) == 2


def test_reset_gives_a_fresh_start(sandbox_server: SandboxServer) -> None:
    s = sandbox_server
    with s.api() as api:
        before = api.get("/pharmacy_orders/").json()["data"]
        api.patch(f"/pharmacy_orders/{before[0]['uid']}/status", json={"status": "processing"})
        api.post(
            "/webhooks/",
            json={"target": "http://x.org/", "notification_type": "pharmacy_order_created"},
        )
    s.set_faults(fail_rate=0.3, rate_limit=50)
    s.reset()
    assert s.transitions() == [] and s.requests() == []
    assert s.control.get("/faults").json()["fail_rate"] == 0.0
    assert s.control.get("/faults").json()["rate_limit"] is None
    with s.api() as api:
        after = api.get("/pharmacy_orders/").json()["data"]
        assert api.get("/webhooks/").json()["data"] == []
    assert [o["uid"] for o in after] == [o["uid"] for o in before]  # same content seed
    assert {o["status"] for o in after} == {"open"}
    s.reset(seed=3)
    assert s.state.list_orders(0, 50)[1] == 3
    assert s.control.post("/reset", json={"seed": -1}).status_code == 422


def test_activity_tick_adds_orders_and_cancels_some() -> None:
    state = RxScaleSandboxState(RxScaleSandboxConfig(seed=5))
    rng = random.Random(1)
    done = [state.tick(rng, cancel_chance=0.3) for _ in range(40)]
    created = [u for d in done for u in d["created"]]
    cancelled = [u for d in done for u in d["cancelled"]]
    assert len(created) + len(cancelled) == 40 and created and cancelled
    assert state.list_orders(0, 200)[1] == 5 + len(created)
    trans = state.transitions()
    assert [t["uid"] for t in trans] == cancelled
    assert all(t["by"] == "sandbox" and t["to"] == "cancelled" for t in trans)
    assert all(t["from"] in ("open", "processing") for t in trans)


async def test_drive_activity_runs_until_stopped() -> None:
    state = RxScaleSandboxState(RxScaleSandboxConfig(seed=0))
    stop = asyncio.Event()
    task = asyncio.create_task(drive_activity(state, every_s=0.01, seed=3, stop=stop))
    deadline = asyncio.get_running_loop().time() + 5
    while state.list_orders(0, 1)[1] < 3 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, timeout=2)
    assert state.list_orders(0, 1)[1] >= 3


@pytest.mark.parametrize("dialect", ["v1", "v2"])
def test_openapi_schema_matches_the_routes_and_the_orders(dialect: str) -> None:
    app = create_app(RxScaleSandboxConfig(seed=5, dialect=dialect))
    schema = openapi_schema(dialect)
    (api,) = [r for r in app.routes if isinstance(r, Mount) and r.path == BASE_PATH]
    paths = {r.path for r in api.routes if isinstance(r, Route)} - {"/openapi.json"}
    if dialect == "v1":
        paths.discard("/pharmacy_orders/{uid}/complete_order")  # answers 404 in v1
    assert set(schema["paths"]) == paths
    order_schema = schema["components"]["schemas"]["Order"]
    assert order_schema["properties"]["status"]["enum"] == list(DIALECTS[dialect].statuses)
    state: RxScaleSandboxState = app.state.sandbox
    for order in state.list_orders(0, 5)[0]:
        assert set(order) <= set(order_schema["properties"])
        assert set(order_schema["required"]) <= set(order)
    patchable = schema["components"]["schemas"]["StatusChange"]["properties"]["status"]["enum"]
    assert set(patchable) == set(DIALECTS[dialect].patchable)


def test_orders_of_another_pharmacy_are_404_not_403(sandbox_factory: Factory) -> None:
    s = sandbox_factory(seed=2, other_pharmacy_orders=3, extra_keys={"group": KeyGrant(group=True)})
    own, other = s.config.pharmacy_uid, s.config.other_pharmacy_uid
    theirs = s.state.list_orders(0, 10, pharmacy_uid=other)[0][0]["uid"]
    with s.api() as api:
        listed = api.get("/pharmacy_orders/").json()
        assert listed["totalRegistries"] == 2
        assert {o["pharmacy"]["uid"] for o in listed["data"]} == {own}
        assert api.get(f"/pharmacy_orders/{theirs}").status_code == 404
        r = api.patch(f"/pharmacy_orders/{theirs}/status", json={"status": "processing"})
        assert r.status_code == 404
        assert api.get("/pharmacy_orders/", params={"pharmacy_uid": other}).status_code == 404
    group = {"X-API-Key": "group"}
    with s.http(s.base_url, headers=group) as api:
        assert (
            api.get("/pharmacy_orders/", params={"pharmacy_uid": other}).json()["totalRegistries"]
            == 3
        )
        url = f"/pharmacy_orders/{theirs}/status"
        body = {"status": "processing"}
        assert api.patch(url, json=body, params={"pharmacy_uid": own}).status_code == 404
        assert api.patch(url, json=body, params={"pharmacy_uid": other}).status_code == 200
    assert [t["uid"] for t in s.transitions()] == [theirs]


def test_concurrent_patches_of_one_order_apply_once(sandbox_server: SandboxServer) -> None:
    s = sandbox_server
    uid = s.state.list_orders(0, 1)[0][0]["uid"]

    def move(_: int) -> int:
        with s.api() as api:
            r = api.patch(f"/pharmacy_orders/{uid}/status", json={"status": "processing"})
            return r.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = sorted(pool.map(move, range(16)))
    assert codes == [200] + [409] * 15
    assert [(t["uid"], t["to"]) for t in s.transitions()] == [(uid, "processing")]
