"""Photon's tokens: a machine token from the OAuth client-credentials flow, or a static one.

Photon's machine tokens come from ``POST https://auth.photon.health/oauth/token`` with
``{client_id, client_secret, audience: "https://api.photon.health", grant_type:
"client_credentials"}`` and last 24 h (``expires_in: 86400``): "cache it and request a new
one shortly before it expires" (Photon-Health/docs ``authentication.mdx``; the sandbox is
``auth.neutron.health`` / ``https://api.neutron.health``, ``environments.mdx``).

:class:`ClientCredentials` caches the token and fetches a new one :data:`REFRESH_MARGIN`
before it expires (a tenth of its life for a short one), and once more when Photon rejects
it early (:meth:`TokenSource.refresh`). :class:`StaticToken` is the option for a token
handed over by hand: it cannot be renewed, so a rejection of it is final until it is
replaced. Neither ever puts a secret in a message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

import httpx
from pydantic import SecretStr

from rxfloor.core.sources import http
from rxfloor.core.sources.base import AuthError, TransientError, UnreachableError
from rxfloor.core.text import api_key_problem, register_secret

TOKEN_URL = "https://auth.photon.health/oauth/token"
AUDIENCE = "https://api.photon.health"
#: a new token is fetched this long before the cached one expires
REFRESH_MARGIN = 300.0


class TokenSource(Protocol):
    """Where the client's bearer token comes from."""

    def token(self) -> str:
        """The token to send now (fetched or renewed when needed)."""

    def refresh(self) -> bool:
        """Photon rejected the token just sent: get a new one; False when none can be had
        (a static token), so the rejection is final."""


class StaticToken:
    """One token given by hand (``RXFLOOR_PHOTON_API_TOKEN`` or the keyring)."""

    def __init__(self, token: SecretStr) -> None:
        secret = token.get_secret_value()
        register_secret(secret)
        problem = api_key_problem(secret)
        if problem is not None:
            raise ValueError(f"the Photon API token {problem}")
        self._token = secret

    def token(self) -> str:
        return self._token

    def refresh(self) -> bool:
        return False


class ClientCredentials:
    """Machine tokens of the client-credentials flow, cached until shortly before expiry."""

    def __init__(
        self,
        client_id: str,
        client_secret: SecretStr,
        *,
        token_url: str = TOKEN_URL,
        audience: str = AUDIENCE,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        secret = client_secret.get_secret_value()
        if not client_id or not secret:
            raise ValueError("Photon's client credentials need a client id and a secret")
        register_secret(secret)
        self.client_id = client_id
        self._secret = secret
        self.token_url = token_url
        self.audience = audience
        self.clock = clock
        self.fetched = 0  # tokens fetched (a test and the health can count them)
        self._token: str | None = None
        self._expires_at = float("-inf")
        self._lock = threading.Lock()
        self._http = http.client(timeout_s, transport, {"Accept": "application/json"})

    def token(self) -> str:
        with self._lock:
            if self._token is None or self.clock() >= self._expires_at:
                self._fetch()
            assert self._token is not None
            return self._token

    def refresh(self) -> bool:
        with self._lock:
            self._fetch()
            return True

    def close(self) -> None:
        self._http.close()

    def _fetch(self) -> None:
        body = {
            "client_id": self.client_id,
            "client_secret": self._secret,
            "audience": self.audience,
            "grant_type": "client_credentials",
        }
        try:
            response = self._http.post(self.token_url, json=body)
        except httpx.ConnectError:
            raise UnreachableError(f"cannot reach Photon's sign-in at {self.token_url}") from None
        except httpx.HTTPError as exc:
            raise TransientError(
                f"Photon's sign-in failed: {type(exc).__name__}", maybe_applied=False
            ) from None
        code = response.status_code
        if code == 429 or code >= 500:
            raise TransientError(f"Photon's sign-in answered {code}", code, maybe_applied=False)
        if code >= 400:  # 401 / 403 access_denied, invalid_client: a person must fix it
            raise AuthError(f"photon: client credentials refused ({code})", code)
        try:
            answer = response.json()
            token = answer["access_token"]
            lifetime = float(answer.get("expires_in", 86_400))
        except (ValueError, KeyError, TypeError):
            raise TransientError(
                "malformed answer from Photon's sign-in", maybe_applied=False
            ) from None
        if not isinstance(token, str) or api_key_problem(token) is not None:
            raise TransientError("malformed token from Photon's sign-in", maybe_applied=False)
        register_secret(token)
        margin = min(REFRESH_MARGIN, max(lifetime, 0.0) / 10)
        self._token = token
        self._expires_at = self.clock() + max(lifetime, 0.0) - margin
        self.fetched += 1
