"""Helpers shared by the test suites: system-service checks and small async utilities."""

from __future__ import annotations

import os
import shutil
import socket

import pytest

# CI sets this: a missing system service is then a failure, never a skip.
REQUIRE_SERVICES = os.environ.get("KEYSLOT_REQUIRE_SERVICES") == "1"


def require_binary(name: str, install_hint: str) -> str:
    """Path of `name`, or skip (fail under KEYSLOT_REQUIRE_SERVICES=1) naming what to install."""
    path = shutil.which(name)
    if path is None:
        message = f"`{name}` is not installed; install it with: {install_hint}"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
