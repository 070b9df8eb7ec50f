"""A per-client token bucket for the public endpoints.

Each client (its IP address, or the first ``X-Forwarded-For`` hop when the gateway trusts a
proxy in front of it) gets a bucket of ``burst`` tokens refilled at ``rate`` per second; a
request takes one token, and without one it gets ``429`` with ``Retry-After`` (whole seconds
until a token is back). Buckets live in this process's memory: with several replicas behind a
load balancer, each replica limits separately, so a client may get up to ``replicas * rate``.
That is deliberate (no shared state or database write per public request); put a shared
limiter in the proxy when the sum matters.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

__all__ = ["TokenBucketLimiter", "client_key"]


class TokenBucketLimiter:
    def __init__(
        self, rate: float, burst: int, max_clients: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = float(burst)
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """Takes a token for ``client``: 0.0 when allowed, else the seconds until one is back."""
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            if tokens >= 1.0:
                if len(self._buckets) >= self.max_clients and client not in self._buckets:
                    self._prune(now)
                self._buckets[client] = (tokens - 1.0, now)
                return 0.0
            self._buckets[client] = (tokens, now)
            return (1.0 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        """Drops buckets that are full again (their clients are back to the initial state)."""
        full_after = self.burst / self.rate
        self._buckets = {c: (t, at) for c, (t, at) in self._buckets.items() if now - at < full_after}
        if len(self._buckets) >= self.max_clients:
            self._buckets.clear()

    @staticmethod
    def retry_after(wait: float) -> str:
        return str(max(1, math.ceil(wait)))


def client_key(peer: str | None, forwarded_for: str | None, trust_forwarded: bool) -> str:
    """Whom a request counts against: the first X-Forwarded-For hop when trusted, else the peer."""
    if trust_forwarded and forwarded_for:
        first = forwarded_for.split(",")[0].strip()
        if first:
            return first
    return peer or "unknown"
