"""HMAC-SHA256 of a raw webhook body with a shared secret, as the vendors spell it."""

from __future__ import annotations

import base64
import hashlib
import hmac


def hmac_hex(secret: str, body: bytes) -> str:
    """Hex digest (RxScale's ``X-Webhook-Signature``, Photon's ``X-Photon-Signature``)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def hmac_base64(secret: str, body: bytes) -> str:
    """Base64 of the digest (Shopify's ``X-Shopify-Hmac-Sha256``)."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
