"""The remote client: push planning, tolerant models, error mapping, rate limit, key secrecy."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.sources.base import AuthError, PermanentError, TransientError
from rxfloor.core.sources.rxscale.client import RxScaleClient
from rxfloor.core.sources.rxscale.mapping import ACTIVE, plan_push
from rxfloor.core.sources.rxscale.source import RxScaleSource
from rxfloor.core.sources.rxscale.wire import RxScaleOrder
from tests import remote_fixtures
from tests.remote_fixtures import SandboxServer

sandbox_server = remote_fixtures.sandbox_server
sandbox_factory = remote_fixtures.sandbox_factory

KEY = "s3cret-key-never-shown"


@pytest.mark.parametrize(
    ("action", "remote", "done", "stale", "steps"),
    [
        (Action.START, "open", False, False, ("processing",)),
        (Action.START, "processing", True, False, ()),
        (Action.START, "shipped", True, False, ()),
        (Action.START, "cancelled", False, True, ()),
        (Action.FINISH, "processing", False, False, ("shipped",)),
        (Action.FINISH, "open", False, False, ("processing", "shipped")),
        (Action.FINISH, "completed", True, False, ()),
        (Action.START, "completed", False, True, ()),
        (Action.CANCEL, "open", False, False, ("cancelled",)),
        (Action.CANCEL, "cancelled", True, False, ()),
        (Action.START, "waiting for pharmacy", False, False, ("pending review", "in-progress")),
        (Action.START, "pending review", False, False, ("in-progress",)),
        (Action.START, "on-hold", False, True, ()),
        (Action.FINISH, "in-progress", False, False, ("ready_for_pickup", "complete_order")),
        (Action.FINISH, "ready_for_pickup", False, False, ("complete_order",)),
        (Action.CANCEL, "waiting for pharmacy", False, False, ("cancelled",)),
    ],
)
def test_plan_push(action: Action, remote: str, done: bool, stale: bool, steps: tuple[str, ...]):
    plan = plan_push(action, remote)
    assert (plan.done, plan.stale, plan.steps) == (done, stale, steps)


def test_models_tolerate_unknown_fields_and_both_dialects() -> None:
    o = RxScaleOrder.model_validate(
        {"uid": "po-1", "name": "#1", "status": "In-Progress", "brand_new_field": {"x": 1},
         "order": {"priority": 2, "surprise": True}, "delivery_type": None,
         "order_items": [{"amount": 2, "sku": {"display_name": "Ibuprofen 400 mg"}}]}
    )  # fmt: skip
    assert o.board_status is Status.PROCESSING
    new = o.to_new_order(Status.PROCESSING)
    assert new.priority == "stat" and new.items[0].quantity == 2
    assert RxScaleOrder.model_validate({"uid": "po-2", "status": "on-hold"}).on_hold
    assert RxScaleOrder.model_validate({"uid": "po-3", "status": "created"}).board_status is None


def _client(server: SandboxServer, key: str | None = None, **kw: object) -> RxScaleClient:
    kw.setdefault("transport", server.transport)
    return RxScaleClient(server.base_url, SecretStr(key or server.api_key), **kw)  # type: ignore[arg-type]


def test_documented_calls_against_the_stand_in(sandbox_server: SandboxServer) -> None:
    with _client(sandbox_server, rate_limit_per_s=None) as client:
        client.health()
        page = client.list_page(0, limit=5)
        assert page.total_registries == 20 and page.total_pages == 4 and len(page.data) == 5
        everything = [o for o in client.iter_orders(limit=7) if isinstance(o, RxScaleOrder)]
        assert len({o.uid for o in everything}) == 20
        uid = everything[0].uid
        assert client.get_order(uid).status == "open"
        assert client.set_status(uid, "processing", idempotency_key="k1").status == "processing"
        with pytest.raises(PermanentError, match="409"):
            client.set_status(uid, "processing", idempotency_key="k2")
        with pytest.raises(PermanentError, match="404"):
            client.get_order("po-nope")
    # the old spelling of the base path works too
    with RxScaleClient(sandbox_server.old_base_url, SecretStr(sandbox_server.api_key),
                       transport=sandbox_server.transport) as old:  # fmt: skip
        old.health()


def test_bad_key_and_dead_server_are_one_clear_line_without_the_key(
    sandbox_factory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = sandbox_factory(api_key="right-key", seed=1)
    with _client(server, key=KEY) as client, pytest.raises(AuthError) as bad:
        client.list_page(0)
    assert "401" in str(bad.value) and KEY not in str(bad.value)
    root = server.base_url
    server.stop()
    with (
        RxScaleClient(root, SecretStr(KEY), transport=server.transport) as client,
        pytest.raises(TransientError) as dead,
    ):
        client.health()
    assert "cannot reach" in str(dead.value) and KEY not in str(dead.value)
    assert not dead.value.maybe_applied
    assert KEY not in caplog.text


@pytest.mark.network
def test_faults_map_to_transient_errors(sandbox_server: SandboxServer) -> None:
    sandbox_server.set_faults(next=["server_error", "rate_limit", "malformed", "drop_after"])
    with _client(sandbox_server, rate_limit_per_s=None) as client:
        for expected in ("500", "429", "malformed", "connection"):
            with pytest.raises(TransientError, match=expected):
                client.list_page(0)


@pytest.mark.network
def test_timeout_is_transient_and_maybe_applied(sandbox_server: SandboxServer) -> None:
    sandbox_server.set_faults(next=["slow"], slow_s=1.0)
    uid = sandbox_server.state.list_orders(0, 1)[0][0]["uid"]
    with _client(sandbox_server, timeout_s=0.2) as client, pytest.raises(TransientError) as err:
        client.set_status(uid, "processing", idempotency_key="k")
    assert err.value.maybe_applied


def test_missing_url_or_key_is_refused_up_front() -> None:
    with pytest.raises(ValueError, match="RXFLOOR_API_URL"):
        RxScaleClient("", SecretStr("k"))
    with pytest.raises(ValueError, match="API key"):
        RxScaleClient("http://127.0.0.1:9", None)


def test_the_source_learns_its_dialect_from_what_it_reads(sandbox_factory) -> None:
    """No ``SELECT DISTINCT`` over the database: the first v2-only status makes it v2."""
    server = sandbox_factory(seed=4, dialect="v2")
    source = server.source(rate_limit_per_s=None)
    fixed = RxScaleSource(source.client, dialect="v1")
    try:
        assert source.dialect is None and source.active_statuses() is None
        listed = [o for o in source.iter_orders(50, active=True) if isinstance(o, RxScaleOrder)]
        assert len(listed) == 4  # unknown dialect: "active" lists everything
        assert source.dialect == "v2" and source.active_statuses() == ACTIVE["v2"]
        uid = listed[0].uid
        assert source.push_step(uid, "pending review", reason="ignored", idempotency_key="a")
        assert source.push_step(uid, "in-progress", reason=None, idempotency_key="b")
        assert source.get_order(uid).board_status is Status.PROCESSING
        assert [t["comment"] for t in server.transitions() if t["by"] == "api"] == [None, None]
        assert source.dialect == "v2"  # and it stays so
        list(fixed.iter_orders(50, active=False))
        assert fixed.dialect == "v1"  # configured: believed over what it reads
        assert source.plan_push(Action.FINISH, "in-progress").steps == (
            "ready_for_pickup",
            "complete_order",
        )  # the second is sent for a ship order
    finally:
        source.close()
