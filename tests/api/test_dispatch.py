"""The first-segment dispatch in front of the app's router (opendmp/dispatch.py): for any
path and method, the routes it leaves out of a segment's table could not have answered, so
the route found is the one the full walk finds; and requests through it behave as before."""

from __future__ import annotations

import re

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.routing import Match

from opendmp.app import Runtime, create_app
from opendmp.dispatch import FirstSegmentDispatch, _entry_paths, first_segment

PARAMETER = re.compile(r"\{[^}]*\}")
SEGMENT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._~%", min_size=0, max_size=12)


async def _dispatch(runtime: Runtime) -> FirstSegmentDispatch:
    """The app's dispatch, once a request went through it (it builds its table then)."""
    app = create_app(runtime.settings, runtime)
    dispatch = app.router.middleware_stack
    assert isinstance(dispatch, FirstSegmentDispatch) and dispatch.table == {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dmp.test") as http:
        assert (await http.get("/healthz")).status_code == 200
    return dispatch


def _scope(path: str, method: str) -> dict[str, object]:
    return {"type": "http", "path": path, "root_path": "", "method": method, "headers": []}


def _left_out_matching(dispatch: FirstSegmentDispatch, path: str, method: str) -> list[str]:
    part = dispatch.table.get(first_segment(path))
    if part is None:
        return []  # the full walk answers
    kept = {id(entry) for entry in part.routes}
    return [
        repr(entry)
        for entry in dispatch.full.routes
        if id(entry) not in kept and entry.matches(_scope(path, method))[0] is not Match.NONE
    ]


async def test_every_route_of_the_app_is_in_its_segments_table(runtime: Runtime) -> None:
    dispatch = await _dispatch(runtime)
    paths = [p for entry in dispatch.full.routes for p in _entry_paths(entry)]
    assert len(paths) > 80 and {"fhir", "xds", "patient", "pro", "healthz"} <= set(dispatch.table)
    for path in paths:
        concrete = PARAMETER.sub("x", path)
        for method in ("GET", "POST", "PUT", "DELETE"):
            for variant in (concrete, concrete.rstrip("/") + "/"):
                assert _left_out_matching(dispatch, variant, method) == [], variant


async def test_no_path_finds_a_route_the_table_left_out(runtime: Runtime) -> None:
    dispatch = await _dispatch(runtime)
    known = sorted(p for entry in dispatch.full.routes for p in _entry_paths(entry))

    @settings(max_examples=300, deadline=None)
    @given(
        base=st.sampled_from(known),
        tail=st.lists(SEGMENT, max_size=3),
        method=st.sampled_from(["GET", "POST", "HEAD", "PATCH"]),
    )
    def check(base: str, tail: list[str], method: str) -> None:
        path = "/".join([PARAMETER.sub("x", base).rstrip("/"), *tail]) or "/"
        assert _left_out_matching(dispatch, path, method) == []

    check()


async def test_answers_through_the_table_are_those_of_the_full_walk(
    http: httpx.AsyncClient,
) -> None:
    assert (await http.get("/healthz")).json()["status"] == "ok"
    assert (await http.get("/fhir/Nothing")).status_code == 404
    assert (await http.delete("/healthz")).status_code == 405
    slash = await http.get("/patient/", follow_redirects=False)
    assert slash.status_code in (200, 303, 307)
    page = await http.get("/nowhere/at/all", headers={"Accept": "text/html"})
    assert page.status_code == 404 and "<html" in page.text.lower()
