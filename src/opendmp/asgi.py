"""The last line under an interface's paths (docs/security.md, "No input produces a server
error"): an exception that escaped every handler (a defect) is answered in the interface's
own error format, never as a bare 500 page. FHIR and XDS.b each subclass it."""

from __future__ import annotations

import logging
import traceback
import uuid

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def log_incident(log: logging.Logger, exc: BaseException, scope: Scope) -> str:
    """Log an unexpected exception under a new incident number, which it returns: its type,
    the request's method and route, its stack (code lines only: never the exception's message
    or local values, which may carry health data)."""
    incident = uuid.uuid4().hex
    route = getattr(scope.get("route"), "path", None) or scope.get("path", "-")
    log.error(
        "unexpected %s in %s %s, incident %s\n%s",
        type(exc).__name__,
        scope.get("method", "-"),
        route,
        incident,
        "".join(traceback.format_tb(exc.__traceback__)),
    )
    return incident


class LastLine:
    """ASGI middleware: under the paths ``applies`` accepts, an exception raised before the
    answer started becomes ``answer(exc, scope)``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def applies(self, path: str) -> bool:
        raise NotImplementedError

    def answer(self, exc: Exception, scope: Scope) -> Response:
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.applies(scope["path"]):
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if started:
                raise
            await self.answer(exc, scope)(scope, receive, send)
