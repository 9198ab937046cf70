"""What the local stand-ins for authorities' APIs (the CyberTipline, the NCA) share: answering a
request faithfully badly. A test of a resumable filing needs a server that can keep a request
unanswered until the client gives up, or close the connection with no answer at all, before or
after doing the work."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

_CONTROL = "staydown.local_server.control"


async def hold(request: Request, seconds: float) -> None:
    """Keep the request unanswered until the client hangs up or `seconds` pass."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if await request.is_disconnected():
            return
        await asyncio.sleep(0.02)


def drop(request: Request) -> Response:
    """Close the connection without an answer (the response returned here is never sent)."""
    request.scope[_CONTROL]["drop"] = True
    return Response(b"")


class DroppingApp(Starlette):
    """Starlette, plus the one thing a faithful failure needs: closing the connection with no answer."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        control = {"drop": False}
        scope[_CONTROL] = control

        async def guarded_send(message: Message) -> None:
            if not control["drop"]:
                await send(message)

        await super().__call__(scope, receive, guarded_send)
        if control["drop"]:
            # uvicorn hands the app its request cycle's bound `send`; the cycle holds the transport.
            transport = getattr(getattr(send, "__self__", None), "transport", None)
            if transport is None:
                raise ConnectionResetError("the local server dropped the connection on purpose")
            transport.abort()
            # Let the server see the connection lost before the app returns, so it does not try to
            # answer with an error page on its own.
            for _ in range(3):
                await asyncio.sleep(0)
