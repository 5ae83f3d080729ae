"""Redis for the tests of the abuse limits: the local server (``SEOULRUN_TEST_REDIS_URL``, by default
``redis://127.0.0.1:6379/0``), and a key prefix of each test's own so that tests never share counters.

Without an answer from Redis these tests are skipped, unless ``SEOULRUN_TEST_REDIS_REQUIRED=1`` (as in
``.ci/run``), where they fail.
"""

from __future__ import annotations

import os
import socket
import uuid
from urllib.parse import urlsplit

import pytest

REDIS_URL = os.environ.get("SEOULRUN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_REQUIRED = os.environ.get("SEOULRUN_TEST_REDIS_REQUIRED", "") == "1"


def _answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def redis_or_skip() -> str:
    """The URL of a Redis that answers, or skip (fail when Redis is required)."""
    if not _answers(REDIS_URL):
        if REDIS_REQUIRED:
            pytest.fail(f"SEOULRUN_TEST_REDIS_REQUIRED=1 but Redis does not answer at {REDIS_URL}")
        pytest.skip(f"Redis does not answer at {REDIS_URL}")
    return REDIS_URL


def unique_prefix() -> str:
    return f"seoulrun-test-{uuid.uuid4().hex[:12]}:"
