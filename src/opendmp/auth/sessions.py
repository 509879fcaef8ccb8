"""Portal session cookies and CSRF checks; the session itself lives in the database
(``opendmp.services.accounts.sessions``), the cookie only carries its random token.

Cookie attributes: ``HttpOnly`` (no script reads it), ``Secure`` (HTTPS only; the
``OPENDMP_COOKIE_SECURE=false`` escape exists for development over plain http and is
refused in production), ``SameSite=Strict`` (never sent on a cross-site request, the
first CSRF defence; the per-session token is the second), ``Path=/``. With ``Secure`` the
name takes the ``__Host-`` prefix, which browsers accept only from a secure origin without
a ``Domain`` attribute: no sibling sub-domain can plant or override it.
"""

from __future__ import annotations

from opendmp.config import Settings
from opendmp.services.accounts.sessions import (
    Holder,
    SessionInfo,
    Stage,
    check_csrf,
    csrf_token_for,
    logout,
    logout_everywhere,
    require_patient,
    resolve_session,
)

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "Holder",
    "SessionInfo",
    "Stage",
    "check_csrf",
    "clear_session_cookie",
    "cookie_name",
    "csrf_token_for",
    "logout",
    "logout_everywhere",
    "require_patient",
    "resolve_session",
    "session_cookie",
]

CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
_NAME = "opendmp_session"


def cookie_name(settings: Settings) -> str:
    return f"__Host-{_NAME}" if settings.cookie_secure else _NAME


def _attributes(settings: Settings, max_age: int) -> list[str]:
    parts = [f"Max-Age={max_age}", "Path=/", "HttpOnly", "SameSite=Strict"]
    if settings.cookie_secure:
        parts.append("Secure")
    return parts


def session_cookie(settings: Settings, token: str) -> str:
    """The ``Set-Cookie`` value that hands ``token`` to the browser.

    ``Max-Age`` is the absolute session lifetime: the server enforces both timeouts
    anyway, this only lets the browser forget a cookie that can no longer work.
    """
    max_age = settings.session_absolute_hours * 3600
    return "; ".join([f"{cookie_name(settings)}={token}", *_attributes(settings, max_age)])


def clear_session_cookie(settings: Settings) -> str:
    """The ``Set-Cookie`` value that removes the session cookie (after logout)."""
    return "; ".join([f"{cookie_name(settings)}=", *_attributes(settings, 0)])
