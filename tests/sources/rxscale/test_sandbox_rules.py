"""Properties: the stand-in accepts exactly the moves docs/pages/sources/rxscale.md draws, logs
each once, and each injected fault applies a move exactly when its description says so.

The edges below are copied from the documentation's diagrams, independently of the
stand-in's own tables, so a slip in either shows up here.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rxfloor.sandbox.rxscale import (
    BASE_PATH,
    FAULT_KINDS,
    FaultSettings,
    RxScaleSandboxConfig,
    RxScaleSandboxState,
    create_app,
)
from rxfloor.sandbox.rxscale.state import Refusal

V1_EDGES = {
    ("open", "processing"),
    ("processing", "shipped"),
    ("open", "cancelled"),
    ("processing", "cancelled"),
}
V2_EDGES = {
    ("waiting for pharmacy", "pending review"),
    ("pending review", "in-progress"),
    ("pending review", "on-hold"),
    ("on-hold", "pending review"),
    ("in-progress", "ready_for_pickup"),
    ("waiting for pharmacy", "cancelled"),
    ("pending review", "cancelled"),  # the newer diagram (docs.rxscale.com order-lifecycle)
}
V1 = ["created", "open", "processing", "shipped", "completed", "cancelled"]
V2 = ["init", "waiting for pharmacy", "pending review", "on-hold", "in-progress",
      "ready_for_pickup", "completed", "cancelled"]  # fmt: skip
COMPLETE = "<complete_order>"


def _run(dialect: str, ops: list[tuple[int, str, bool]]) -> None:
    state = RxScaleSandboxState(RxScaleSandboxConfig(seed=3, dialect=dialect))
    uids = [o["uid"] for o in state.list_orders(0, 3)[0]]
    edges = V1_EDGES if dialect == "v1" else V2_EDGES
    model = {uid: state.get(uid)["status"] for uid in uids}  # type: ignore[index]
    expected: list[tuple[str, str, str]] = []
    for index, target, with_comment in ops:
        uid = uids[index]
        current = model[uid]
        comment = "Interaction check with GP" if with_comment else None
        if target == COMPLETE:
            allowed = dialect == "v2" and current == "ready_for_pickup"
            to = "completed"
        else:
            allowed = (current, target) in edges and (target != "on-hold" or with_comment)
            to = target
        kw: dict[str, Any] = {"by": "api", "comment": comment, "complete": target == COMPLETE}
        try:
            order = state.set_status(uid, to, **kw)
        except Refusal as refusal:
            assert not allowed, (current, target, refusal.body)
            assert 400 <= refusal.status_code < 500 and refusal.body["error"]
            continue
        assert allowed, (current, target)
        assert order["status"] == to
        model[uid] = to
        expected.append((uid, current, to))
    assert [(t["uid"], t["from"], t["to"]) for t in state.transitions()] == expected
    assert all(t["by"] == "api" for t in state.transitions())
    assert {uid: state.get(uid)["status"] for uid in uids} == model  # type: ignore[index]


def _ops(statuses: list[str]) -> st.SearchStrategy[list[tuple[int, str, bool]]]:
    op = st.tuples(
        st.integers(0, 2), st.sampled_from([*statuses, COMPLETE, "bogus"]), st.booleans()
    )
    return st.lists(op, max_size=25)


@settings(max_examples=150, deadline=None)
@given(_ops(V1))
def test_v1_accepts_exactly_the_documented_moves(ops: list[tuple[int, str, bool]]) -> None:
    _run("v1", ops)


@settings(max_examples=150, deadline=None)
@given(_ops(V2))
def test_v2_accepts_exactly_the_documented_moves(ops: list[tuple[int, str, bool]]) -> None:
    _run("v2", ops)


FaultOp = tuple[int, str, str | None]
#: faults after which the move must NOT have been applied
NOT_APPLIED = {"drop_before", "server_error", "rate_limit"}


async def _faulted(ops: list[FaultOp]) -> None:
    app = create_app(RxScaleSandboxConfig(seed=3, faults=FaultSettings(slow_s=0)))
    state: RxScaleSandboxState = app.state.sandbox
    uids = [o["uid"] for o in state.list_orders(0, 3)[0]]
    model = dict.fromkeys(uids, "open")
    expected: list[tuple[str, str, str]] = []
    transport = httpx.ASGITransport(app=app)
    base = "http://sandbox" + BASE_PATH
    async with httpx.AsyncClient(
        transport=transport, base_url=base, headers={"X-API-Key": "sandbox-key"}
    ) as api:
        for index, target, fault in ops:
            uid = uids[index]
            state.set_faults({"next": [fault] if fault else []})
            try:
                answer = await api.patch(f"/pharmacy_orders/{uid}/status", json={"status": target})
            except httpx.TransportError:
                assert fault in ("drop_before", "drop_after")
                answer = None
            allowed = (model[uid], target) in V1_EDGES
            if allowed and fault not in NOT_APPLIED:
                expected.append((uid, model[uid], target))
                model[uid] = target
            if fault == "server_error":
                assert answer is not None and answer.status_code == 500
            elif fault == "rate_limit":
                assert answer is not None and answer.status_code == 429
            elif fault in (None, "slow"):
                assert answer is not None
                assert answer.status_code == (200 if allowed else 409)
                assert answer.json()["status" if allowed else "error"]
            elif fault == "malformed":
                assert answer is not None
                with pytest.raises(ValueError):
                    answer.json()
    assert [(t["uid"], t["from"], t["to"]) for t in state.transitions()] == expected
    for uid in uids:
        assert state.get(uid)["status"] == model[uid]  # type: ignore[index]


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 2),
            st.sampled_from(["processing", "shipped", "cancelled"]),
            st.sampled_from([None, *FAULT_KINDS]),
        ),
        max_size=15,
    )
)
def test_each_fault_applies_the_move_exactly_when_it_says(ops: list[FaultOp]) -> None:
    """drop_after / slow / malformed lose only the answer; the others never apply."""
    asyncio.run(_faulted(ops))
