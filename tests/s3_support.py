"""A real S3 API for the tests: moto's S3 server on loopback (``moto[server]``).

``start_moto_server()`` starts one in this process (a thread serving HTTP on a free
127.0.0.1 port) and returns its endpoint URL; the test session starts one per pytest-xdist
worker (fixture ``s3_endpoint`` in tests/conftest.py) and ``s3_store_url`` gives each test
``s3://<fresh bucket>/<prefix>``. The client code under test (aiobotocore) speaks HTTP to it
exactly as it would to AWS, MinIO or Ceph: nothing of S3 is mocked.

The server is in-process so that a test can do to an object what ``os.utime`` does to a
file (``set_last_modified``): S3 has no API to age an object.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import uuid
from typing import Any

import boto3
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import MotoRequestHandler
from moto.s3.models import s3_backends

from opendmp.blobs.s3 import S3BlobStore

REGION = "us-east-1"
# Fake credentials, set for the whole test session (and the processes it starts): moto
# accepts any, and botocore never looks further (no instance metadata, no ~/.aws).
TEST_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "opendmp-test",
    "AWS_SECRET_ACCESS_KEY": "opendmp-test-secret",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}

_servers: list[ThreadedMotoServer] = []


def use_test_credentials(environ: Any = os.environ) -> None:
    """Put the fake credentials in ``environ`` (a dict or ``os.environ``)."""
    for name, value in TEST_CREDENTIALS.items():
        environ[name] = value


def start_moto_server() -> str:
    """Start moto's S3 server on a free loopback port; return its endpoint URL. It serves
    until the process ends (or ``stop_moto_servers``)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    # TCP_NODELAY on the server's connections: without it the second small write of each
    # response waits for the client's delayed ACK (~40 ms per request on Linux).
    MotoRequestHandler.disable_nagle_algorithm = True
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _servers.append(server)
    host, port = server.get_host_and_port()
    return f"http://{host}:{port}"


def stop_moto_servers() -> None:
    while _servers:
        _servers.pop().stop()


@functools.cache
def s3_client(endpoint: str) -> Any:
    """A plain synchronous boto3 client for the tests' own looks (not the code under test)."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def new_bucket(endpoint: str, prefix: str = "opendmp-test") -> str:
    """Create a fresh bucket; return its name."""
    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    s3_client(endpoint).create_bucket(Bucket=name)
    return name


def new_store_url(endpoint: str, prefix: str = "blobs") -> str:
    """``s3://<fresh bucket>/<prefix>``."""
    return f"s3://{new_bucket(endpoint)}/{prefix}"


def open_test_store(endpoint: str, prefix: str = "blobs") -> S3BlobStore:
    """An ``S3BlobStore`` on a fresh bucket of ``endpoint``, as ``OPENDMP_BLOB_STORE`` would
    open it."""
    return S3BlobStore(new_bucket(endpoint), f"{prefix}/", endpoint_url=endpoint, region=REGION)


def _bucket(name: str) -> Any:
    return s3_backends[DEFAULT_ACCOUNT_ID]["aws"].buckets[name]


def set_last_modified(bucket: str, name: str, when: dt.datetime) -> None:
    """Age the object ``name`` (full key, prefix included) as ``os.utime`` ages a file."""
    key = _bucket(bucket).keys[name]
    key.last_modified = when.astimezone(dt.UTC).replace(tzinfo=None)
