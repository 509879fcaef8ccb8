"""The professional view without clutter (docs/portals.md, "The professional view"): a
record's documents as care episodes, versions and duplicates folded, relevant first.

Pure: it gets the documents the reader may see (the access filter ran before, in SQL) and
returns what to show, in order. Decisions, where the DMP's sources are silent:

- **Folding.** A superseded version is folded under the current version that (through a
  chain of replacements) replaces it — if the reader sees that one; otherwise it stays a line
  of its own (folding under a document the reader may not see would hint at it). Among the
  current documents, *duplicates* share type, author, day of the act and content hash (the
  same file deposited twice): the most recently deposited stays, the others fold under it.
- **Care episodes.** The documents of one establishment (the author's organisation; lacking
  it, the author) whose acts follow each other with less than ``EPISODE_GAP`` between the
  end of one and the start of the next form one episode (an encounter, a stay and its
  letters). A document with neither establishment nor author is an episode of its own.
  Episodes come newest first (by their last act); inside one, by relevance tier, then newest
  act; the first is the episode's *key document*.
- **Relevant first.** ``pinned``: the newest document of each pinned type (a doctor's VSM);
  ``first``: for each tier of the reader's profession, its ``per_tier`` newest documents.
- **New since the last visit.** A document deposited after the reader's previous access to
  the record is new; on a first visit (no previous access) nothing is marked.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from opendmp.domain.relevance import Relevance

EPISODE_GAP = dt.timedelta(days=2)
FoldReason = Literal["version", "duplicate"]


@dataclass(frozen=True, slots=True)
class Entry:
    """What the view needs to know of one document the reader may see."""

    id: uuid.UUID
    type_code: str
    status: str  # current | superseded
    act: dt.datetime  # start of the act (service start, or creation)
    act_end: dt.datetime  # end of the act (service stop, or its start)
    deposited_at: dt.datetime
    sha256: str
    establishment: str | None = None
    author: str | None = None
    replaces_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Folded:
    entry: Entry
    reason: FoldReason


@dataclass(frozen=True, slots=True)
class Line:
    """One document shown, with what is folded under it."""

    entry: Entry
    rank: int
    new: bool
    folded: tuple[Folded, ...] = ()


@dataclass(frozen=True, slots=True)
class Episode:
    establishment: str | None
    start: dt.datetime
    end: dt.datetime
    lines: tuple[Line, ...]  # the key document first

    @property
    def key(self) -> Line:
        return self.lines[0]

    @property
    def new(self) -> bool:
        return any(line.new for line in self.lines)


@dataclass(frozen=True, slots=True)
class Overview:
    pinned: tuple[Line, ...]
    first: tuple[Line, ...]
    episodes: tuple[Episode, ...]


def _newest_first(entry: Entry) -> tuple[float, float, str]:
    return (-entry.act.timestamp(), -entry.deposited_at.timestamp(), str(entry.id))


def _current_of(entry: Entry, successor: dict[uuid.UUID, Entry]) -> Entry | None:
    """The current document a superseded one folds under, if the reader sees it."""
    seen = {entry.id}
    found = successor.get(entry.id)
    while found is not None and found.status != "current":
        if found.id in seen:  # a cycle in bad data: do not fold
            return None
        seen.add(found.id)
        found = successor.get(found.id)
    return found


def fold(entries: Iterable[Entry]) -> dict[Entry, list[Folded]]:
    """Every document shown as a line (current versions, and superseded ones the reader sees
    no successor of), each with the versions and duplicates folded under it."""
    items = list(entries)
    successor = {e.replaces_id: e for e in items if e.replaces_id is not None}
    heads: dict[Entry, list[Folded]] = {}
    versions: list[tuple[Entry, Entry]] = []
    for entry in items:
        current = _current_of(entry, successor) if entry.status != "current" else None
        if current is None:
            heads[entry] = []
        else:
            versions.append((current, entry))
    twins: dict[tuple[str, str | None, dt.date, str], list[Entry]] = defaultdict(list)
    for head in heads:
        if head.status == "current":
            twins[(head.type_code, head.author, head.act.date(), head.sha256)].append(head)
    kept: dict[uuid.UUID, Entry] = {}
    for group in twins.values():
        group.sort(key=lambda e: (e.deposited_at, str(e.id)), reverse=True)
        for duplicate in group[1:]:
            heads.pop(duplicate)
            heads[group[0]].append(Folded(duplicate, "duplicate"))
            kept[duplicate.id] = group[0]
    for current, old in versions:
        heads[kept.get(current.id, current)].append(Folded(old, "version"))
    for folded in heads.values():
        folded.sort(key=lambda f: _newest_first(f.entry))
    return heads


def _episode_key(entry: Entry) -> tuple[str, str] | None:
    if entry.establishment:
        return ("establishment", entry.establishment)
    if entry.author:
        return ("author", entry.author)
    return None


def _episodes(lines: Sequence[Line]) -> list[Episode]:
    buckets: dict[tuple[str, str] | None, list[Line]] = defaultdict(list)
    for line in lines:
        buckets[_episode_key(line.entry)].append(line)
    episodes: list[Episode] = []
    for key, members in buckets.items():
        members.sort(key=lambda line: (line.entry.act, str(line.entry.id)))
        runs: list[list[Line]] = []
        end = None
        for line in members:
            if key is None or end is None or line.entry.act > end + EPISODE_GAP:
                runs.append([])
                end = line.entry.act_end
            runs[-1].append(line)
            end = max(end, line.entry.act_end)
        for run in runs:
            ordered = sorted(run, key=lambda line: (line.rank, *_newest_first(line.entry)))
            episodes.append(
                Episode(
                    establishment=ordered[0].entry.establishment,
                    start=min(line.entry.act for line in run),
                    end=max(line.entry.act_end for line in run),
                    lines=tuple(ordered),
                )
            )
    episodes.sort(key=lambda e: (-e.end.timestamp(), -e.start.timestamp(), str(e.key.entry.id)))
    return episodes


def build_overview(
    entries: Iterable[Entry],
    *,
    relevance: Relevance,
    profession: str | None,
    last_visit: dt.datetime | None,
) -> Overview:
    """The view of ``entries`` for a reader of ``profession`` whose previous access to the
    record was at ``last_visit`` (None: never)."""
    rule = relevance.rule(profession)
    lines = [
        Line(
            entry=head,
            rank=rule.rank(head.type_code),
            new=last_visit is not None and head.deposited_at > last_visit,
            folded=tuple(folded),
        )
        for head, folded in fold(entries).items()
    ]
    current = sorted(
        (line for line in lines if line.entry.status == "current"),
        key=lambda line: _newest_first(line.entry),
    )
    pinned: list[Line] = []
    for type_code in sorted(rule.pinned):
        newest = next((line for line in current if line.entry.type_code == type_code), None)
        if newest is not None:
            pinned.append(newest)
    pinned.sort(key=lambda line: _newest_first(line.entry))
    first: list[Line] = []
    for tier in range(len(rule.tiers)):
        first += [line for line in current if line.rank == tier][: relevance.per_tier]
    return Overview(tuple(pinned), tuple(first), tuple(_episodes(lines)))
