"""One error hierarchy with stable codes.

Every error carries a stable ``code`` (kebab-case, never renamed once published: scripts and
hospital software match on it), an HTTP status hint and a message that is safe to show: it
never contains health data or another patient's identity. The API turns it into an
``OperationOutcome``, the portals into an HTML page, the CLI into one line and exit code 1.
"""

from __future__ import annotations


class OpenDMPError(Exception):
    """Base of every error OpenDMP raises on purpose."""

    code: str = "error"
    http_status: int = 400

    def __init__(self, message: str, *, code: str | None = None, http_status: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if http_status is not None:
            self.http_status = http_status

    def __str__(self) -> str:
        return f"{self.message} [{self.code}]"


class InvalidInput(OpenDMPError):
    """Malformed or inconsistent input (identifiers, dates, codes, documents)."""

    code = "invalid-input"
    http_status = 400


class InvalidIdentifier(InvalidInput):
    """An INS, IdNat_PS, RPPS or FINESS that does not parse or whose key does not check."""

    code = "invalid-identifier"


class NotFound(OpenDMPError):
    code = "not-found"
    http_status = 404


class Conflict(OpenDMPError):
    """The request contradicts the current state (e.g. a second record for one INS)."""

    code = "conflict"
    http_status = 409


class IllegalTransition(Conflict):
    """A lifecycle transition the state machine forbids (e.g. closing a closed record)."""

    code = "illegal-transition"


class AccessDenied(OpenDMPError):
    """The policy refused the action; ``code`` is the policy's reason."""

    code = "access-denied"
    http_status = 403


class Gone(OpenDMPError):
    code = "gone"
    http_status = 410


class IntegrityFailure(OpenDMPError):
    """Stored data failed an integrity check (tampered blob, broken audit chain)."""

    code = "integrity-failure"
    http_status = 500


class KeyFailure(OpenDMPError):
    """A cryptographic key is missing or does not match (e.g. the wrong master key)."""

    code = "key-failure"
    http_status = 500


class ConfigurationError(OpenDMPError):
    code = "configuration-error"
    http_status = 500


class Unauthenticated(OpenDMPError):
    """No credential, or a credential that does not prove who is asking (token, certificate,
    establishment assertion); ``code`` names what failed (``token-expired``, …)."""

    code = "unauthenticated"
    http_status = 401


class AuthenticationFailed(Unauthenticated):
    """Patient sign-in refused. The code says why only when that reveals nothing to a guesser:
    an unknown login and a wrong password share ``invalid-credentials``."""

    code = "invalid-credentials"
    http_status = 401


class RateLimited(OpenDMPError):
    """Too many attempts in the current window; ``retry_after`` is in whole seconds."""

    code = "rate-limited"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int, code: str | None = None):
        super().__init__(message, code=code)
        self.retry_after = retry_after


class AccountLocked(RateLimited):
    """Too many consecutive failed sign-ins: the account waits until ``retry_after``."""

    code = "account-locked"


class Unavailable(OpenDMPError):
    """Something OpenDMP depends on (the database) is out of reach for now; nothing was
    changed and the same request may be sent again after ``retry_after`` seconds."""

    code = "service-unavailable"
    http_status = 503

    def __init__(self, message: str, *, retry_after: int = 5, code: str | None = None):
        super().__init__(message, code=code)
        self.retry_after = retry_after


class InsufficientStorage(OpenDMPError):
    """The document store has no room left (disk full, quota): nothing was stored."""

    code = "storage-full"
    http_status = 507
