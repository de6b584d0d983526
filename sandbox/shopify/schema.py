"""The SDL in ``schema.graphql`` bound to the stand-in's state: one executable schema.

Resolvers read the fulfillment-order dicts of :class:`ShopState` (keys are the GraphQL field
names, so most fields need no resolver); connections and mutations have their own. The
context of an execution is a :class:`Context`: the state and the request's log entry (its
``seq`` goes into the transitions log).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any

from graphql import GraphQLError, GraphQLObjectType, GraphQLResolveInfo, GraphQLSchema, build_schema

from rxfloor.sandbox.shopify.state import (
    ShopState,
    decode_cursor,
    encode_cursor,
    gid_number,
)


@dataclass(slots=True)
class Context:
    state: ShopState
    request: dict[str, Any] | None


def sdl() -> str:
    """The schema's SDL text (the file shipped beside this module)."""
    return resources.files(__package__).joinpath("schema.graphql").read_text(encoding="utf-8")


@functools.cache
def executable_schema() -> GraphQLSchema:
    """The schema with its resolvers (built once; it holds no state)."""
    schema = build_schema(sdl())
    _bind(
        schema,
        "QueryRoot",
        {
            "assignedFulfillmentOrders": _assigned,
            "fulfillmentOrder": _fulfillment_order,
            "node": _node,
            "shop": _shop,
        },
    )
    _bind(
        schema,
        "FulfillmentOrder",
        {
            "lineItems": _list_connection("lineItems"),
            "merchantRequests": _list_connection("merchantRequests", kind_filter=True),
            "fulfillments": _list_connection("fulfillments"),
        },
    )
    _bind(
        schema,
        "FulfillmentOrderDestination",
        {f: _protected(f, group) for f, group in PROTECTED_FIELDS.items()},
    )
    _bind(schema, "Order", {"email": _protected("email", "email")})
    _bind(schema, "FulfillmentOrderMerchantRequest", {"fulfillmentOrder": _request_owner})
    _bind(schema, "Fulfillment", {"trackingInfo": _tracking})
    _bind(
        schema,
        "Mutation",
        {
            "fulfillmentOrderAcceptFulfillmentRequest": _accept,
            "fulfillmentOrderRejectFulfillmentRequest": _reject,
            "fulfillmentCreate": _create,
            "fulfillmentOrderClose": _close,
            "fulfillmentOrderLineItemsPreparedForPickup": _prepare_for_pickup,
            "fulfillmentOrderAcceptCancellationRequest": _accept_cancellation,
            "fulfillmentOrderRejectCancellationRequest": _reject_cancellation,
        },
    )
    node = schema.get_type("Node")
    assert node is not None
    node.resolve_type = lambda value, _info, _type: value.get("__typename")  # type: ignore[attr-defined]
    return schema


def _bind(schema: GraphQLSchema, type_name: str, resolvers: dict[str, Any]) -> None:
    t = schema.get_type(type_name)
    assert isinstance(t, GraphQLObjectType), type_name
    for name, fn in resolvers.items():
        t.fields[name].resolve = fn


def _ctx(info: GraphQLResolveInfo[Any]) -> Context:
    ctx: Context = info.context
    return ctx


# -- protected customer data ---------------------------------------------------------------------

#: the destination's protected customer fields and the group Shopify approves them by
PROTECTED_FIELDS: dict[str, str] = {
    "firstName": "name",
    "lastName": "name",
    "address1": "address",
    "address2": "address",
    "city": "address",
    "zip": "address",
    "company": "address",
    "phone": "phone",
    "email": "email",
}


def _protected(field: str, group: str) -> Any:
    """A field Shopify gives only to an app approved for ``group``: otherwise null and an
    error naming the field (the documented example's words and path; ``ACCESS_DENIED`` as
    captured answers carry it)."""

    def resolve(root: Any, info: GraphQLResolveInfo[Any]) -> Any:
        if group in _ctx(info).state.config.customer_fields:
            return root.get(field) if isinstance(root, dict) else None
        raise GraphQLError(
            f"This app is not approved to use the {field} field. See "
            "https://partners.shopify.com/1/apps/1/customer_data for more details.",
            extensions={
                "code": "ACCESS_DENIED",
                "documentation": "https://shopify.dev/docs/apps/launch/protected-customer-data",
            },
        )

    return resolve


# -- queries -----------------------------------------------------------------------------------


def _assigned(
    _root: Any,
    info: GraphQLResolveInfo[Any],
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    reverse: bool = False,
    assignmentStatus: str | None = None,
    locationIds: list[str] | None = None,
    sortKey: str = "ID",
) -> dict[str, Any]:
    try:
        items, has_next, has_prev = _ctx(info).state.page(
            first=first,
            after=after,
            last=last,
            before=before,
            reverse=reverse,
            assignment=assignmentStatus,
            location_ids=locationIds,
        )
    except ValueError as exc:
        raise GraphQLError(str(exc), extensions={"code": "BAD_REQUEST"}) from None
    return _connection(items, has_next, has_prev)


def _connection(items: list[dict[str, Any]], has_next: bool, has_prev: bool) -> dict[str, Any]:
    cursors = [encode_cursor(_number(item["id"])) for item in items]
    return {
        "edges": [{"cursor": c, "node": item} for c, item in zip(cursors, items, strict=True)],
        "nodes": items,
        "pageInfo": {
            "hasNextPage": has_next,
            "hasPreviousPage": has_prev,
            "startCursor": cursors[0] if cursors else None,
            "endCursor": cursors[-1] if cursors else None,
        },
    }


def _number(global_id: str) -> int:
    return int(global_id.rsplit("/", 1)[1])


