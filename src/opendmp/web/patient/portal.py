"""The patient portal (``/patient``): what the DMP promises its holder (docs/rules.md §3.3).

Server-rendered, French by default with English, no JavaScript; every form carries the
session's CSRF token; the session is server-side (``web.patient.session``). The routes only
parse, call a service and shape the page:

- ``signin``: sign-in, one-time password change, TOTP enrolment and code, password reset,
  sign out (here or everywhere);
- ``documents``: list, view, content, download, mask, add one's own;
- ``contact``: the account page, its e-mail address (changed with a code), the forgotten
  login;
- ``history``: access history and reports, emergency notices and their acknowledgement;
- ``manage``: home, professionals, choices, account, record;
- ``opposition``: objecting to an announced opening (opt-out), without an account.
- ``delegations``: caregivers and a second legal representative, invitations, switching.
"""

from __future__ import annotations

from fastapi import APIRouter

from opendmp.web.patient.contact import router as contact_router
from opendmp.web.patient.delegations import router as delegations_router
from opendmp.web.patient.documents import router as documents_router
from opendmp.web.patient.history import router as history_router
from opendmp.web.patient.manage import router as manage_router
from opendmp.web.patient.opposition import router as opposition_router
from opendmp.web.patient.signin import router as signin_router

# Sign-in first: its fixed paths must win over the others' patterns.
routers: tuple[APIRouter, ...] = (
    signin_router,
    opposition_router,
    contact_router,
    documents_router,
    history_router,
    manage_router,
    delegations_router,
)
