"""The fault tests use the FHIR API's fixtures (tests/api/conftest.py): the real app over
ASGI on the test databases (SQLite, and PostgreSQL when ``OPENDMP_TEST_DATABASE_URL`` is
set)."""

from tests.api.conftest import (  # noqa: F401
    _only_the_test_database_is_configured,
    fhir_app,
    fhir_runtime,
)
