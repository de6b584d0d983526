"""Is a scanned or typed text a parcel's tracking number? The check before a finish sends it.

A scanner at the counter reads whatever barcode is under it: the order's own label too, and
that went out as the parcel's tracking number. Two checks, the dialog's and the service's:

* a text that resolves to an order (its id, its name, its source's id: the one resolver of
  ``core/db/queries.py``) is refused, always;
* a carrier's format, where one is known: UPS ``1Z`` and 16 letters or digits, USPS 20 to 22
  digits, FedEx 12 or 15 digits. A text that claims a carrier by its shape (``1Z…``) and
  breaks its format is refused; one that fits no known format is *unknown*: the board asks
  the person to confirm it once (a regional carrier's number is legitimate).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection


class Verdict(StrEnum):
    OK = "ok"  #: a known carrier's format
    UNKNOWN = "unknown"  #: no known format: confirm once
    REFUSED = "refused"  #: an order's code, or a broken known format


@dataclass(frozen=True, slots=True)
class TrackingCheck:
    verdict: Verdict
    #: the carrier the format names (``UPS``), or None
    carrier: str | None
    #: the sentence for the person (empty when OK)
    message: str = ""


_UPS = re.compile(r"1Z[0-9A-Z]{16}")
_DIGITS = re.compile(r"[0-9]+")


def check_format(number: str) -> TrackingCheck:
    """The carrier format check alone (pure)."""
    text = number.strip().upper()
    if text.startswith("1Z"):
        if _UPS.fullmatch(text):
            return TrackingCheck(Verdict.OK, "UPS")
        return TrackingCheck(
            Verdict.REFUSED,
            "UPS",
            f"{number.strip()!r} is not a UPS number (1Z and 16 letters or "
            "digits): scan the parcel's label again",
        )
    if _DIGITS.fullmatch(text):
        if len(text) in (12, 15):
            return TrackingCheck(Verdict.OK, "FedEx")
        if 20 <= len(text) <= 22:
            return TrackingCheck(Verdict.OK, "USPS")
    said = f"{number.strip()!r} fits no known carrier's format (UPS, USPS, FedEx)"
    return TrackingCheck(Verdict.UNKNOWN, None, said)


def order_code(conn: Connection, number: str) -> TrackingCheck | None:
    """The refusal of a text that names an order (an ambiguous one names orders too), or
    None. The service refuses it on every path (the CLI's ``--tracking`` too)."""
    from rxfloor.core.db.queries import AmbiguousOrder, resolve_order

    try:
        row = resolve_order(conn, number)
    except AmbiguousOrder:
        name = number.strip()  # several orders: a code of orders all the same
    else:
        if row is None:
            return None
        name = str(row["name"])
    return TrackingCheck(
        Verdict.REFUSED,
        None,
        f"{number.strip()!r} is the code of order {name}, not a "
        "tracking number: scan the parcel's label",
    )


def check(conn: Connection, number: str) -> TrackingCheck:
    """The dialog's whole check: :func:`order_code`, then :func:`check_format`."""
    return order_code(conn, number) or check_format(number)
