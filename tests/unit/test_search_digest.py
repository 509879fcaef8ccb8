"""The digest a paging cursor pins (``services/documents/search.py`` ``query_digest``) is
the SHA-256 of the criteria's JSON as ``dataclasses.asdict`` gives them, keys sorted: the
faster writing gives the same digest, so cursors stay valid across the change and any
criterion changes it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

import orjson
from hypothesis import given
from hypothesis import strategies as st

from opendmp.services.documents.criteria import DateRange, DocumentQuery
from opendmp.services.documents.search import query_digest

ZONES = st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=1))])
MOMENTS = st.none() | st.datetimes(timezones=ZONES)
RANGES = st.none() | st.builds(DateRange, ge=MOMENTS, gt=MOMENTS, le=MOMENTS, lt=MOMENTS)
WORDS = st.lists(st.text(max_size=8), max_size=3).map(tuple)
QUERIES = st.builds(
    DocumentQuery,
    statuses=WORDS,
    include_superseded=st.booleans(),
    unique_ids=WORDS,
    ids=st.lists(st.uuids(), max_size=2).map(tuple),
    type_codes=WORDS,
    event_codes=WORDS,
    date=RANGES,
    creation=RANGES,
    period=RANGES,
    period_end=RANGES,
    author_given=st.none() | st.text(max_size=8),
    is_archived=st.none() | st.booleans(),
    sort=st.sampled_from(["-date", "creation", "period"]),
)


@given(query=QUERIES)
def test_the_digest_is_that_of_the_sorted_json_of_the_criteria(query: DocumentQuery) -> None:
    canonical = orjson.dumps(dataclasses.asdict(query), option=orjson.OPT_SORT_KEYS, default=str)
    assert query_digest(query) == hashlib.sha256(canonical).hexdigest()[:32]
