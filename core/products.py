"""What a scanned product barcode says, and whether it is an item of the order.

A pharmacist filling an order scans each pack; the scan must name one of the order's items
or be refused. Packs carry their identity in several ways, and an item's code in the source
may be any of them:

- a GS1 DataMatrix or GS1-128 (GTIN in AI 01, expiry AI 17, batch AI 10, serial AI 21),
  typed by a scanner with ASCII GS (0x1D) between variable-length fields, often behind a
  symbology identifier (``]d2``, ``]C1``) — interpreted by ``biip``, never by hand;
- a plain EAN-13 / UPC-A / EAN-8 / GTIN-14;
- a US NDC (10 digits in a UPC-A or GTIN with the ``03`` prefix; written as 11 digits or
  with hyphens 4-4-2 / 5-3-2 / 5-4-1 in the source);
- a German PZN (8 digits with a mod-11 check digit; in a barcode as ``-`` + PZN (Code 39) or
  inside an NTIN GTIN ``04150`` + PZN).

Every reading becomes a set of *codes* (``gtin:…``, ``ndc:…``, ``pzn:…``); a scan matches an
item when their sets meet. A 10-digit NDC without hyphens cannot say which segment lost its
leading zero, so it stands for each of its three 11-digit forms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

#: ASCII group separator: a scanner's FNC1 between GS1 fields
GS = "\x1d"
_SYMBOLOGY = re.compile(r"^\][A-Za-z][0-9A-Za-z]")
_NDC_HYPHENS = re.compile(r"^(\d{4,5})-(\d{3,4})-(\d{1,2})$")


@dataclass(frozen=True, slots=True)
class ProductScan:
    """One scanned pack."""

    raw: str
    codes: frozenset[str]
    expiry: date | None = None
    batch: str | None = None
    serial: str | None = None

    @property
    def gtin(self) -> str | None:
        return next((c[5:] for c in sorted(self.codes) if c.startswith("gtin:")), None)

    def expired(self, today: date) -> bool:
        return self.expiry is not None and self.expiry < today


def pzn_valid(digits: str) -> bool:
    """A PZN8 (weights 1..7) or the older PZN7 (weights 2..7) with its check digit."""
    if not digits.isdigit() or len(digits) not in (7, 8):
        return False
    body, check = digits[:-1], int(digits[-1])
    first = 1 if len(digits) == 8 else 2
    total = sum(int(d) * w for d, w in zip(body, range(first, first + len(body)), strict=True))
    return total % 11 == check  # a remainder of 10 is never a valid PZN


def pzn_from(number: int) -> str:
    """A valid PZN8 near ``number`` (its first seven digits, then the check digit): for sample
    data. Bodies whose remainder is 10 have no PZN, so the next body up is taken."""
    body = number % 10**7
    while True:
        digits = f"{body:07d}"
        check = sum(int(d) * w for d, w in zip(digits, range(1, 8), strict=True)) % 11
        if check < 10:
            return digits + str(check)
        body = (body + 1) % 10**7


def gtin_valid(digits: str) -> bool:
    """A GTIN-8/12/13/14 with its mod-10 check digit."""
    if not digits.isdigit() or len(digits) not in (8, 12, 13, 14):
        return False
    body = digits[:-1][::-1]
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(body))
    return (10 - total % 10) % 10 == int(digits[-1])


def _ndc11(ndc10: str) -> set[str]:
    """The three 11-digit forms a hyphenless 10-digit NDC may stand for (4-4-2, 5-3-2,
    5-4-1, each with the short segment padded)."""
    return {"0" + ndc10, ndc10[:5] + "0" + ndc10[5:], ndc10[:9] + "0" + ndc10[9:]}


def _gtin_codes(gtin: str) -> set[str]:
    """``gtin:`` in its 14-digit form, and the NDC or PZN a GTIN carries."""
    g14 = gtin.zfill(14)
    codes = {f"gtin:{g14}"}
    if g14.startswith("003"):  # a UPC-A of number system 3: the NDC
        codes |= {f"ndc:{n}" for n in _ndc11(g14[3:13])}
    if g14.startswith("04150"):  # an NTIN: the PZN
        codes.add(f"pzn:{g14[5:13]}")
    return codes


def read_product(text: str) -> ProductScan | None:
    """What a scan says of a pack; None when it is no product code at all (an order's id,
    a badge, a typo) — the caller then treats the scan as it would any other."""
    raw = text.strip().strip("\r\n")
    body = _SYMBOLOGY.sub("", raw)
    if not body:
        return None
    if body.startswith("-") and pzn_valid(body[1:]):  # Code 39 PZN
        return ProductScan(raw, frozenset({f"pzn:{body[1:].zfill(8)}"}))
    if body.isdigit() and len(body) in (8, 12, 13, 14):
        codes: set[str] = set()
        if gtin_valid(body):
            codes |= _gtin_codes(body)
        if len(body) == 8 and pzn_valid(body):
            codes.add(f"pzn:{body}")
        return ProductScan(raw, frozenset(codes)) if codes else None
    if not body[:2].isdigit():
        return None
    return _gs1(raw, body)


def _gs1(raw: str, body: str) -> ProductScan | None:
    import biip
    from biip.gs1_messages import GS1Message

    try:  # a scanner may type FNC1 as GS; some send it as a literal "<GS>"-less run
        message = GS1Message.parse(body, config=biip.ParseConfig(separator_chars=[GS]))
    except biip.ParseError:
        return None
    fields = message.element_strings
    gtin = fields.get(ai="01")
    if gtin is None or not gtin_valid(gtin.value):
        return None
    expiry, batch, serial = fields.get(ai="17"), fields.get(ai="10"), fields.get(ai="21")
    return ProductScan(
        raw,
        frozenset(_gtin_codes(gtin.value)),
        expiry=expiry.date if expiry is not None else None,
        batch=batch.value if batch is not None else None,
        serial=serial.value if serial is not None else None,
    )


def item_codes(sku: str, pzn: str | None = None, barcode: str | None = None) -> frozenset[str]:
    """Every code an order's item can be known by, from its source's ``sku`` (a GTIN, an
    NDC in any of its spellings, a PZN, or the source's own article number), its PZN and the
    pack's barcode number the source gives beside its SKU (read like a ``sku``)."""
    codes: set[str] = set(_sku_codes(barcode)) if barcode else set()
    if pzn:
        digits = pzn.upper().removeprefix("PZN").strip(" -")
        if pzn_valid(digits):
            codes.add(f"pzn:{digits.zfill(8)}")
    return frozenset(codes | _sku_codes(sku))


def _sku_codes(sku: str) -> set[str]:
    """The codes one source code stands for (a GTIN, an NDC, ``PZN…``; none for an article
    number of the source's own)."""
    codes: set[str] = set()
    text = sku.strip()
    upper = text.upper()
    if upper.startswith("PZN"):
        digits = upper.removeprefix("PZN").strip(" -:")
        if pzn_valid(digits):
            codes.add(f"pzn:{digits.zfill(8)}")
        return codes
    if upper.startswith("NDC"):
        text = upper.removeprefix("NDC").strip(" -:")
    hyphens = _NDC_HYPHENS.match(text)
    if hyphens:
        labeler, product, package = hyphens.groups()
        codes.add(f"ndc:{labeler.zfill(5)}{product.zfill(4)}{package.zfill(2)}")
        return codes
    if text.isdigit():
        if len(text) == 11:
            codes.add(f"ndc:{text}")
        elif len(text) == 10:
            codes |= {f"ndc:{n}" for n in _ndc11(text)}
        if gtin_valid(text):
            codes |= _gtin_codes(text)
        if len(text) in (7, 8) and pzn_valid(text):
            codes.add(f"pzn:{text.zfill(8)}")
    return codes


def matching_item(scan: ProductScan, items: list[tuple[str, str | None, str | None]]) -> int | None:
    """The position of the first item (``(sku, pzn, barcode)`` in order) the scan names, or
    None."""
    for position, (sku, pzn, barcode) in enumerate(items):
        if scan.codes & item_codes(sku, pzn, barcode):
            return position
    return None
