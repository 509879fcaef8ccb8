"""The fault tests use the API tests' fixtures (tests/api/conftest.py): the context of the
app of the ``runtime``/``app`` fixtures (tests/conftest.py), on the test
databases (SQLite, and PostgreSQL when ``OPENDMP_TEST_DATABASE_URL`` is set)."""

from tests.api.conftest import (  # noqa: F401
    ctx_fixture,
)
