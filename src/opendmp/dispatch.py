"""Dispatch by the path's first segment (docs/benchmarks.md, "The router walk").

FastAPI tries an app's routes one after the other, and every included router walks its own
routes too: a request for ``/patient/…`` or ``/healthz`` tried a hundred routes before its
own, about three quarters of a no-op request's CPU. ``dispatch_by_first_segment`` puts in
front of the app's router a table from the first segment of the path (``fhir``, ``xds``,
``patient``…) to a router holding only the app's entries that can answer under it, in the
app's order; the route found, its handling, ``url_for`` (the app's router stays the
request's ``router``), 404, 405 and the trailing-slash redirect are the same as the full
walk's. A path whose first segment no table entry names, and anything but HTTP, take the
full walk.

An entry is placed by the paths it can answer: a route or a mount by its own path, an
included router by the paths of its routes. An entry whose first segment is a parameter
could answer under any segment: it goes under every one.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import FastAPI
from fastapi.routing import APIRouter
from starlette._utils import get_route_path
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

ANY = "{"  # the first segment of an entry that can answer under any


def first_segment(path: str) -> str:
    """``/fhir/Binary/x`` → ``fhir``; ``/`` → ``""``; a parameter → ``{``."""
    segment = path.lstrip("/").split("/", 1)[0]
    return ANY if "{" in segment else segment


def _router_paths(router: APIRouter, prefix: str) -> Iterable[str]:
    for route in router.routes:
        yield from _entry_paths(route, prefix)


def _entry_paths(entry: BaseRoute, prefix: str = "") -> Iterable[str]:
    """The paths ``entry`` answers under (their first segment is what counts)."""
    included = getattr(entry, "original_router", None)
    if isinstance(included, APIRouter):  # FastAPI's wrapper of an included router
        context = getattr(entry, "include_context", None)
        yield from _router_paths(included, prefix + str(getattr(context, "prefix", "")))
        return
    path = getattr(entry, "path", None)
    yield prefix + path if isinstance(path, str) else "/{unknown}"


def segments_of(entry: BaseRoute) -> set[str]:
    return {first_segment(path) for path in _entry_paths(entry)} or {ANY}


class FirstSegmentDispatch:
    """The app's router, reached through a table by first segment (see the module)."""

    def __init__(self, full: APIRouter, walk: ASGIApp) -> None:
        self.full = full
        self.walk = walk
        self.table: dict[str, APIRouter] = {}
        self._built_for = -1  # how many entries the app's router had when the table was built

    def _build(self) -> None:
        placed = [(entry, segments_of(entry)) for entry in self.full.routes]
        named = {s for _, segments in placed for s in segments if s != ANY}
        table: dict[str, APIRouter] = {}
        for segment in named:
            part = APIRouter(redirect_slashes=self.full.redirect_slashes)
            part.routes.extend(e for e, found in placed if segment in found or ANY in found)
            table[segment] = part
        self.table, self._built_for = table, len(self.full.routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        part = None
        if scope["type"] == "http":
            if len(self.full.routes) != self._built_for:  # built at the first request, and
                self._build()  # again if a route was added since (the app is built by then)
            part = self.table.get(first_segment(get_route_path(scope)))
        if part is None:
            await self.walk(scope, receive, send)
            return
        scope.setdefault("router", self.full)  # url_for and the rest see the app's router
        await part.app(scope, receive, send)


def dispatch_by_first_segment(app: FastAPI) -> None:
    """Once every route is in place: the app's router answers through the table."""
    router = app.router
    router.middleware_stack = FirstSegmentDispatch(router, router.middleware_stack)
