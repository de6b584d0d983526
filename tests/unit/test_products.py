"""Product barcodes against an order's items: GS1 DataMatrix (with a scanner's group
separators and symbology identifier), EAN-13 / UPC-A / GTIN-14, NDC in a UPC and in the
source's spellings, PZN (Code 39 and NTIN), expiry, batch, serial."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rxfloor.core.products import (
    GS,
    gtin_valid,
    item_codes,
    matching_item,
    pzn_valid,
    read_product,
)


def with_check(body: str) -> str:
    """``body`` plus its GTIN check digit."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(body[::-1]))
    return body + str((10 - total % 10) % 10)


def test_gs1_datamatrix_as_a_scanner_types_it() -> None:
    scan = read_product(f"]d2010415012345678217270331108AB{GS}21SER-1")
    assert scan is not None
    assert scan.gtin == "04150123456782"
    assert "pzn:12345678" in scan.codes  # an NTIN carries the PZN
    assert (scan.expiry, scan.batch, scan.serial) == (date(2027, 3, 31), "8AB", "SER-1")
    assert not scan.expired(date(2027, 3, 31)) and scan.expired(date(2027, 4, 1))


def test_expiry_day_00_is_the_end_of_the_month() -> None:
    scan = read_product("0104150123456782172612001012")
    assert scan is not None and scan.expiry == date(2026, 12, 31)


def test_ean13_upca_gtin14_are_one_product() -> None:
    ean = "4006381333931"
    for text in (ean, "0" + ean):
        scan = read_product(text)
        assert scan is not None and scan.codes == {f"gtin:0{ean}"}
    assert matching_item(read_product(ean), [("x-1", None, None), (ean, None, None)]) == 1  # type: ignore[arg-type]


def test_ndc_in_a_upc_matches_the_sources_spellings() -> None:
    upc = with_check("30045044910")  # number system 3 + NDC 0045-0449-10 (4-4-2)
    scan = read_product(upc)
    assert scan is not None
    for sku in ("0045-0449-10", "00045044910", "NDC 0045-0449-10", "0045044910"):
        assert scan.codes & item_codes(sku), sku
    assert not scan.codes & item_codes("0045-0449-11")


def test_pzn_code39_and_check_digit() -> None:
    assert pzn_valid("12345678") and not pzn_valid("12345679")
    scan = read_product("-12345678")
    assert scan is not None and scan.codes == {"pzn:12345678"}
    assert matching_item(scan, [("SKU-1", None, None), ("A-2", "12345678", None)]) == 1
    assert matching_item(scan, [("PZN-12345678", None, None)]) == 0
    assert read_product("-12345679") is None  # a bad check digit is no PZN


@pytest.mark.parametrize(
    "text",
    [
        "po-s0-000012",
        "#1001",
        "badge-TJ",
        "",
        "   ",
        "1Z999AA10123456784",
        "4006381333932",
        f"01040063813339{GS}10X",
    ],
)
def test_what_is_no_product(text: str) -> None:
    assert read_product(text) is None


def test_a_wrong_product_matches_nothing() -> None:
    scan = read_product("4006381333931")
    assert scan is not None
    assert matching_item(scan, [("4008500130018", None, None), ("-", "12345678", None)]) is None


@given(st.text(alphabet="0123456789", min_size=7, max_size=13))
def test_every_valid_gtin_reads_back_as_itself(body: str) -> None:
    gtin = with_check(body)
    if len(gtin) not in (8, 12, 13, 14):
        return
    assert gtin_valid(gtin)
    scan = read_product(gtin)
    assert scan is not None and f"gtin:{gtin.zfill(14)}" in scan.codes
    assert scan.codes & item_codes(gtin)


def test_sample_orders_carry_valid_pzns() -> None:
    """The demo's items scan: every sample PZN has its check digit (issue 24)."""
    from datetime import UTC, datetime

    from rxfloor.core.products import pzn_valid
    from rxfloor.core.sample import sample_orders

    pzns = [
        item.pzn
        for order in sample_orders(200, seed=0, now=datetime(2026, 1, 5, 9, tzinfo=UTC))
        for item in order.items
    ]
    assert pzns and all(p is not None and pzn_valid(p) for p in pzns)
