"""The transport faults every stand-in's API gate injects, and a JSON answer sent from it."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ConnectionDropped(httpx.RemoteProtocolError):
    """Raised in-process (httpx.ASGITransport) where there is no socket to close."""


async def no_receive() -> Message:
    return {"type": "http.disconnect"}


def header(headers: dict[bytes, bytes], name: bytes) -> str | None:
    value = headers.get(name)
    return value.decode("latin-1") if value is not None else None


async def answer(
    entry: dict[str, Any],
    send: Send,
    status: int,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> None:
    """Answer ``body`` from the gate itself (the route never runs); logged in ``entry``."""
    entry["status_code"] = status
    await JSONResponse(body, status, headers=headers)({"type": "http"}, no_receive, send)


async def drop(receive: Receive) -> None:
    """Close the connection without an answer: a network failure to the client.

    Under uvicorn the transport is reachable through the bound ``receive`` of its request
    cycle; closing it makes httpx raise ``RemoteProtocolError`` ("Server disconnected
    without sending a response"). In-process (httpx.ASGITransport) there is no socket, so
    the same httpx exception is raised through the transport instead.
    """
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if not isinstance(transport, asyncio.BaseTransport):
        raise ConnectionDropped("Server disconnected without sending a response (sandbox fault)")
    transport.close()
    await asyncio.sleep(0)  # let the server see the connection lost before the app returns


def garble(messages: list[Message]) -> list[Message]:
    """The same answer with its JSON body cut in half (and the length header to match)."""
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    broken = body[: max(1, len(body) // 2)] if body else b"{"
    out: list[Message] = []
    for m in messages:
        if m["type"] == "http.response.start":
            headers = [(k, v) for k, v in m.get("headers", []) if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(broken)).encode()))
            out.append({**m, "headers": headers})
    out.append({"type": "http.response.body", "body": broken, "more_body": False})
    return out


async def applied_then(
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    entry: dict[str, Any],
    fault: str | None,
    slow_s: float,
) -> None:
    """Run the route (the request IS applied), then answer as ``fault`` says: not at all
    (``drop_after``), late (``slow``), cut in half (``malformed``) or as it is."""
    held: list[Message] = []

    async def hold(message: Message) -> None:
        if message["type"] == "http.response.start":
            entry["status_code"] = message["status"]
        held.append(message)

    await app(scope, receive, hold)
    if fault == "drop_after":
        entry["status_code"] = None
        await drop(receive)
        return
    if fault == "slow":
        await asyncio.sleep(slow_s)
    if fault == "malformed":
        held = garble(held)
    for message in held:
        await send(message)
