"""RxScale's newer lifecycle as RxScale documents it, against the client and the stand-in.

Pages (facts taken, not text):

* ``LIFECYCLE`` — docs.rxscale.com ``guides/order-lifecycle`` (the newer version): init →
  waiting for pharmacy → pending review → in-progress → ready_for_pickup → completed, plus
  on-hold and cancelled; ``completed`` is set by the pharmacy only through ``PATCH
  /pharmacy_orders/{uid}/complete_order`` ("Do not set completed through the generic status
  endpoint": stock reduction, shipment and order update events); cancel allowed from
  ``waiting for pharmacy`` and ``pending review``.
* ``LIMITS`` — docs.rxscale.com rate limits (newer pages): 10 requests/s and 600/min, a 429
  ``{"error": "Rate limit exceeded"}``, no rate-limit or Retry-After header documented.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from rxfloor.core.lifecycle import Action
from rxfloor.core.sources.base import TransientError
from rxfloor.core.sources.rxscale.client import RxScaleClient
from rxfloor.core.sources.rxscale.mapping import COMPLETE, plan_push
from rxfloor.core.sources.rxscale.source import RxScaleSource, ships
from tests import remote_fixtures
from tests.remote_fixtures import SandboxServer

KEY = "rxscale-contract-key-0123456789"
URL = "https://api.rxscale.com/v1/external-pharmacy-api-v1"
sandbox_factory = remote_fixtures.sandbox_factory


def _order(uid: str, status: str, identifier: str = "shipping") -> dict[str, Any]:
    return {"uid": uid, "name": "#1001", "status": status, "external_status": status.upper(),
            "created_at": 1_700_000_000, "updated_at": 1_700_000_100,
            "delivery_type": {"uid": "dt-1", "display_name": "Versand", "identifier": identifier},
            "order_items": []}  # fmt: skip


def test_a_finish_of_a_v2_order_plans_complete_order_after_ready_for_pickup() -> None:
    plan = plan_push(Action.FINISH, "in-progress")
    assert plan.steps == ("ready_for_pickup", COMPLETE)
    assert plan_push(Action.FINISH, "ready_for_pickup").steps == (COMPLETE,)
    assert plan_push(Action.FINISH, "completed").done
    assert plan_push(Action.FINISH, "processing").steps == ("shipped",)  # v1: the service


@pytest.mark.parametrize("identifier", ["shipping", "pickup"])
def test_complete_order_is_the_documented_call_and_only_for_an_order_that_ships(
    identifier: str,
) -> None:
    sent: list[tuple[str, str]] = []
    state = {"status": "ready_for_pickup"}

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append((request.method, request.url.path))
        if request.url.path.endswith("/complete_order"):
            state["status"] = "completed"
        return httpx.Response(200, json=_order("po-1", state["status"], identifier))

    client = RxScaleClient(URL, SecretStr(KEY), rate_limit_per_s=None,
                          transport=httpx.MockTransport(handler))  # fmt: skip
    source = RxScaleSource(client, dialect="v2")
    answer = source.push_step("po-1", COMPLETE, reason=None, idempotency_key="k-1")
    source.close()
    patches = [p for m, p in sent if m == "PATCH"]
    if identifier == "shipping":
        assert patches == ["/v1/external-pharmacy-api-v1/pharmacy_orders/po-1/complete_order"]
        assert answer.status == "completed"
    else:  # picked up: completed at its hand-off (the pharmacy-workflow issue), not now
        assert patches == [] and answer.status == "ready_for_pickup"


def test_a_finish_against_the_stand_in_completes_each_shipped_order_exactly_once(
    sandbox_factory: Any,
) -> None:
    server: SandboxServer = sandbox_factory(seed=0, dialect="v2")
    uids = server.add_orders(12)
    source = server.source(rate_limit_per_s=None)
    shipped = set()
    for uid in uids:
        order = source.get_order(uid)
        if ships(order):
            shipped.add(uid)
        status = order.status
        for action in (Action.START, Action.FINISH):
            for i, step in enumerate(source.plan_push(action, status).steps):
                key = f"{uid}-{action.value}-{i}"
                status = source.push_step(uid, step, reason=None, idempotency_key=key).status
        assert status == ("completed" if uid in shipped else "ready_for_pickup"), uid
        assert source.plan_push(Action.FINISH, status).done == (uid in shipped)
    source.close()
    completes = [r for r in server.requests() if str(r.get("path", "")).endswith("/complete_order")]
    assert shipped and len(completes) == len(shipped)  # each once, none for a pickup


def test_cancel_is_planned_from_pending_review_and_waiting_for_pharmacy() -> None:
    for status in ("waiting for pharmacy", "pending review"):
        assert plan_push(Action.CANCEL, status).steps == ("cancelled",)


def test_the_stand_in_takes_a_cancel_from_pending_review(sandbox_factory: Any) -> None:
    server: SandboxServer = sandbox_factory(seed=1, dialect="v2")
    uid = server.state.list_orders(0, 1)[0][0]["uid"]
    with server.api() as api:
        assert api.patch(f"/pharmacy_orders/{uid}/status",
                         json={"status": "pending review"}).is_success  # fmt: skip
        answer = api.patch(f"/pharmacy_orders/{uid}/status", json={"status": "cancelled"})
    assert answer.status_code == 200 and answer.json()["status"] == "cancelled"


def test_a_429_without_retry_after_is_paced_by_the_client() -> None:
    """LIMITS: 429 ``{"error": "Rate limit exceeded"}`` and no header to say when."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={"error": "Rate limit exceeded"})

    client = RxScaleClient(URL, SecretStr(KEY), rate_limit_per_s=10.0,
                          transport=httpx.MockTransport(handler))  # fmt: skip
    with client, pytest.raises(TransientError) as caught:
        client.get_order("po-1")
    assert caught.value.status_code == 429 and caught.value.maybe_applied is False
    assert caught.value.retry_after is None  # none was sent: the limiter paces instead
    assert client.limiter.effective is not None and client.limiter.effective < 10.0


def test_the_stand_in_answers_429_as_documented_without_retry_after(sandbox_factory: Any) -> None:
    """LIMITS: the stand-in's rate window and an injected 429 say nothing of when to retry."""
    server: SandboxServer = sandbox_factory(seed=1, dialect="v2", rate_limit=3)
    with server.api() as api:
        answers = [api.get("/health/") for _ in range(10)]
    limited = [r for r in answers if r.status_code == 429]
    assert limited
    for r in limited:
        assert "Retry-After" not in r.headers
        assert r.json() == {"error": "Rate limit exceeded"}
    server.set_faults(rate_limit=None, next=["rate_limit"])
    with server.api() as api:
        injected = api.get("/health/")
    assert injected.status_code == 429 and "Retry-After" not in injected.headers


def test_the_client_paces_itself_against_the_stand_ins_limit(sandbox_factory: Any) -> None:
    """LIMITS: without Retry-After the client's limiter learns the rate from the 429s."""
    server: SandboxServer = sandbox_factory(seed=3, dialect="v2", rate_limit=4)
    uids = [o["uid"] for o in server.state.list_orders(0, 3)[0]]
    client = server.client(rate_limit_per_s=20.0)
    read, limited = 0, 0
    with client:
        while read < 12:
            try:
                client.get_order(uids[read % len(uids)])
                read += 1
            except TransientError as exc:
                assert exc.status_code == 429 and exc.retry_after is None
                limited += 1
                assert limited < 12, "the client never slowed down"
    assert limited >= 1
    assert client.limiter.effective is not None and client.limiter.effective < 20.0
