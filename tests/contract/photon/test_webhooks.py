"""Photon's webhook deliveries as Photon documents them, through the floor's receiver.

Pages (facts taken, not text):

* ``WEBHOOKS`` — github.com/Photon-Health/docs ``network/webhooks.mdx``: one POST per event,
  a CloudEvents 1.0 body; headers ``Content-Type: application/cloudevents-batch+json`` ("the
  body is still a single event"), ``X-Photon-Signature`` (hex HMAC-SHA256 of the raw body),
  ``X-Photon-Timestamp`` (when the request was sent, Unix **milliseconds**); 2xx done; 5xx,
  408, 429, a timeout or no connection: retried; any other 4xx: dropped, never sent again;
  "return 2xx for events you don't use, too"; duplicates and any order happen.
* ``EVENTS`` — github.com/Photon-Health/docs ``network/webhooks/events.mdx``: the event
  types and their ``data``; ``photon:order:placed`` carries ``data.pharmacy {id, name,
  phone, address}`` and "if it's rerouted, you get this event again for the new pharmacy".
* ``OLDER`` — the older webhook page (docs.photon.health, "Signature Verification") gave
  ``X-Photon-Timestamp`` in seconds; both readings are taken, by magnitude.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from rxfloor.core.service import OrderNotFound, OrderService
from rxfloor.core.sources.photon.source import PhotonWebhooks, sent_at
from rxfloor.core.sync.webhooks import WebhookReceiver
from tests.helpers import inbox_settled, wait_for
from tests.remote_fixtures import serve_asgi

SECRET = "photon-contract-secret"
HERE = "phr_01J6APWHGNFJCE74SB031VYABC"  # this pharmacy (EVENTS' sample id)
ELSEWHERE = "phr_01GA9HPW4SJGXGZSYA8FNCPM8C"
#: WEBHOOKS: the header Photon sends with every delivery
CONTENT_TYPE = "application/cloudevents-batch+json"


def _sign(body: bytes) -> str:
    import hashlib
    import hmac

    return hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def envelope(kind: str, data: dict[str, Any], *, event_id: str = "01G6V8S5TYR056ET83M7Y8MKRK",
             at: float | None = None) -> bytes:  # fmt: skip
    """A CloudEvents 1.0 envelope as in WEBHOOKS' sample (``time`` ISO 8601 with ms, Z)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(at or time.time()))
    event = {
        "id": event_id,
        "type": kind,
        "specversion": "1.0",
        "datacontenttype": "application/json",
        "time": stamp,
        "subject": data.get("id"),
        "source": "org:org_KzSVZBQixLRkqj5d",
        "data": data,
    }
    return json.dumps(event).encode()


def headers(
    body: bytes, *, stamp: str | None = None, signature: str | None = None
) -> dict[str, str]:
    """WEBHOOKS' headers: the time of sending in Unix milliseconds (13 digits)."""
    return {
        "Content-Type": CONTENT_TYPE,
        "X-Photon-Signature": signature if signature is not None else _sign(body),
        "X-Photon-Timestamp": stamp if stamp is not None else str(int(time.time() * 1000)),
    }


PATIENT = {"id": "pat_01M3WQQHRB1T0K1469KD18BAWX", "externalId": "1234"}


def placed(order: str, pharmacy: str, name: str = "Example Pharmacy") -> dict[str, Any]:
    """EVENTS: ``photon:order:placed``'s data (the pharmacy with its phone and address)."""
    return {
        "id": order,
        "externalId": "1234",
        "patient": PATIENT,
        "pharmacy": {
            "id": pharmacy,
            "name": name,
            "phone": "+15025550123",
            "address": {"street1": "4343 Test Street", "street2": None, "city": "Georgetown",
                        "state": "KY", "postalCode": "40004"},
        },
    }  # fmt: skip


@pytest.fixture
def receiver(service: OrderService) -> Iterator[WebhookReceiver]:
    webhooks = PhotonWebhooks(pharmacy_id=HERE, tolerance_s=300.0)
    receiver = WebhookReceiver(service, SECRET.encode(), webhooks=webhooks, source="photon")
    yield receiver
    receiver.stop()


def test_a_millisecond_timestamp_is_taken_as_milliseconds(receiver: WebhookReceiver) -> None:
    """WEBHOOKS: Unix milliseconds; OLDER: seconds. Both readings, by magnitude."""
    now = time.time()
    assert sent_at({"X-Photon-Timestamp": str(int(now * 1000))}) == pytest.approx(now, abs=1)
    assert sent_at({"X-Photon-Timestamp": str(int(now))}) == pytest.approx(now, abs=1)
    body = envelope("photon:order:placed", placed("ord_01M3WT5GK51DBRH7ZKBKBV9QWK", HERE))
    code, answer = receiver.receive(body, headers(body))
    assert (code, answer) == (202, {"status": "accepted"})
    seconds = envelope("photon:order:placed", placed("ord_seconds", HERE), event_id="01SEC")
    assert receiver.receive(seconds, headers(seconds, stamp=str(int(now))))[0] == 202


