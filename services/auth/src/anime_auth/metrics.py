"""Auth's own Prometheus metrics (served with the common ones at /internal/metrics)."""

from __future__ import annotations

from prometheus_client import Histogram

# Seconds one argon2id hash or verification takes in its worker thread, without
# the wait for a free slot (PASSWORD_HASH_CONCURRENCY); ~0.1-0.2 s by default.
PASSWORD_HASH_SECONDS = Histogram(
    "auth_password_hash_seconds",
    "Time of one argon2id hash or verification, in its worker thread",
    ["operation"],
    buckets=(0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0),
)
