"""Each source's product code reaches its items, and a scan of the pack ticks the item
(issue 24 §2; the table in docs/pages/floor/workflow.md). The answers are shaped as each
vendor documents them (pages named per test; values made up).

* Shopify — shopify.dev Admin GraphQL ``FulfillmentOrderLineItem`` (``sku``, ``variant``)
  and ``ProductVariant.barcode`` ("the value of the barcode associated with the product";
  ``read_products`` access scope).
* Photon — github.com/Photon-Health/client ``packages/sdk/src/types.ts``: ``Fill.treatment``,
  ``Treatment.codes: TreatmentCodes {packageNDC, productNDC, rxcui, SKU, HCPCS}``.
* RxScale — /work/shared/REMOTE_API.md: ``order_items [{uid, amount, sku {uid,
  display_name, pzn}}]``.
* Konnektive — the captured Order Query answer (tests/contract/konnektive/test_pull.py
  ``ORDER_QUERY``): ``fulfillments[].items[] {name, sku, qty}``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from rxfloor.core.db import Store
from rxfloor.core.lifecycle import Action, CheckRule, Status
from rxfloor.core.models import NewOrder
from rxfloor.core.products import GS
from rxfloor.core.service import Actor, OrderService
from rxfloor.core.sources.konnektive import wire as konnektive
from rxfloor.core.sources.photon import wire as photon
from rxfloor.core.sources.rxscale import wire as rxscale
from rxfloor.core.sources.shopify import queries
from rxfloor.core.sources.shopify import wire as shopify
from tests.contract.konnektive.test_pull import ORDER as KONNEKTIVE_ORDER

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def _ticks(store: Store, new: NewOrder, scanned: str) -> str:
    svc = OrderService(store, Actor("TJ", "bench-1"), clock=lambda: NOW,
                       check=CheckRule.SECOND_PERSON)  # fmt: skip
    svc.add_orders([new.model_copy(update={"status": Status.OPEN})])
    svc.act(new.id, Action.START)
    return svc.scan_product(new.id, scanned).summary


def test_shopify_the_variant_barcode_is_scanned_the_sku_kept(store: Store) -> None:
    assert "variant { barcode }" in queries.documents(names=False, barcodes=True)[0]
    assert "variant {" not in queries.documents(names=True, barcodes=False)[0]  # no scope
    fo = shopify.FulfillmentOrder.model_validate({
        "id": "gid://shopify/FulfillmentOrder/7", "status": "OPEN", "requestStatus": "SUBMITTED",
        "orderName": "#1007", "lineItems": {"nodes": [{
            "id": "gid://shopify/FulfillmentOrderLineItem/1", "sku": "IBU-400-20",
            "productTitle": "Ibuprofen", "variantTitle": "400 mg", "totalQuantity": 1,
            "variant": {"barcode": "4150123456782"}}]},
    })  # fmt: skip
    new = fo.to_new_order(Status.OPEN)
    assert (new.items[0].sku, new.items[0].barcode) == ("IBU-400-20", "4150123456782")
    pack = f"]d201{'04150123456782'}17271231108AB{GS}21S1"
    assert "Ibuprofen 400 mg ticked" in _ticks(store, new, pack)


def test_photon_the_fills_package_ndc_is_scanned(store: Store) -> None:
    read = photon.OrderRead.model_validate({
        "id": "ord_1", "state": "PLACED", "fulfillment": {"type": "PICK_UP", "state": "RECEIVED"},
        "fills": [{"id": "fil_1", "prescription": {"id": "rx_1"}, "treatment": {
            "name": "Zepbound 2.5 mg/0.5 mL", "codes": {
                "packageNDC": "00002246080", "productNDC": "0002-2460"}}}],
    })  # fmt: skip
    order = photon.order_of_read(read)
    assert order.items[0].sku == "00002246080"
    upc_a = "300022460807"  # the pack's UPC-A: number system 3 + the 10-digit NDC 0002-2460-80
    assert "Zepbound 2.5 mg/0.5 mL ticked" in _ticks(store, order.to_new_order(Status.OPEN), upc_a)


def test_photon_an_event_without_treatment_keeps_the_prescription_id() -> None:
    fill = {"id": "fil_2", "prescription": {"id": "rx_2"}}
    read = photon.OrderRead.model_validate({"id": "ord_2", "state": "PLACED", "fills": [fill]})
    item = photon.order_of_read(read).items[0]
    assert (item.sku, item.drug) == ("rx_2", "prescription rx_2")


def test_rxscale_the_skus_pzn_is_scanned(store: Store) -> None:
    order = rxscale.RxScaleOrder.model_validate({
        "uid": "po-1", "name": "#2001", "status": "open", "order_items": [{
            "uid": "oi-1", "amount": 1,
            "sku": {"uid": "sku-42", "display_name": "Amoxicillin 500 mg", "pzn": "12345678"}}],
    })  # fmt: skip
    new = order.to_new_order(Status.OPEN)
    assert (new.items[0].sku, new.items[0].pzn) == ("sku-42", "12345678")
    assert "Amoxicillin 500 mg ticked" in _ticks(store, new, "-12345678")  # Code 39 PZN


def test_konnektive_the_fulfillment_items_sku_is_carried(store: Store) -> None:
    gtin = "4006381333931"
    shipped = {"fulfillmentItemId": "901", "name": "Omega capsules", "sku": gtin, "qty": "2",
               "status": "PENDING"}  # fmt: skip
    first = {**KONNEKTIVE_ORDER["fulfillments"][0], "status": "PENDING", "items": [shipped]}
    row = {**KONNEKTIVE_ORDER, "fulfillments": [first]}
    detail = konnektive.OrderDetail.model_validate(row)
    order = konnektive.KonnektiveOrder(detail.order_id, detail, detail.fulfillments or [])
    new = order.to_new_order(Status.OPEN)
    assert new.items[0].sku == gtin
    assert "Omega capsules ticked" in _ticks(store, new, gtin)
    listed = {**row, "items": {"7": {**row["items"]["7"], "productSku": "OMG-60"}}}
    detail = konnektive.OrderDetail.model_validate(listed)
    again = konnektive.KonnektiveOrder(detail.order_id, detail, detail.fulfillments or [])
    assert again.to_new_order(Status.OPEN).items[0].sku == "OMG-60"  # productSku first
