"""A real S3-protocol server for the tests: moto's server mode on 127.0.0.1.

One server runs per test session (started on first use, stopped at the end); each test that
uses it starts from an empty server (``reset``). squall talks to it over HTTP through s3fs
and botocore exactly as it would talk to Amazon S3; the tests read objects back through boto3
to check what the server actually stored.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from dataclasses import dataclass, field
from typing import Any

__all__ = ["S3Server"]

REGION = "us-east-1"


@dataclass
class S3Server:
    """A moto server on a free loopback port."""

    key: str = "squall-test-key"
    secret: str = "squall-test-secret"
    _server: Any = field(default=None, repr=False)
    endpoint_url: str = ""

    def start(self) -> S3Server:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def _post(self, path: str, body: bytes = b"") -> dict[str, Any]:
        req = urllib.request.Request(
            self.endpoint_url + path,
            data=body,
            method="POST",
            headers={"Content-Type": "text/plain"},  # moto reads the raw body, not a form
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
        with opener.open(req, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")  # type: ignore[no-any-return]

    def reset(self) -> None:
        """Forget every bucket, object, key and user; requests are not authenticated."""
        self._post("/moto-api/reset")
        self.enforce_auth(False)

    def enforce_auth(self, on: bool) -> None:
        """Check every request's credentials and IAM policies (off: accept any credentials)."""
        self._post("/moto-api/reset-auth", b"0" if on else b"inf")

    def client(self, service: str = "s3", **credentials: str) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=credentials.get("key", self.key),
            aws_secret_access_key=credentials.get("secret", self.secret),
        )

    def storage_options(self, **extra: Any) -> dict[str, Any]:
        """storage_options for a stage on this server, with the test credentials."""
        return {
            "endpoint_url": self.endpoint_url,
            "key": self.key,
            "secret": self.secret,
            "client_kwargs": {"region_name": REGION},
            **extra,
        }

    def bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name