def _list_connection(key: str, *, kind_filter: bool = False) -> Any:
    """A connection over a list the fulfillment order holds (line items, requests, …)."""

    def resolve(
        source: dict[str, Any],
        _info: GraphQLResolveInfo[Any],
        *,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        reverse: bool = False,
        kind: str | None = None,
    ) -> dict[str, Any]:
        items = list(source.get(key) or [])
        if kind_filter and kind is not None:
            items = [i for i in items if i["kind"] == kind]
        if reverse:
            items.reverse()
        numbers = [_number(i["id"]) for i in items]
        lo, hi = 0, len(items)
        for cursor, side in ((after, "after"), (before, "before")):
            if cursor is None:
                continue
            n = decode_cursor(cursor)
            if n is None or n not in numbers:
                raise GraphQLError(f"Invalid cursor: {cursor[:40]}")
            at = numbers.index(n)
            if side == "after":
                lo = max(lo, at + 1)
            else:
                hi = min(hi, at)
        window = items[lo:hi]
        if first is not None:
            page = window[:first]
            return _connection(page, len(window) > first, lo > 0)
        size = last if last is not None else len(window)
        page = window[max(0, len(window) - size) :]
        return _connection(page, hi < len(items), len(window) > size)

    return resolve


def _fulfillment_order(
    _root: Any, info: GraphQLResolveInfo[Any], *, id: str
) -> dict[str, Any] | None:
    if gid_number(id, "FulfillmentOrder") is None:
        raise GraphQLError(f"Invalid global id '{id[:80]}'", extensions={"code": "BAD_REQUEST"})
    found: dict[str, Any] | None = _ctx(info).state.get(id)
    return found


def _node(_root: Any, info: GraphQLResolveInfo[Any], *, id: str) -> dict[str, Any] | None:
    if not id.startswith("gid://shopify/"):
        raise GraphQLError(f"Invalid global id '{id[:80]}'", extensions={"code": "BAD_REQUEST"})
    if gid_number(id, "FulfillmentOrder") is None:
        return None  # only fulfillment orders are reachable by node() here
    found: dict[str, Any] | None = _ctx(info).state.get(id)
    return found


def _shop(_root: Any, info: GraphQLResolveInfo[Any]) -> dict[str, Any]:
    c = _ctx(info).state.config
    return {"id": "gid://shopify/Shop/1", "myshopifyDomain": c.shop_domain, "name": c.shop_name}


def _request_owner(source: dict[str, Any], info: GraphQLResolveInfo[Any]) -> dict[str, Any] | None:
    owner: dict[str, Any] | None = _ctx(info).state.get(source["_fo"])
    return owner


def _tracking(
    source: dict[str, Any], _info: GraphQLResolveInfo[Any], *, first: int | None = None
) -> list[dict[str, Any]]:
    infos: list[dict[str, Any]] = source.get("trackingInfo") or []
    return infos[:first] if first is not None else infos


# -- mutations ---------------------------------------------------------------------------------


def _payload(
    result: tuple[dict[str, Any] | None, list[dict[str, Any]]], key: str
) -> dict[str, Any]:
    value, errors = result
    return {key: value, "userErrors": errors}


def _accept(
    _root: Any,
    info: GraphQLResolveInfo[Any],
    *,
    id: str,
    message: str | None = None,
    estimatedShippedAt: str | None = None,
) -> dict[str, Any]:
    ctx = _ctx(info)
    return _payload(ctx.state.accept_request(id, message, ctx.request), "fulfillmentOrder")


def _reject(
    _root: Any,
    info: GraphQLResolveInfo[Any],
    *,
    id: str,
    reason: str | None = None,
    message: str | None = None,
    lineItems: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    ctx = _ctx(info)
    result = ctx.state.reject_request(id, reason, message, lineItems, ctx.request)
    return _payload(result, "fulfillmentOrder")


def _create(
    _root: Any,
    info: GraphQLResolveInfo[Any],
    *,
    fulfillment: dict[str, Any],
    message: str | None = None,
) -> dict[str, Any]:
    ctx = _ctx(info)
    result = ctx.state.create_fulfillment(
        fulfillment["lineItemsByFulfillmentOrder"],
        fulfillment.get("trackingInfo"),
        bool(fulfillment.get("notifyCustomer")),
        message,
        ctx.request,
    )
    return _payload(result, "fulfillment")


def _prepare_for_pickup(
    _root: Any, info: GraphQLResolveInfo[Any], *, input: dict[str, Any]
) -> dict[str, Any]:
    ctx = _ctx(info)
    refs = [pair["fulfillmentOrderId"] for pair in input["lineItemsByFulfillmentOrder"]]
    return {"userErrors": ctx.state.prepare_for_pickup(refs, ctx.request)}


def _close(
    _root: Any, info: GraphQLResolveInfo[Any], *, id: str, message: str | None = None
) -> dict[str, Any]:
    ctx = _ctx(info)
    return _payload(ctx.state.close(id, message, ctx.request), "fulfillmentOrder")


def _accept_cancellation(
    _root: Any, info: GraphQLResolveInfo[Any], *, id: str, message: str | None = None
) -> dict[str, Any]:
    ctx = _ctx(info)
    return _payload(ctx.state.accept_cancellation(id, message, ctx.request), "fulfillmentOrder")


def _reject_cancellation(
    _root: Any, info: GraphQLResolveInfo[Any], *, id: str, message: str | None = None
) -> dict[str, Any]:
    ctx = _ctx(info)
    return _payload(ctx.state.reject_cancellation(id, message, ctx.request), "fulfillmentOrder")
