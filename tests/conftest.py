"""Fixtures shared by every test: a fresh workspace per test, and an S3 server on loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import squall
from tests.s3_server import S3Server

# Variables through which the AWS credential chain could reach real credentials or a real
# endpoint; the S3 tests run without them, so only the test server is ever contacted.
_AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


@pytest.fixture(scope="session", autouse=True)
def warm_pool() -> Iterator[None]:
    """Jobs of the whole run share one warm pool, as a user's jobs do; it ends with the run.

    Only a pool this run started is stopped: one that ran before is left as it was.
    """
    from squall.compute import warm

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SQUALL_WARM_POOL_IDLE", os.environ.get("SQUALL_WARM_POOL_IDLE", "60"))
        before = warm.status()
        yield
        after = warm.status()
        if after is not None and (before is None or before["pid"] != after["pid"]):
            warm.stop()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "ws"


@pytest.fixture
def session(home: Path) -> squall.Session:
    return squall.connect(home)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One moto S3 server on 127.0.0.1 for the whole test run, stopped at its end.

    The AWS credential chain is cut off from this machine's real configuration: no AWS
    variables, empty config files, no instance metadata lookups.
    """
    empty = tmp_path_factory.mktemp("aws") / "none"
    with pytest.MonkeyPatch.context() as mp:
        for name in _AWS_VARIABLES:
            mp.delenv(name, raising=False)
        mp.setenv("AWS_CONFIG_FILE", str(empty))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        no_proxy = ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1", "localhost"]))
        mp.setenv("NO_PROXY", no_proxy)
        server = S3Server().start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def s3(s3_server: S3Server) -> S3Server:
    """The S3 server, emptied for this test, with one bucket ``squall-test``."""
    s3_server.reset()
    s3_server.bucket("squall-test")
    return s3_server
