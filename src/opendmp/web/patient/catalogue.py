"""The confirmations the patient portal may show after a redirect.

The wording itself is in ``web/locale/<lang>/LC_MESSAGES/patient.po`` (``patient.done.<key>``);
look it up with ``web.i18n.t``.
"""

from __future__ import annotations

# Confirmations a redirect may name with ``?fait=<key>`` (anything else is ignored).
DONE_KEYS = frozenset(
    {
        "password",
        "totp",
        "reset",
        "signed-out",
        "signed-out-all",
        "masked",
        "unmasked",
        "uploaded",
        "reported",
        "authorized",
        "revoked",
        "blocked",
        "unblocked",
        "treating-on",
        "treating-off",
        "emergency",
        "notifications",
        "matrix",
        "closed",
        "destruction",
        "reactivated",
        "acknowledged",
        "email-code-sent",
        "email-changed",
        "invited",
        "delegation-revoked",
        "invitation-accepted",
        "invitation-refused",
    }
)
