"""How much work one request may ask for (docs/security.md, "Bounded work per request").

Each bound is an ``OPENDMP_MAX_*`` setting (config.py); the defaults fit what hospital
software sends: a submission set holds a few documents (rarely more than a few dozen), a CDA
with an embedded PDF weighs a few megabytes. A request beyond a bound is refused before the
costly work (decoding, validation, hashing, encryption, the database): 413 when it is too
large in bytes, 422 when it holds too many entries, documents, values or operations, with
the limit in the message. Nothing is stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from opendmp.domain.errors import OpenDMPError

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """The bounds of one request; the defaults are the settings' defaults."""

    max_request_bytes: int = 50 * MIB  # a whole request body
    max_bundle_entries: int = 300  # entries of an ITI-65 Bundle
    max_documents: int = 100  # documents of one submission (ITI-65, portals)
    # One document, decoded: the professional portal wraps a 20 MiB PDF into a ~27 MiB CDA.
    max_document_bytes: int = 30 * MIB
    max_search_values: int = 100  # values of one search parameter (repeats and a,b,c)
    max_patch_operations: int = 10  # operations of one metadata PATCH

    def problems(self) -> list[str]:
        """Bounds that contradict each other. A ``max_request_bytes`` below the base64 of
        ``max_document_bytes`` is not one: the request bound then simply comes first."""
        found: list[str] = []
        if self.max_bundle_entries < 2 * self.max_documents + 1:
            found.append(
                f"max_bundle_entries ({self.max_bundle_entries}) cannot carry max_documents"
                f" ({self.max_documents}) documents: each needs a DocumentReference and a"
                " Binary, plus the SubmissionSet"
            )
        return found


class LimitExceeded(OpenDMPError):
    """A request beyond one of the bounds: 422 by default (too many), 413 for bytes."""

    code = "limit-exceeded"
    http_status = 422


def decoded_size(text: str) -> int:
    """Bytes the base64 ``text`` decodes to, computed without decoding it."""
    padding = len(text) - len(text.rstrip("="))
    return len(text) * 3 // 4 - min(padding, 2)


def too_many(what: str, found: int, limit: int, setting: str, *, code: str) -> LimitExceeded:
    return LimitExceeded(
        f"{what}: {found}, more than the {limit} accepted in one request ({setting})", code=code
    )


def check_document_count(what: str, found: int, limits: RequestLimits) -> None:
    """422 beyond ``max_documents`` documents in one submission (ITI-65, portals)."""
    if found > limits.max_documents:
        raise too_many(
            what,
            found,
            limits.max_documents,
            "OPENDMP_MAX_DOCUMENTS_PER_SUBMISSION",
            code="too-many-documents",
        )


def too_large(what: str, size: int, limit: int, setting: str) -> LimitExceeded:
    return LimitExceeded(
        f"{what} holds {size} bytes, more than the {limit} accepted ({setting})",
        code="document-too-large",
        http_status=413,
    )


def check_value_counts(pairs: list[tuple[str, str]], limit: int) -> None:
    """422 when one search parameter carries more than ``limit`` values (repeats and ``,``
    alternatives together): each value is work (an SQL bind parameter, a clause), and
    ``_id=a,b,c…`` is as long as the caller likes."""
    counts: dict[str, int] = {}
    for raw_name, value in pairs:
        name = raw_name.partition(":")[0][:64]
        counts[name] = counts.get(name, 0) + value.count(",") + 1
        if counts[name] > limit:
            raise too_many(
                f"values of the search parameter {name!r}",
                counts[name],
                limit,
                "OPENDMP_MAX_SEARCH_VALUES",
                code="too-many-values",
            )
