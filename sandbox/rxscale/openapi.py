"""The stand-in's OpenAPI 3.1 schema: what docs/pages/sources/rxscale.md documents, as a
machine-readable file.

Built from data (not from docstrings) so it needs no YAML parser and cannot drift from the
dialect tables: the status enums come from :mod:`rxfloor.sandbox.rxscale.dialects`.
"""

from __future__ import annotations

from typing import Any

from rxfloor.sandbox.rxscale.dialects import DIALECTS

_ERROR = {
    "type": "object",
    "properties": {
        "error": {"type": "string"},
        "details": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    "required": ["error"],
}
_AUTH_ERROR = {
    "type": "object",
    "properties": {
        "code": {
            "type": "string",
            "examples": ["authorization_header_missing", "invalid_header", "invalid_api_key"],
        },
        "description": {"type": "string"},
    },
    "required": ["code", "description"],
}
_REF = "#/components/schemas/"
_ADDRESS = {
    "type": "object",
    "properties": {
        k: {"type": "string"}
        for k in (
            "first_name",
            "last_name",
            "street",
            "house_number",
            "zip_code",
            "city",
            "country",
        )
    },
    "additionalProperties": True,
}


def _order_schema(statuses: list[str]) -> dict[str, Any]:
    named = {
        "type": "object",
        "properties": {"uid": {"type": "string"}, "display_name": {"type": "string"}},
    }
    return {
        "type": "object",
        "additionalProperties": True,
        "required": ["uid", "name", "status", "created_at", "updated_at"],
        "properties": {
            "uid": {"type": "string", "examples": ["po-abc123"]},
            "name": {"type": "string", "examples": ["#1001"]},
            "shop_order_name": {"type": "string"},
            "status": {"type": "string", "enum": statuses},
            "external_status": {"type": "string"},
            "comment": {"type": ["string", "null"]},
            "created_at": {"type": "integer", "description": "unix seconds"},
            "updated_at": {"type": "integer", "description": "unix seconds"},
            "deleted_at": {"type": ["integer", "null"]},
            "pharmacy": named,
            "order": {
                "type": "object",
                "properties": {
                    "uid": {"type": "string"},
                    "delivery_address": _ADDRESS,
                    "invoice_address": _ADDRESS,
                    "priority": {"type": "integer", "description": "higher = more urgent"},
                },
            },
            "delivery_type": {
                "type": ["object", "null"],
                "properties": {**named["properties"], "identifier": {"type": "string"}},  # type: ignore[dict-item]
            },
            "order_items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "uid": {"type": "string"},
                        "amount": {"type": "integer"},
                        "sku": {
                            "type": "object",
                            "properties": {
                                "uid": {"type": "string"},
                                "display_name": {"type": "string"},
                                "pzn": {"type": ["string", "null"]},
                            },
                        },
                        "total_paid_amount": {"type": "integer", "description": "cents"},
                    },
                },
            },
            "patient_data": {
                "description": "detail call and webhooks only",
                "type": "object",
                "properties": {
                    k: {"type": "string"} for k in ("uid", "display_name", "email", "date_of_birth")
                },
            },
            "doctor_data": {"type": "object", "description": "detail call only"},
            "prescription_file": {"type": "string", "contentEncoding": "base64"},
            "prepaid": {"type": "boolean"},
        },
    }


def _responses(ok: dict[str, Any], *codes: int) -> dict[str, Any]:
    out: dict[str, Any] = dict(ok)
    words = {
        400: "bad request",
        401: "missing or invalid API key",
        403: "the key lacks the permission",
        404: "unknown resource, or one the key may not see",
        409: "transition not allowed from the current status",
        422: "validation failed",
        429: "rate limited (see Retry-After)",
    }
    for code in (401, 403, 429, *codes):
        schema = "AuthError" if code in (401, 403) else "Error"
        out[str(code)] = {
            "description": words[code],
            "content": {"application/json": {"schema": {"$ref": _REF + schema}}},
        }
    return out


def _json(schema: str, description: str = "OK") -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF + schema}}},
    }


