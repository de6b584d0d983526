"""The GraphQL documents rxfloor sends to Shopify, exactly as sent (no SDK, no builder).

Each is checked against the stand-in's SDL (``sandbox/shopify/schema.graphql``, a faithful subset of
the Admin schema) by ``tests/sources/shopify/test_shopify_mapping.py`` with graphql-core's
``validate``.

Cost (Shopify's rules: an object 1, a connection 2 + ``first`` of its nodes, a mutation 10):
a listed fulfillment order with up to 20 line items and 2 merchant requests costs about 30,
so :data:`PAGE_SIZE` keeps a page's *requested* cost well under the 1,000-point ceiling of a
single query; a mutation answers with the light :data:`_STATE` selection only.

Protected customer data (shopify.dev ``docs/apps/launch/protected-customer-data``): the
destination's name and address are level-2 fields a public app may read only once Shopify
has approved it for them; without approval Shopify answers HTTP 200, the field null and an
``errors`` entry ("This app is not approved to use the firstName field …") pointing at it.
The floor shows the patient's initials on a card and the name in the detail, nothing of the
address: the documents ask for ``destination { firstName lastName }`` only when the app says
it is approved (``[sources.shopify] customer_names``, :data:`ASSIGNED_NAMES` /
:data:`ONE_NAMES`), and never for the city or the street.

Product codes: a line item's ``sku`` is the merchant's; the pack's barcode (GTIN / EAN /
UPC) is its variant's ``barcode``, and ``ProductVariant`` needs the ``read_products`` access
scope (without it Shopify refuses the field, ``ACCESS_DENIED``): the documents ask for
``variant { barcode }`` only when the app says it has that scope (``[sources.shopify]
barcodes``, :func:`documents`).
"""

from __future__ import annotations

#: fulfillment orders per page of ``assignedFulfillmentOrders``
PAGE_SIZE = 25
LINE_ITEMS = 20
#: the same with ``variant { barcode }``: one object more per line item (20 a fulfillment
#: order), so 25 a page would ask ~1,250 points and Shopify refuses a query over 1,000
PAGE_SIZE_BARCODES = 15

#: the assignment statuses a pull lists (``FulfillmentOrderAssignmentStatus``): every order
#: the pharmacy or the merchant can still move; rejected, closed, cancelled and incomplete
#: ones are in none of them (an unfiltered listing pages through them forever)
ASSIGNMENT_STATUSES = ("FULFILLMENT_REQUESTED", "FULFILLMENT_ACCEPTED", "CANCELLATION_REQUESTED")

#: the patient's name: a protected customer field (asked only by an approved app)
_NAMES = "  destination { firstName lastName }\n"


#: the pack's barcode: ``ProductVariant`` needs the ``read_products`` access scope
_BARCODE = " variant { barcode }"


def _full(names: bool, barcodes: bool = False) -> str:
    """What a listed or read-back fulfillment order carries (the board's card and detail)."""
    return f"""
fragment Full on FulfillmentOrder {{
  id
  status
  requestStatus
  fulfillAt
  fulfillBy
  createdAt
  updatedAt
  orderName
{_NAMES if names else ""}  deliveryMethod {{ methodType }}
  fulfillmentHolds {{ reason reasonNotes }}
  merchantRequests(first: 2, kind: CANCELLATION_REQUEST) {{
    nodes {{ kind message sentAt }}
  }}
  lineItems(first: {LINE_ITEMS}) {{
    nodes {{ id sku productTitle variantTitle totalQuantity{_BARCODE if barcodes else ""} }}
  }}
}}
"""


#: what a mutation's answer carries: enough to know where the order now stands (and how it
#: is delivered: a pickup one's finish is its preparation for pickup, not a fulfillment)
_STATE = """
fragment State on FulfillmentOrder {
  id
  status
  requestStatus
  fulfillAt
  deliveryMethod { methodType }
  fulfillmentHolds { reason reasonNotes }
}
"""

_ASSIGNED = """
query Assigned(
  $first: Int!
  $after: String
  $locationIds: [ID!]
  $assignmentStatus: FulfillmentOrderAssignmentStatus
) {
  assignedFulfillmentOrders(
    first: $first
    after: $after
    locationIds: $locationIds
    assignmentStatus: $assignmentStatus
  ) {
    nodes { ...Full }
    pageInfo { hasNextPage endCursor }
  }
}
"""

_ONE = """
query One($id: ID!) {
  fulfillmentOrder(id: $id) { ...Full }
}
"""

