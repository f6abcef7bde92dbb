"""Who is asking: a client's network address, and limits counted per address.

A session hash costs nothing (every gradio_client.Client or page load gets a new one), so limits that
must hold against one person are counted per address as well:

    address(request)            # a gr.Request, a starlette Request or an ASGI scope -> "203.0.113.7"
    failures = Failures(5, 600) # at most 5 failures per address in any 10 minutes
    failures.locked_for(addr)   # seconds until this address may try again (0: it may)
    failures.add(addr)
    hourly = Hourly(256e6)      # an amount per address per hour: hourly.spend(addr, n) is False once over

Behind a proxy (Hugging Face Spaces) every request comes from the proxy's own address, and the client's
is the last entry of X-Forwarded-For (all its lines together), the one the proxy appended (entries before it
are whatever the client sent). TRUST_PROXY (src/settings.py; on by itself on a Space) says to read it. An
IPv6 client counts by its /64, and a forwarded loopback address is not this machine.
"""

import ipaddress
import threading
import time
from collections import defaultdict, deque

from src import settings


def _forwarded(lines: list[str]) -> str | None:
    """The last entry of all X-Forwarded-For lines together: the one the proxy appended."""
    entries = [e.strip() for line in lines for e in line.split(",")]
    return entries[-1] if entries and entries[-1] else None


def _key(host: str, forwarded: bool) -> str:
    """An address as limits count it: an IPv6 address by its /64 (one client's own network); a loopback address
    that came forwarded marked as such, so that no client can pass for this machine."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return f"forwarded:{ip}" if forwarded else str(ip)
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def address(request) -> str:
    """The client's address for limits; "unknown" when there is none (e.g. a request built in a test)."""
    if request is None:
        return "unknown"
    if isinstance(request, dict):  # an ASGI scope
        lines = [v.decode("latin-1") for k, v in request.get("headers", []) if k.lower() == b"x-forwarded-for"]
        client = request.get("client")
        host = client[0] if client else None
    else:
        headers = getattr(request, "headers", None) or {}
        lines = (
            headers.getlist("x-forwarded-for")
            if hasattr(headers, "getlist")
            else [headers["x-forwarded-for"]]
            if "x-forwarded-for" in headers
            else []
        )
        host = getattr(getattr(request, "client", None), "host", None)
    forwarded = _forwarded(lines) if settings.TRUST_PROXY else None
    if forwarded:
        return _key(forwarded, forwarded=True)
    return _key(str(host), forwarded=False) if host else "unknown"


def is_loopback(addr: str) -> bool:
    """This machine itself (its own user, tests, benches): per-address limits do not apply to it."""
    return addr.startswith("127.") or addr == "::1"


MAX_ADDRESSES = 100_000  # addresses a per-address record keeps before it forgets the quiet ones


class Failures:
    """Failures per address in a sliding window; an address with `limit` of them is locked until the oldest
    one leaves the window. Also a cap for all addresses together (`total_limit`), against guessing from many."""

    def __init__(self, limit: int, window_seconds: float, total_limit: int | None = None):
        self.limit, self.window, self.total_limit = limit, window_seconds, total_limit
        self._times: dict[str, deque[float]] = defaultdict(deque)
        self._all: deque[float] = deque()
        self._lock = threading.Lock()

    def _trim(self, times: deque[float], now: float) -> None:
        while times and now - times[0] >= self.window:
            times.popleft()

    def locked_for(self, addr: str, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            times = self._times.get(addr, deque())
            self._trim(times, now)
            self._trim(self._all, now)
            waits = [0.0]
            if len(times) >= self.limit:
                waits.append(self.window - (now - times[0]))
            if self.total_limit is not None and len(self._all) >= self.total_limit:
                waits.append(self.window - (now - self._all[0]))
            if not times:
                self._times.pop(addr, None)
            return max(waits)

    def add(self, addr: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._times[addr].append(now)
            self._all.append(now)
            if len(self._times) > MAX_ADDRESSES:  # many addresses: forget those with no failure in the window
                for old in [a for a, times in self._times.items() if now - times[-1] >= self.window]:
                    del self._times[old]


class Hourly:
    """An amount per address in the last hour (bytes received, seconds of training), in minute buckets: at most
    60 per address; addresses quiet for an hour are forgotten, and at most MAX_ADDRESSES are kept."""

    def __init__(self, hourly: float):
        self.hourly = hourly
        self._sent: dict[str, dict[int, float]] = {}  # address -> {minute: amount}
        self._lock = threading.Lock()

    def _recent(self, addr: str, minute: int) -> dict[int, float]:
        buckets = {m: n for m, n in self._sent.get(addr, {}).items() if minute - m < 60}
        if buckets:
            self._sent[addr] = buckets
        else:
            self._sent.pop(addr, None)
        return buckets

    def over(self, addr: str, amount: float = 0) -> bool:
        """Whether `amount` more would pass the hourly budget (before the work starts)."""
        with self._lock:
            return sum(self._recent(addr, int(time.monotonic() // 60)).values()) + amount > self.hourly

    def spend(self, addr: str, amount: float) -> bool:
        """Count `amount` for `addr`; False once the hour's budget is passed."""
        minute = int(time.monotonic() // 60)
        with self._lock:
            buckets = self._recent(addr, minute)
            buckets[minute] = buckets.get(minute, 0) + amount
            self._sent[addr] = buckets
            if len(self._sent) > MAX_ADDRESSES:  # a flood of addresses: drop the oldest entries
                for old in list(self._sent)[: len(self._sent) - MAX_ADDRESSES // 2]:
                    del self._sent[old]
            return sum(buckets.values()) <= self.hourly
