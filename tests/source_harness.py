"""Each source's stand-in as the source-generic sync tests see it, so that the exactly-once
property test, the SIGKILL-mid-push tests and the lease test run for every source.

A source takes part by one entry in :data:`HARNESSES` (a :class:`Harness`); the tests take
the ``remote`` fixture (:func:`remote_kind`, parametrized over its keys) and speak only
:class:`RemoteUnderTest`. Ids are the source's own (``remote_id``): a test maps them to the
local ones through the orders table.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Literal, Protocol

import pytest
from pydantic import SecretStr

from rxfloor.core.lifecycle import Status
from rxfloor.core.sources.base import OrderSource
from rxfloor.core.sources.rxscale.client import RemoteClient
from rxfloor.core.sources.rxscale.dialects import BOARD_STATUS
from rxfloor.core.sources.rxscale.source import RxScaleSource
from tests.remote_fixtures import SandboxServer, serve_sandbox

RemoteChange = Literal["cancel", "complete"]


@dataclass(frozen=True, slots=True)
class Applied:
    """One change the stand-in applied to an order, in its own log."""

    uid: str  # the source's id of the order
    to: str  # the remote status it went to (what :meth:`RemoteUnderTest.target` names)
    by_us: bool  # sent by rxfloor (else: the remote side changed it by itself)


class RemoteUnderTest(Protocol):
    """One stand-in served on loopback, with its logs and its remote side."""

    @property
    def source_name(self) -> str: ...

    def env(self, *, pushes_per_s: float | None = None) -> dict[str, str]:
        """The ``RXFLOOR_*`` variables that point ``rxfloor sync --source NAME`` at this
        stand-in, paced to about ``pushes_per_s`` requests a second when given (so that a
        kill lands mid-push)."""

    def open_source(self, *, timeout_s: float = 10.0) -> OrderSource:
        """A new source (its own client: close it) on this stand-in, not rate limited."""

    def set_faults(self, *, fail_rate: float, fault_seed: int = 0, slow_s: float = 15.0) -> None:
        """Random faults on every request (5xx, drops before/after applying, slow, malformed)."""

    def fault_next_pushes(self) -> None:
        """The next pushes are applied but their answers lost (dropped, then malformed)."""

    def clear_faults(self) -> None: ...

    def applied(self) -> list[Applied]:
        """Every change the stand-in applied, oldest first."""

    def refused_repeats(self) -> list[str]:
        """The uids of pushes the stand-in refused as not applicable (a repeat, a stale move)."""

    def target(self, action: str) -> str:
        """The remote status a push of ``action`` (start / finish / cancel) lands in."""

    def remote_change(self, uid: str, what: RemoteChange) -> bool:
        """The remote side cancels (or completes, when it may) the order; False: not now."""

    def board_status(self, uid: str) -> Status | None:
        """The board column of the order as the stand-in has it now."""


class Harness(Protocol):
    def serve(self, orders: int) -> AbstractContextManager[RemoteUnderTest]:
        """A fresh stand-in with ``orders`` orders waiting for the pharmacy."""


# -- RxScale ----------------------------------------------------------------------------------


class RxScaleRemote:
    source_name = "rxscale"

    def __init__(self, server: SandboxServer) -> None:
        self.server = server

    def env(self, *, pushes_per_s: float | None = None) -> dict[str, str]:
        env = {"RXFLOOR_API_URL": self.server.base_url, "RXFLOOR_API_KEY": self.server.api_key}
        if pushes_per_s is not None:
            env["RXFLOOR_RATE_LIMIT_PER_S"] = str(pushes_per_s)
        return env

    def open_source(self, *, timeout_s: float = 10.0) -> OrderSource:
        client = RemoteClient(self.server.base_url, SecretStr(self.server.api_key),
                              rate_limit_per_s=None, timeout_s=timeout_s)  # fmt: skip
        return RxScaleSource(client)

    def set_faults(self, *, fail_rate: float, fault_seed: int = 0, slow_s: float = 15.0) -> None:
        self.server.set_faults(fail_rate=fail_rate, fault_seed=fault_seed, slow_s=slow_s)

    def fault_next_pushes(self) -> None:
        self.server.set_faults(next=["drop_after", "malformed"], methods=["PATCH"])

    def clear_faults(self) -> None:
        self.server.set_faults(fail_rate=0.0, next=[])

    def applied(self) -> list[Applied]:
        return [Applied(t["uid"], t["to"], t["by"] == "api") for t in self.server.transitions()]

    def refused_repeats(self) -> list[str]:
        return [
            r["path"].rstrip("/").split("/")[-2]  # …/pharmacy-orders/<uid>/status
            for r in self.server.requests()
            if r["method"] == "PATCH" and r["status_code"] == 409
        ]

    def target(self, action: str) -> str:
        return {"start": "processing", "finish": "shipped", "cancel": "cancelled"}[action]

    def remote_change(self, uid: str, what: RemoteChange) -> bool:
        current = self.server.state.get(uid)
        assert current is not None
        # as documented: the service completes only shipped orders
        allowed = ("shipped",) if what == "complete" else ("open", "processing")
        if current["status"] not in allowed:
            return False
        self.server.remote_status(uid, what)
        return True

    def board_status(self, uid: str) -> Status | None:
        current = self.server.state.get(uid)
        assert current is not None
        return BOARD_STATUS.get(current["status"])


class RxScaleHarness:
    @contextmanager
    def serve(self, orders: int) -> Iterator[RemoteUnderTest]:
        with serve_sandbox(seed=orders) as server:
            yield RxScaleRemote(server)


#: Every source the generic sync tests run for (a new source: one entry here).
HARNESSES: dict[str, Harness] = {"rxscale": RxScaleHarness()}


@pytest.fixture(params=sorted(HARNESSES))
def remote_kind(request: pytest.FixtureRequest) -> Harness:
    """The stand-in of each source in turn (bind it in a test module: ``remote_kind =
    source_harness.remote_kind``)."""
    return HARNESSES[str(request.param)]