@pytest.mark.parametrize(
    ("stamp", "words"),
    [
        (str(int((time.time() - 3600) * 1000)), "stale"),  # an hour old, in milliseconds
        (str(int(time.time() - 3600)), "stale"),  # an hour old, in seconds
        (str(int((time.time() + 3600) * 1000)), "stale"),  # from the future
        ("soon", "bad timestamp"),
        ("", "bad timestamp"),
    ],
    # ids that do not hold the clock: every xdist worker must collect the same names
    ids=["hour-old-ms", "hour-old-s", "future-ms", "soon", "empty"],
)
def test_a_stale_or_bad_stamp_is_named_and_retryable(
    receiver: WebhookReceiver, stamp: str, words: str
) -> None:
    """Named for what it is (never "invalid signature"), and not a 4xx: WEBHOOKS says any
    4xx but 408 / 429 drops the event for good, and a clock that is off is ours to fix."""
    body = envelope("photon:order:placed", placed("ord_stale", HERE))
    code, answer = receiver.receive(body, headers(body, stamp=stamp))
    assert code == 503 and answer["error"].startswith(words), answer
    assert "signature" not in answer["error"]


def test_only_a_forged_signature_is_refused_4xx(receiver: WebhookReceiver) -> None:
    body = envelope("photon:order:placed", placed("ord_forged", HERE))
    assert receiver.receive(body, headers(body, signature="00" * 32))[0] == 401
    garbled = b'{"id": "01X", "type": "photon:order:placed", "data": '  # signed, unreadable
    code, _ = receiver.receive(garbled, headers(garbled))
    assert code >= 500  # our parser's refusal: Photon retries it, never drops it
    no_id = envelope("photon:order:placed", {"externalId": "1234"})  # data.id missing
    assert receiver.receive(no_id, headers(no_id))[0] >= 500


def test_events_the_floor_does_not_use_are_acknowledged(receiver: WebhookReceiver) -> None:
    """WEBHOOKS: "Return 2xx for events you don't use, too" (EVENTS: prescription events)."""
    for kind in ("photon:prescription:created", "photon:prescription:depleted",
                 "photon:prescription:active", "photon:prescription:canceled"):  # fmt: skip
        body = envelope(kind, {"id": "rx_01M3WT4NERS2YVQRF6YTWR4A6C", "patient": PATIENT},
                        event_id=f"01{kind[-6:]}")  # fmt: skip
        code, answer = receiver.receive(body, headers(body))
        assert (code, answer["status"]) == (200, "ignored"), kind
    assert receiver.stats.ignored == 4 and receiver.stats.accepted == 0


def test_a_batch_of_one_is_one_event(receiver: WebhookReceiver) -> None:
    """The content type names a batch; WEBHOOKS says the body is a single event. A JSON
    array of one (the batch format's shape) is taken too (tolerated, see
    docs/pages/sources/photon.md)."""
    single = json.loads(envelope("photon:order:placed", placed("ord_batch", HERE)))
    body = json.dumps([single]).encode()
    assert receiver.receive(body, headers(body))[0] == 202


def test_an_order_placed_at_another_pharmacy_never_reaches_the_floor(
    receiver: WebhookReceiver, service: OrderService
) -> None:
    """EVENTS: ``placed`` carries ``data.pharmacy``; an organisation's subscription sees
    every pharmacy's orders, and a reroute sends ``placed`` again for the new pharmacy."""
    receiver.start()
    ours, theirs, moved = "ord_01OURS", "ord_01THEIRS", "ord_01MOVED"
    for i, (uid, where) in enumerate(((ours, HERE), (theirs, ELSEWHERE), (moved, HERE))):
        body = envelope("photon:order:placed", placed(uid, where), event_id=f"01P{i}",
                        at=time.time() - 60)  # fmt: skip
        assert receiver.receive(body, headers(body))[0] == 202
    wait_for(lambda: inbox_settled(service.store))
    assert service.get(f"photon:{ours}").remote_status == "placed"
    with pytest.raises(OrderNotFound):
        service.get(f"photon:{theirs}")
    # rerouted: Photon sends placed again, for the new pharmacy (and rerouted, maybe later)
    again = envelope("photon:order:placed", placed(moved, ELSEWHERE, "Elsewhere Drugs"),
                     event_id="01P3")  # fmt: skip
    assert receiver.receive(again, headers(again))[0] == 202
    wait_for(lambda: inbox_settled(service.store))
    gone = service.get(f"photon:{moved}")
    assert (gone.status.value, gone.remote_status) == ("CANCELLED", "rerouted")


def test_over_http_a_stale_stamp_asks_for_a_retry(service: OrderService) -> None:
    webhooks = PhotonWebhooks(pharmacy_id=HERE, tolerance_s=300.0)
    receiver = WebhookReceiver(service, SECRET.encode(), webhooks=webhooks, source="photon")
    body = envelope("photon:order:placed", placed("ord_http", HERE))
    with serve_asgi(receiver.asgi_app()) as url:
        old = str(int((time.time() - 3600) * 1000))
        answer = httpx.post(url + "/webhooks/photon", content=body,
                            headers=headers(body, stamp=old), timeout=5)  # fmt: skip
        assert answer.status_code == 503 and "Retry-After" in answer.headers
        assert answer.json()["error"].startswith("stale")
        fresh = httpx.post(url + "/webhooks/photon", content=body, headers=headers(body),
                           timeout=5)  # fmt: skip
        assert fresh.status_code == 202
