"""Property: the stand-in accepts exactly the moves REMOTE_API.md draws, logs each once.

The edges below are copied from the documentation's diagrams, independently of the
stand-in's own tables, so a slip in either shows up here.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rxfloor.core.sandbox import SandboxConfig, SandboxState
from rxfloor.core.sandbox.state import Refusal

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
    ("on-hold", "cancelled"),
}
V1 = ["created", "open", "processing", "shipped", "completed", "cancelled"]
V2 = ["init", "waiting for pharmacy", "pending review", "on-hold", "in-progress",
      "ready_for_pickup", "completed", "cancelled"]  # fmt: skip
COMPLETE = "<complete_order>"


def _run(dialect: str, ops: list[tuple[int, str, bool]]) -> None:
    state = SandboxState(SandboxConfig(seed=3, dialect=dialect))
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
