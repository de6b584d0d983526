"""The lifecycle as pure functions: every move, every refusal, and random sequences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rxfloor.core.lifecycle import (
    Action,
    OrderFacts,
    Status,
    TransitionError,
    already_there,
    apply,
    is_past,
    is_scheduled,
    legal_actions,
    resolve,
    target,
)

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "action", "expected"),
    [
        (Status.OPEN, Action.START, Status.PROCESSING),
        (Status.OPEN, Action.ADVANCE, Status.PROCESSING),
        (Status.PROCESSING, Action.FINISH, Status.FINISHED),
        (Status.PROCESSING, Action.ADVANCE, Status.FINISHED),
        (Status.OPEN, Action.CANCEL, Status.CANCELLED),
        (Status.PROCESSING, Action.CANCEL, Status.CANCELLED),
    ],
)
def test_allowed_moves(status: Status, action: Action, expected: Status) -> None:
    assert apply(OrderFacts(status), action, NOW, reason="r").facts.status is expected


@pytest.mark.parametrize(
    ("facts", "action", "reason", "message"),
    [
        (OrderFacts(Status.OPEN), Action.FINISH, None, "cannot finish: the order is OPEN"),
        (OrderFacts(Status.PROCESSING), Action.START, None, "cannot start"),
        (OrderFacts(Status.FINISHED), Action.CANCEL, "x", "already FINISHED"),
        (OrderFacts(Status.CANCELLED), Action.ADVANCE, None, "nothing to advance"),
        (OrderFacts(Status.FINISHED), Action.HOLD, "x", "already FINISHED"),
        (OrderFacts(Status.OPEN), Action.CANCEL, None, "cancel needs a reason"),
        (OrderFacts(Status.OPEN), Action.CANCEL, "   ", "cancel needs a reason"),
        (OrderFacts(Status.OPEN), Action.HOLD, "", "hold needs a reason"),
        (OrderFacts(Status.OPEN, on_hold=True), Action.START, None, "on hold"),
        (OrderFacts(Status.OPEN, on_hold=True), Action.HOLD, "x", "already on hold"),
        (OrderFacts(Status.OPEN), Action.RELEASE, None, "not on hold"),
        (
            OrderFacts(Status.OPEN, fulfill_at=NOW + timedelta(hours=2)),
            Action.START,
            None,
            "scheduled for 2026-11-23 12:00 UTC",
        ),
    ],
)
def test_refusals_say_why(
    facts: OrderFacts, action: Action, reason: str | None, message: str
) -> None:
    with pytest.raises(TransitionError, match=message):
        apply(facts, action, NOW, reason=reason)


def test_scheduled_order_can_start_once_due() -> None:
    facts = OrderFacts(Status.OPEN, fulfill_at=NOW - timedelta(seconds=1))
    assert apply(facts, Action.START, NOW).facts.status is Status.PROCESSING


def test_on_hold_order_can_still_be_cancelled_and_released() -> None:
    held = OrderFacts(Status.OPEN, on_hold=True)
    assert legal_actions(held, NOW) == {Action.CANCEL, Action.RELEASE}


def test_legal_actions_for_each_status() -> None:
    assert legal_actions(OrderFacts(Status.OPEN), NOW) == {
        Action.START, Action.ADVANCE, Action.CANCEL, Action.HOLD
    }  # fmt: skip
    assert legal_actions(OrderFacts(Status.PROCESSING), NOW) == {
        Action.FINISH, Action.ADVANCE, Action.CANCEL, Action.HOLD
    }  # fmt: skip
    assert legal_actions(OrderFacts(Status.FINISHED), NOW) == frozenset()
    assert legal_actions(OrderFacts(Status.CANCELLED), NOW) == frozenset()


@pytest.mark.parametrize(
    ("status", "action", "expected"),
    [
        (Status.OPEN, Action.ADVANCE, Action.START),
        (Status.PROCESSING, Action.ADVANCE, Action.FINISH),
        (Status.OPEN, Action.CANCEL, Action.CANCEL),  # only ADVANCE is resolved
        (Status.FINISHED, Action.HOLD, Action.HOLD),
    ],
)
def test_resolve_turns_advance_into_the_next_step(
    status: Status, action: Action, expected: Action
) -> None:
    assert resolve(status, action) is expected


@pytest.mark.parametrize("status", [Status.FINISHED, Status.CANCELLED])
def test_nothing_to_advance_once_closed(status: Status) -> None:
    with pytest.raises(TransitionError, match=f"nothing to advance: the order is {status}"):
        resolve(status, Action.ADVANCE)


def test_target_is_where_a_status_move_aims() -> None:
    assert target(Action.START) is Status.PROCESSING
    assert target(Action.FINISH) is Status.FINISHED
    assert target(Action.CANCEL) is Status.CANCELLED
    assert {target(a) for a in (Action.ADVANCE, Action.HOLD, Action.RELEASE)} == {None}


def test_is_past_follows_the_forward_path_only() -> None:
    assert is_past(Status.PROCESSING, Status.OPEN)
    assert is_past(Status.FINISHED, Status.OPEN) and is_past(Status.FINISHED, Status.PROCESSING)
    assert not is_past(Status.OPEN, Status.PROCESSING)
    assert not is_past(Status.OPEN, Status.OPEN)
    # CANCELLED is off the path: neither before nor after anything
    assert not any(is_past(Status.CANCELLED, s) or is_past(s, Status.CANCELLED) for s in Status)


@pytest.mark.parametrize(
    ("status", "action", "expected"),
    [
        (Status.PROCESSING, Action.START, True),  # a second terminal started it first
        (Status.FINISHED, Action.START, True),  # beyond the aim
        (Status.PROCESSING, Action.FINISH, False),  # the move itself, not "already"
        (Status.OPEN, Action.FINISH, False),  # not allowed, and not there either
        (Status.CANCELLED, Action.FINISH, True),  # closed: "already CANCELLED"
        (Status.FINISHED, Action.CANCEL, True),
        (Status.PROCESSING, Action.ADVANCE, False),  # resolved to FINISH first
        (Status.FINISHED, Action.ADVANCE, False),  # nothing to resolve it to
        (Status.FINISHED, Action.HOLD, False),  # hold aims for no status
    ],
)
def test_already_there(status: Status, action: Action, expected: bool) -> None:
    assert already_there(status, action) is expected


def test_is_scheduled_until_fulfill_at() -> None:
    assert is_scheduled(NOW + timedelta(seconds=1), NOW)
    assert not is_scheduled(NOW, NOW)  # due now: startable
    assert not is_scheduled(NOW - timedelta(hours=1), NOW)
    assert not is_scheduled(None, NOW)


facts_strategy = st.builds(
    OrderFacts,
    status=st.sampled_from(Status),
    on_hold=st.booleans(),
    fulfill_at=st.none() | st.just(NOW + timedelta(hours=1)) | st.just(NOW - timedelta(hours=1)),
)
steps = st.lists(
    st.tuples(st.sampled_from(Action), st.sampled_from([None, "", "a reason"])), max_size=30
)
RANK = {Status.OPEN: 0, Status.PROCESSING: 1, Status.FINISHED: 2, Status.CANCELLED: 2}


@settings(max_examples=400)
@given(facts_strategy, steps)
def test_random_sequences_obey_the_rules(
    start: OrderFacts, sequence: list[tuple[Action, str | None]]
) -> None:
    facts = start
    for action, reason in sequence:
        legal = legal_actions(facts, NOW)
        try:
            outcome = apply(facts, action, NOW, reason=reason)
        except TransitionError:
            # refused: either not legal at all, or legal but the reason was missing
            assert action not in legal or not (reason and reason.strip())
            continue
        assert action in legal
        new = outcome.facts
        assert not facts.status.is_terminal  # nothing leaves FINISHED or CANCELLED
        assert RANK[new.status] - RANK[facts.status] <= 1 or new.status is Status.CANCELLED
        if new.status is Status.PROCESSING and facts.status is Status.OPEN:
            assert not facts.on_hold and not (facts.fulfill_at and facts.fulfill_at > NOW)
        if new.status is Status.CANCELLED and facts.status is not Status.CANCELLED:
            assert reason and reason.strip()
        facts = new