#: a page of assigned fulfillment orders (``$assignmentStatus`` unset: all but CLOSED)
ASSIGNED = _ASSIGNED + _full(names=False)
ONE = _ONE + _full(names=False)
#: the same, with the patient's name (an app approved for protected customer fields)
ASSIGNED_NAMES = _ASSIGNED + _full(names=True)
ONE_NAMES = _ONE + _full(names=True)
#: with each line item's variant barcode (an app with ``read_products``: ``barcodes``)
ASSIGNED_BARCODES = _ASSIGNED + _full(names=False, barcodes=True)
ONE_BARCODES = _ONE + _full(names=False, barcodes=True)
ASSIGNED_NAMES_BARCODES = _ASSIGNED + _full(names=True, barcodes=True)
ONE_NAMES_BARCODES = _ONE + _full(names=True, barcodes=True)


def documents(*, names: bool, barcodes: bool) -> tuple[str, str]:
    """The listing and the read-back of one fulfillment order an app asks with."""
    if barcodes:
        return (
            (ASSIGNED_NAMES_BARCODES, ONE_NAMES_BARCODES)
            if names
            else (ASSIGNED_BARCODES, ONE_BARCODES)
        )
    return (ASSIGNED_NAMES, ONE_NAMES) if names else (ASSIGNED, ONE)


ACCEPT = (
    """
mutation Accept($id: ID!, $message: String) {
  fulfillmentOrderAcceptFulfillmentRequest(id: $id, message: $message) {
    fulfillmentOrder { ...State }
    userErrors { field message }
  }
}
"""
    + _STATE
)

REJECT = (
    """
mutation Reject($id: ID!, $reason: FulfillmentOrderRejectionReason, $message: String) {
  fulfillmentOrderRejectFulfillmentRequest(id: $id, reason: $reason, message: $message) {
    fulfillmentOrder { ...State }
    userErrors { field message }
  }
}
"""
    + _STATE
)

FULFILL = """
mutation Fulfill($fulfillment: FulfillmentInput!) {
  fulfillmentCreate(fulfillment: $fulfillment) {
    fulfillment { id status }
    userErrors { field message }
  }
}
"""

#: a pickup order's finish: its line items ready for the customer (Shopify tells them
#: "Ready For Pickup"); the answer carries ``userErrors`` only (no fulfillment order), each
#: with its ``code`` (``FulfillmentOrderLineItemsPreparedForPickupUserErrorCode``)
PREPARE_FOR_PICKUP = """
mutation PreparedForPickup($input: FulfillmentOrderLineItemsPreparedForPickupInput!) {
  fulfillmentOrderLineItemsPreparedForPickup(input: $input) {
    userErrors { code field message }
  }
}
"""

CLOSE = (
    """
mutation Close($id: ID!, $message: String) {
  fulfillmentOrderClose(id: $id, message: $message) {
    fulfillmentOrder { ...State }
    userErrors { field message }
  }
}
"""
    + _STATE
)

ACCEPT_CANCELLATION = (
    """
mutation AcceptCancellation($id: ID!, $message: String) {
  fulfillmentOrderAcceptCancellationRequest(id: $id, message: $message) {
    fulfillmentOrder { ...State }
    userErrors { field message }
  }
}
"""
    + _STATE
)

REJECT_CANCELLATION = (
    """
mutation RejectCancellation($id: ID!, $message: String) {
  fulfillmentOrderRejectCancellationRequest(id: $id, message: $message) {
    fulfillmentOrder { ...State }
    userErrors { field message }
  }
}
"""
    + _STATE
)

#: one light read of where an order stands (after a fulfillment: its answer has no order)
STATE = (
    """
query State($id: ID!) {
  fulfillmentOrder(id: $id) { ...State }
}
"""
    + _STATE
)

#: every document, by name (the SDL test validates each one)
ALL = {
    "ASSIGNED": ASSIGNED,
    "ONE": ONE,
    "ASSIGNED_NAMES": ASSIGNED_NAMES,
    "ONE_NAMES": ONE_NAMES,
    "ASSIGNED_BARCODES": ASSIGNED_BARCODES,
    "ONE_BARCODES": ONE_BARCODES,
    "ASSIGNED_NAMES_BARCODES": ASSIGNED_NAMES_BARCODES,
    "ONE_NAMES_BARCODES": ONE_NAMES_BARCODES,
    "STATE": STATE,
    "ACCEPT": ACCEPT,
    "REJECT": REJECT,
    "FULFILL": FULFILL,
    "PREPARE_FOR_PICKUP": PREPARE_FOR_PICKUP,
    "CLOSE": CLOSE,
    "ACCEPT_CANCELLATION": ACCEPT_CANCELLATION,
    "REJECT_CANCELLATION": REJECT_CANCELLATION,
}
