"""Each source's stand-in as the source-generic sync tests see it, so that the exactly-once
property test, the SIGKILL-mid-push tests and the lease test run for every source.

A source takes part by one entry in :data:`HARNESSES` (a :class:`Harness`); the tests take
the ``remote`` fixture (:func:`remote_kind`, parametrized over its keys) and speak only
:class:`RemoteUnderTest`. Ids are the source's own (``remote_id``): a test maps them to the
local ones through the orders table.

Shopify is not here: its own property and SIGKILL tests (``test_shopify_property.py``,
``test_shopify_kill.py``) also drive the merchant's cancellation requests and holds, which
this protocol does not know.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import pytest

from rxfloor.core.lifecycle import Status
from rxfloor.core.service import OrderService
from rxfloor.core.sources.base import OrderSource
from rxfloor.core.sources.konnektive import mapping as konnektive_mapping
from rxfloor.core.sources.photon.source import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    PhotonWebhooks,
)
from rxfloor.core.sources.rxscale.mapping import BOARD_STATUS
from rxfloor.core.sources.rxscale.source import RxScaleSource
from rxfloor.core.sync.webhooks import WebhookReceiver
from rxfloor.sandbox.photon import HOOK_PATH, sign
from rxfloor.sandbox.photon.state import envelope
from tests.konnektive_fixtures import KonnektiveServer, serve_konnektive
from tests.photon_fixtures import PhotonServer, serve_photon
from tests.remote_fixtures import SandboxServer, serve_sandbox

RemoteChange = Literal["cancel", "complete"]


@dataclass(frozen=True, slots=True)
class Applied:
    """One change the stand-in applied to an order, in its own log."""

    uid: str  # the source's id of the order
    to: str  # the remote status it went to (what :meth:`RemoteUnderTest.target` names)
    by_us: bool  # sent by rxfloor (else: the remote side changed it by itself)


class RemoteUnderTest(Protocol):
    """One stand-in (on loopback, or in-process: then :meth:`env` names a URL that reaches
    nothing outside the test's process), with its logs and its remote side."""

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

    def target(self, action: str) -> str | None:
        """The remote status a push of ``action`` (start / finish / cancel / handoff) lands in (what
        :attr:`Applied.to` names); None: the move never reaches this remote (a Konnektive
        start stays local)."""

    def remote_change(self, uid: str, what: RemoteChange) -> bool:
        """The remote side cancels the order, or makes its other change of its own when it
        may ("complete": RxScale completes a shipped order, Photon's patient reroutes it,
        Konnektive's carrier confirms a shipment); False: not now."""

    def arrive(self, service: OrderService) -> None:
        """What the remote tells without being asked reaches the floor now (Photon's signed
        event deliveries, through a real webhook receiver); nothing for a source the
        worker's pull lists."""

    def board_status(self, uid: str) -> Status | None:
        """The board column of the order as the stand-in has it now."""

    def as_remote_tells(self, local: Status, *, waiting: bool = False) -> Status:
        """The column this remote can tell of an order in column ``local`` here (Konnektive
        has no "in progress": a started order is still open there). ``waiting``: a pickup
        order finished here and not yet picked up (Photon has no "ready": it is still
        filling there until the hand-off)."""


class Harness(Protocol):
    def serve(
        self, orders: int, *, in_process: bool = False
    ) -> AbstractContextManager[RemoteUnderTest]:
        """A fresh stand-in with ``orders`` orders waiting for the pharmacy (``in_process``:
        no server, see :mod:`tests.remote_fixtures`)."""


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
        return RxScaleSource(self.server.client(rate_limit_per_s=None, timeout_s=timeout_s))

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

    def target(self, action: str) -> str | None:
        # v1 (the stand-in's default): the service completes a hand-off by itself, nothing sent
        return {"start": "processing", "finish": "shipped", "cancel": "cancelled",
                "handoff": None}[action]  # fmt: skip

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

    def arrive(self, service: OrderService) -> None:
        return None  # listed by the pull

    def as_remote_tells(self, local: Status, *, waiting: bool = False) -> Status:
        return local


class RxScaleHarness:
    @contextmanager
    def serve(self, orders: int, *, in_process: bool = False) -> Iterator[RemoteUnderTest]:
        with serve_sandbox(seed=orders, in_process=in_process) as server:
            yield RxScaleRemote(server)


# -- Photon -----------------------------------------------------------------------------------


class PhotonRemote:
    """Photon lists nothing: its orders and its own changes reach the floor as the stand-in's
    signed CloudEvents, handed to a real :class:`WebhookReceiver` when :meth:`arrive` is
    called (the stand-in's own envelope and signature; synchronous, so a test decides when
    deliveries land instead of racing them)."""

    source_name = "photon"

    def __init__(self, server: PhotonServer, config_dir: Path) -> None:
        self.server = server
        self.config_dir = config_dir
        self.secret = server.config.webhook_secret.get_secret_value()
        self._delivered = 0  # events of the stand-in handed to the receiver so far
        self._reader = server.source(timeout_s=10.0)

    def env(self, *, pushes_per_s: float | None = None) -> dict[str, str]:
        config = self.config_dir / "photon.toml"
        lines = ["[sources.photon]", f'api_url = "{self.server.base_url}"',
                 f'pharmacy_id = "{self.server.pharmacy_id}"']  # fmt: skip
        if pushes_per_s is not None:
            lines.append(f"rate_limit_per_s = {pushes_per_s}")
        config.write_text("\n".join(lines) + "\n")
        return {"RXFLOOR_CONFIG": str(config), "RXFLOOR_PHOTON_API_TOKEN": self.server.token}

    def open_source(self, *, timeout_s: float = 10.0) -> OrderSource:
        return self.server.source(timeout_s=timeout_s)

    def set_faults(self, *, fail_rate: float, fault_seed: int = 0, slow_s: float = 15.0) -> None:
        self.server.set_faults(fail_rate=fail_rate, fault_seed=fault_seed, slow_s=slow_s)

    def fault_next_pushes(self) -> None:
        self.server.set_faults(next=["drop_after", "malformed"], paths=[HOOK_PATH])

    def clear_faults(self) -> None:
        self.server.set_faults(fail_rate=0.0, next=[], paths=None)

    def applied(self) -> list[Applied]:
        # an order's creation and placing at this pharmacy are its arrival, not a change
        return [Applied(t["order_id"], t["what"], t["by"] == "pharmacy")
                for t in self.server.transitions()
                if t["what"] not in ("created", "placed")]  # fmt: skip

    def refused_repeats(self) -> list[str]:
        return [r["report"]["order_id"] for r in self.server.requests()
                if r["path"] == HOOK_PATH and r["status_code"] == 409 and r["report"]]  # fmt: skip

    def target(self, action: str) -> str | None:
        # the stand-in's orders are picked up: the finish (ready) reports nothing, Photon's
        # ``completed`` is the hand-off's (mapping.HAND_OFF)
        return {"start": "in_progress", "finish": None, "cancel": "canceled",
                "handoff": "completed"}[action]  # fmt: skip

    def remote_change(self, uid: str, what: RemoteChange) -> bool:
        current = self.server.order(uid)
        if what == "cancel":
            if current["state"] in ("COMPLETED", "CANCELED"):
                return False
            self.server.cancel(uid)
        else:  # the patient moves a placed order to another pharmacy
            if current["state"] != "PLACED":
                return False
            self.server.reroute(uid)
        return True

    def board_status(self, uid: str) -> Status | None:
        return self._reader.get_order(uid).board_status

    def as_remote_tells(self, local: Status, *, waiting: bool = False) -> Status:
        return Status.PROCESSING if waiting else local

    def arrive(self, service: OrderService) -> None:
        """Every event since the last call, signed, through the receiver, then applied."""
        receiver = WebhookReceiver(
            service,
            self.secret.encode(),
            webhooks=PhotonWebhooks(pharmacy_id=self.server.pharmacy_id, tolerance_s=300.0),
            source=self.source_name,
        )
        events = self.server.state.events()[self._delivered :]
        for event in events:
            body = json.dumps(envelope(event, self.server.config.organization),
                              separators=(",", ":")).encode()  # fmt: skip
            headers = {SIGNATURE_HEADER: sign(self.secret, body),
                       TIMESTAMP_HEADER: str(int(time.time()))}  # fmt: skip
            code, answer = receiver.receive(body, headers)
            assert code in (200, 202), (code, answer)
        self._delivered += len(events)
        while receiver._apply_pending():  # what the receiver's worker thread does
            pass

    def close(self) -> None:
        self._reader.close()


class PhotonHarness:
    @contextmanager
    def serve(self, orders: int, *, in_process: bool = False) -> Iterator[RemoteUnderTest]:
        with (
            serve_photon(seed=orders, in_process=in_process) as server,
            tempfile.TemporaryDirectory() as tmp,
        ):
            remote = PhotonRemote(server, Path(tmp))
            try:
                yield remote
            finally:
                remote.close()


# -- Konnektive -------------------------------------------------------------------------------

#: the Update Fulfillment calls that can land (a fault before the handler applies nothing)
_KONNEKTIVE_REACHED = (None, "drop_after", "slow", "malformed")


class KonnektiveRemote:
    source_name = "konnektive"

    def __init__(self, server: KonnektiveServer, config_dir: Path) -> None:
        self.server = server
        self.config_dir = config_dir

    def env(self, *, pushes_per_s: float | None = None) -> dict[str, str]:
        config = self.config_dir / "konnektive.toml"
        # each push is two calls (the update, then its read-back)
        rate = 2 * pushes_per_s if pushes_per_s is not None else 1000
        config.write_text(f'[sources.konnektive]\napi_url = "{self.server.base_url}"\n'
                          f"rate_limit_per_s = {rate}\n")  # fmt: skip
        return {"RXFLOOR_CONFIG": str(config),
                "RXFLOOR_KONNEKTIVE_LOGIN_ID": self.server.login_id,
                "RXFLOOR_KONNEKTIVE_PASSWORD": self.server.password}  # fmt: skip

    def open_source(self, *, timeout_s: float = 10.0) -> OrderSource:
        return self.server.source(timeout_s=timeout_s)

    def set_faults(self, *, fail_rate: float, fault_seed: int = 0, slow_s: float = 15.0) -> None:
        self.server.set_faults(fail_rate=fail_rate, fault_seed=fault_seed, slow_s=slow_s)

    def fault_next_pushes(self) -> None:
        self.server.set_faults(next=["drop_after", "malformed"], endpoints=["fulfillment/update"])

    def clear_faults(self) -> None:
        self.server.set_faults(fail_rate=0.0, next=[], endpoints=None)

    def applied(self) -> list[Applied]:
        # a shipment with a tracking number waits for the carrier: still the SHIPPED we sent
        return [Applied(t["order_id"], "SHIPPED" if t["to"] == konnektive_mapping.PENDING_SHIPMENT
                        else t["to"], t["by"] == "api")
                for t in self.server.transitions()]  # fmt: skip

    def refused_repeats(self) -> list[str]:
        """Konnektive refuses with HTTP 200 and an ERROR: an update that reached the handler
        with the right login (no fault before it) and moved nothing."""
        landed = {t["request_seq"] for t in self.server.transitions() if t["by"] == "api"}
        return [r["params"].get("orderId", "") for r in self.server.requests()
                if r["endpoint"] == "fulfillment/update" and r["login_ok"]
                and r["fault"] in _KONNEKTIVE_REACHED and r["seq"] not in landed]  # fmt: skip

    def target(self, action: str) -> str | None:
        return {"start": None, "finish": "SHIPPED", "cancel": "CANCELLED", "handoff": None}[
            action
        ]  # fmt: skip  (ships only: a hand-off stays local)

    def remote_change(self, uid: str, what: RemoteChange) -> bool:
        status = self.server.fulfillment(uid)["fulfillmentStatus"]
        if what == "cancel":
            if status == konnektive_mapping.CANCELLED:
                return False
            self.server.merchant(uid, "CANCELLED")
        else:  # the carrier confirms what the pharmacy shipped
            if status not in (konnektive_mapping.PENDING_SHIPMENT, konnektive_mapping.SHIPPED):
                return False
            self.server.carrier(uid, "DELIVERED")
        return True

    def board_status(self, uid: str) -> Status | None:
        return konnektive_mapping.BOARD_STATUS.get(
            self.server.fulfillment(uid)["fulfillmentStatus"]
        )

    def as_remote_tells(self, local: Status, *, waiting: bool = False) -> Status:
        return Status.OPEN if local is Status.PROCESSING else local

    def arrive(self, service: OrderService) -> None:
        return None  # listed by the pull


class KonnektiveHarness:
    @contextmanager
    def serve(self, orders: int, *, in_process: bool = False) -> Iterator[RemoteUnderTest]:
        with (
            serve_konnektive(seed=orders, in_process=in_process) as server,
            tempfile.TemporaryDirectory() as tmp,
        ):
            yield KonnektiveRemote(server, Path(tmp))


#: Every source the generic sync tests run for (a new source: one entry here).
HARNESSES: dict[str, Harness] = {
    "rxscale": RxScaleHarness(),
    "photon": PhotonHarness(),
    "konnektive": KonnektiveHarness(),
}


@pytest.fixture(params=sorted(HARNESSES))
def remote_kind(request: pytest.FixtureRequest) -> Harness:
    """The stand-in of each source in turn (bind it in a test module: ``remote_kind =
    source_harness.remote_kind``)."""
    return HARNESSES[str(request.param)]
