"""A move is a few round trips to the database, not ten (issue 26 §4).

Counted with SQLAlchemy's events on the store's engine: every statement the driver
executes (``before_cursor_execute``), and on PostgreSQL a BEGIN and a COMMIT/ROLLBACK for
every transaction the driver opens (a connection in autocommit opens none: each statement
is its own transaction). On SQLite the round trips are function calls in the process,
counted the same way (the BEGIN IMMEDIATE is a statement there, the COMMIT counted once).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, event, text

from rxfloor.core.db import Store
from rxfloor.core.lifecycle import Action, Status
from rxfloor.core.sample import sample_orders
from rxfloor.core.service import Actor, OrderService
from tests.board_fixtures import FROZEN, frozen

#: the issue's target for a move on PostgreSQL (it was 9-10 plus a pg_notify)
PG_MOVE = 4
#: SQLite's are calls inside the process; still bounded so that it cannot grow back
SQLITE_MOVE = 7


class RoundTrips:
    """Counts what a store's engine sends while ``counting`` is True."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.count = 0
        self.statements: list[str] = []
        self.counting = False
        engine = store.engine
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "commit", self._end)
        event.listen(engine, "rollback", self._end)
        event.listen(engine.pool, "checkout", self._checkout)

    def _statement(self, _conn: Connection, _cur: Any, sql: str, *_args: Any) -> None:
        if self.counting:
            self.count += 1
            self.statements.append(" ".join(sql.split())[:80])

    def _checkout(self, *_args: Any) -> None:
        if self.counting and self.store.engine.pool._pre_ping:
            self.count += 1  # the pool's ping: a round trip on every checkout
            self.statements.append("(ping)")

    def _begin(self, conn: Connection) -> None:
        # SQLite: the BEGIN [IMMEDIATE] is a statement, counted there
        if self.counting and not self.store.is_sqlite and not _dbapi(conn).autocommit:
            self.count += 1  # psycopg sends BEGIN before the first statement
            self.statements.append("BEGIN")

    def _end(self, conn: Connection) -> None:
        dbapi = _dbapi(conn)
        open_ = dbapi.in_transaction if self.store.is_sqlite else dbapi.info.transaction_status
        if self.counting and open_:  # a COMMIT / ROLLBACK the driver really sends
            self.count += 1
            self.statements.append("COMMIT/ROLLBACK")

    def measure(self, step: Any) -> int:
        self.count, self.statements, self.counting = 0, [], True
        try:
            step()
        finally:
            self.counting = False
        return self.count


def _dbapi(conn: Connection) -> Any:
    return conn.connection.dbapi_connection


@pytest.fixture
def floor(db_url: str) -> Iterator[tuple[OrderService, RoundTrips]]:
    store = Store.open(db_url)
    service = OrderService(store, Actor("AB", "rt-1"), clock=frozen)
    # real orders (not samples): their moves queue an outbox row, as on a floor
    service.add_orders(o.model_copy(update={"sample": False}) for o in sample_orders(20, 0, FROZEN))
    counter = RoundTrips(store)
    yield service, counter
    store.close()


def bound(service: OrderService) -> int:
    return SQLITE_MOVE if service.store.is_sqlite else PG_MOVE


@pytest.mark.parametrize(
    ("ref", "steps"),
    [
        ("#1001", [(Action.START, None), (Action.FINISH, None)]),
        ("#1002", [(Action.ADVANCE, None), (Action.CANCEL, "Duplicate order")]),
        ("#1003", [(Action.HOLD, "Waiting on stock"), (Action.RELEASE, None)]),
    ],
)
def test_a_move_is_at_most_four_round_trips(
    floor: tuple[OrderService, RoundTrips], ref: str, steps: list[tuple[Action, str | None]]
) -> None:
    service, counter = floor
    for action, reason in steps:
        n = counter.measure(lambda a=action, r=reason: service.act(ref, a, reason=r))
        assert n <= bound(service), (action, counter.statements)


def test_the_light_move_still_says_what_it_did_and_queues_it(
    floor: tuple[OrderService, RoundTrips],
) -> None:
    service, _ = floor
    result = service.act("#1004", Action.START)
    assert result.order.status is Status.PROCESSING and result.order.version == 2
    assert result.from_status is Status.OPEN and result.to_status is Status.PROCESSING
    history = service.store.history(result.order.id)
    assert history[-1]["id"] == result.event_id and history[-1]["action"] == "start"
    assert service.store.changes_since(service.store.change_cursor())[1] == set()
    with service.store.read() as conn:
        queued = conn.execute(text("SELECT action, state FROM outbox WHERE order_id = :o"),
                              {"o": result.order.id}).all()  # fmt: skip
    assert [tuple(r) for r in queued] == [("start", "pending")]


def test_a_conflict_costs_more_but_says_so(floor: tuple[OrderService, RoundTrips]) -> None:
    from rxfloor.core.service import Conflict

    service, _ = floor
    service.act("#1005", Action.START)
    with pytest.raises(Conflict):
        service.act("#1005", Action.FINISH, expected_version=1)