def openapi_schema(dialect: str) -> dict[str, Any]:
    """The schema for one dialect (the status enums differ)."""
    d = DIALECTS[dialect]
    uid = {"name": "uid", "in": "path", "required": True, "schema": {"type": "string"}}
    pharmacy = {
        "name": "pharmacy_uid",
        "in": "query",
        "required": False,
        "description": "required with a pharmacy group key",
        "schema": {"type": "string"},
    }
    paths: dict[str, Any] = {
        "/health/": {
            "get": {"summary": "Health", "responses": _responses({"200": {"description": "OK"}})}
        },
        "/pharmacy_orders/": {
            "get": {
                "summary": "List pharmacy orders (paged, newest first)",
                "parameters": [
                    {
                        "name": "page",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 0, "default": 0},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
                    },
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"type": "string", "enum": list(d.statuses)},
                    },
                    {"name": "search", "in": "query", "schema": {"type": "string"}},
                    pharmacy,
                ],
                "responses": _responses({"200": _json("OrderPage")}, 400, 404, 422),
            }
        },
        "/pharmacy_orders/{uid}": {
            "get": {
                "summary": "One pharmacy order with detail",
                "parameters": [uid, pharmacy],
                "responses": _responses({"200": _json("Order")}, 404),
            }
        },
        "/pharmacy_orders/{uid}/status": {
            "patch": {
                "summary": "Change the status (the dialect's transition rules apply)",
                "parameters": [uid, pharmacy],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": _REF + "StatusChange"}}},
                },
                "responses": _responses({"200": _json("Order")}, 400, 404, 409, 422),
            }
        },
        "/webhooks/": {
            "get": {
                "summary": "Webhook subscriptions",
                "responses": _responses({"200": _json("WebhookList")}),
            },
            "post": {
                "summary": "Subscribe (the signing secret is shown once, here)",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": _REF + "NewWebhook"}}},
                },
                "responses": _responses({"201": _json("Webhook", "Created")}, 400, 422),
            },
        },
        "/webhooks/{uid}": {
            "delete": {
                "summary": "Unsubscribe",
                "parameters": [uid],
                "responses": _responses({"204": {"description": "Deleted"}}, 404),
            }
        },
    }
    if d.complete_from:
        paths["/pharmacy_orders/{uid}/complete_order"] = {
            "patch": {
                "summary": "Complete an order (stock reduction)",
                "parameters": [uid, pharmacy],
                "responses": _responses({"200": _json("Order")}, 404, 409),
            }
        }
    status_change: dict[str, Any] = {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string", "enum": sorted(d.patchable)}},
    }
    if d.needs_comment:
        status_change["properties"]["comment"] = {
            "type": "string",
            "description": "required and non-blank for " + ", ".join(sorted(d.needs_comment)),
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "RxScale External Pharmacy API (rxfloor stand-in)",
            "version": f"lifecycle-{d.name}",
        },
        "servers": [{"url": "/v1/external-pharmacy-api-v1"}, {"url": "/v1/external_pharmacy_api"}],
        "security": [{"ApiKey": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
            "schemas": {
                "Error": _ERROR,
                "AuthError": _AUTH_ERROR,
                "Order": _order_schema(list(d.statuses)),
                "OrderPage": {
                    "type": "object",
                    "required": ["data", "totalRegistries", "totalPages"],
                    "properties": {
                        "data": {"type": "array", "items": {"$ref": _REF + "Order"}},
                        "totalRegistries": {"type": "integer"},
                        "totalPages": {"type": "integer"},
                    },
                },
                "StatusChange": status_change,
                "NewWebhook": {
                    "type": "object",
                    "required": ["target", "notification_type"],
                    "properties": {
                        "target": {"type": "string", "format": "uri"},
                        "notification_type": {
                            "type": "string",
                            "enum": [
                                "pharmacy_order_created",
                                "pharmacy_order_updated",
                                "pharmacy_sku_stock_updated",
                            ],
                        },
                    },
                },
                "Webhook": {
                    "type": "object",
                    "properties": {
                        "uid": {"type": "string"},
                        "target": {"type": "string"},
                        "notification_type": {"type": "string"},
                        "created_at": {"type": "integer"},
                        "signing_secret": {
                            "type": "string",
                            "description": "whsec_…, at creation only",
                        },
                    },
                },
                "WebhookList": {
                    "type": "object",
                    "properties": {"data": {"type": "array", "items": {"$ref": _REF + "Webhook"}}},
                },
            },
        },
    }
