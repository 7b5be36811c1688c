"""Exit 0 when the services named by DATABASE_URL, REDIS_URL and CELERY_BROKER_URL answer."""

from __future__ import annotations

import os
import socket
import sys
from urllib.parse import urlparse


def reachable(url: str | None, timeout: float = 2.0) -> bool:
    if not url:
        return False
    parsed = urlparse(url)
    default_ports = {"postgres": 5432, "postgresql": 5432, "redis": 6379, "amqp": 5672}
    port = parsed.port or default_ports.get(parsed.scheme, 0)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def missing_services() -> list[str]:
    names = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")
    missing = [name for name in names if not reachable(os.environ.get(name))]
    url = os.environ.get("DATABASE_URL", "")
    if url and not url.startswith(("postgres://", "postgresql://")):
        missing.append("DATABASE_URL (must be PostgreSQL)")
    return missing


if __name__ == "__main__":
    absent = missing_services()
    if absent:
        print("not reachable: " + ", ".join(absent), file=sys.stderr)
    sys.exit(1 if absent else 0)
