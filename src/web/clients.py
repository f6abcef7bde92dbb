"""Who is asking: a client's network address, and limits counted per address.

A session hash costs nothing (every gradio_client.Client or page load gets a new one), so limits that
must hold against one person are counted per address as well:

    address(request)            # a gr.Request, a starlette Request or an ASGI scope -> "203.0.113.7"
    failures = Failures(5, 600) # at most 5 failures per address in any 10 minutes
    failures.locked_for(addr)   # seconds until this address may try again (0: it may)
    failures.add(addr)
    hourly = Hourly(256e6)      # an amount per address per hour: hourly.spend(addr, n) is False once over
    rate = EventRate(10)        # events per address and second: rate.wait(addr) is how long to hold one back

Failures and Hourly count in a SlidingWindow; every limit takes `now` (time.monotonic()), so tests set the clock.

Behind a proxy (Hugging Face Spaces) every request comes from the proxy's own address, and the client's
is the last entry of X-Forwarded-For (all its lines together), the one the proxy appended (entries before it
are whatever the client sent). TRUST_PROXY (src/settings.py; on by itself on a Space) says to read it. An
IPv6 client counts by its /64, and a forwarded loopback address is not this machine.
"""

import ipaddress
import threading
import time
from collections import deque

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


class SlidingWindow:
    """Amounts per key (failures, bytes, seconds of training) in the last `window` seconds. Times are rounded down
    to `step` seconds, so a key holds at most window / step entries; keys with nothing in the window are
    forgotten, and past MAX_ADDRESSES keys the oldest go. Every method takes `now` (time.monotonic() if None)."""

    def __init__(self, window: float, step: float = 0.0):
        self.window, self.step = window, step
        self._entries: dict[str, deque[list[float]]] = {}  # key -> [[time, amount], ...], oldest first
        self._lock = threading.Lock()

    def _time(self, now: float | None) -> float:
        now = time.monotonic() if now is None else now
        return now // self.step * self.step if self.step else now

    def _recent(self, key: str, now: float) -> deque[list[float]]:
        """The key's entries still in the window (call with the lock held)."""
        entries = self._entries.get(key, deque())
        while entries and now - entries[0][0] >= self.window:
            entries.popleft()
        if not entries:
            self._entries.pop(key, None)
        return entries

    def total(self, key: str, now: float | None = None) -> float:
        with self._lock:
            return sum(amount for _, amount in self._recent(key, self._time(now)))

    def wait(self, key: str, limit: float, now: float | None = None) -> float:
        """Seconds until the key's oldest entry leaves the window, if it holds `limit` or more; else 0."""
        now = self._time(now)
        with self._lock:
            entries = self._recent(key, now)
            if sum(amount for _, amount in entries) < limit:
                return 0.0
            return self.window - (now - entries[0][0])

    def add(self, key: str, amount: float = 1.0, now: float | None = None) -> float:
        """Count `amount` for `key`; returns its total in the window."""
        now = self._time(now)
        with self._lock:
            entries = self._recent(key, now)
            if entries and entries[-1][0] == now:
                entries[-1][1] += amount
            else:
                entries.append([now, amount])
            self._entries[key] = entries
            if len(self._entries) > MAX_ADDRESSES:  # many keys: forget the quiet ones, then the oldest
                for old in [k for k, e in self._entries.items() if now - e[-1][0] >= self.window]:
                    del self._entries[old]
                if len(self._entries) > MAX_ADDRESSES:
                    for old in list(self._entries)[: len(self._entries) - MAX_ADDRESSES // 2]:
                        del self._entries[old]
            return sum(amount for _, amount in entries)


class Failures:
    """Failures per address in a sliding window; an address with `limit` of them is locked until the oldest
    one leaves the window. Also a cap for all addresses together (`total_limit`), against guessing from many."""

    ALL = "*"  # the one key of the window that counts every address's failures

    def __init__(self, limit: int, window_seconds: float, total_limit: int | None = None):
        self.limit, self.total_limit = limit, total_limit
        self._window = SlidingWindow(window_seconds)
        self._all = SlidingWindow(window_seconds)  # apart, so that forgetting addresses never forgets the total

    def locked_for(self, addr: str, now: float | None = None) -> float:
        mine = self._window.wait(addr, self.limit, now)
        everyone = self._all.wait(self.ALL, self.total_limit, now) if self.total_limit is not None else 0.0
        return max(mine, everyone)

    def add(self, addr: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._window.add(addr, now=now)
        self._all.add(self.ALL, now=now)


class Hourly:
    """An amount per address in the last hour (bytes received, seconds of training), counted in minutes."""

    def __init__(self, hourly: float):
        self.hourly = hourly
        self._window = SlidingWindow(3600, step=60)

    def over(self, addr: str, amount: float = 0, now: float | None = None) -> bool:
        """Whether `amount` more would pass the hourly budget (before the work starts)."""
        return self._window.total(addr, now) + amount > self.hourly

    def spend(self, addr: str, amount: float, now: float | None = None) -> bool:
        """Count `amount` for `addr`; False once the hour's budget is passed."""
        return self._window.add(addr, amount, now) <= self.hourly


class EventRate:
    """Events per address (joins of Gradio's queue): `per_second` on average, in bursts of up to 3 seconds' worth.
    A faster sender is slowed down (wait() says for how long), and refused (None) once it would wait over
    MAX_WAIT seconds. Loopback addresses (the machine's own user, tests and benches) are not limited.

    A token bucket, not a SlidingWindow: right after a burst a sender may go on at `per_second`, evenly spaced,
    where a window would make it wait for the whole burst to leave."""

    MAX_WAIT = 5.0

    def __init__(self, per_second: float):
        self.rate, self.burst = per_second, 3 * per_second
        self._next: dict[str, float] = {}  # address -> when its bucket is empty again (a virtual schedule)
        self._lock = threading.Lock()

    def wait(self, addr: str, now: float | None = None) -> float | None:
        if self.rate <= 0 or is_loopback(addr) or addr == "unknown":
            return 0.0
        now = time.monotonic() if now is None else now
        with self._lock:
            start = max(self._next.get(addr, now), now - self.burst / self.rate)
            wait = start + 1 / self.rate - now - self.burst / self.rate
            if wait > self.MAX_WAIT:
                return None
            self._next[addr] = start + 1 / self.rate
            if len(self._next) > MAX_ADDRESSES:
                self._next = {a: t for a, t in self._next.items() if t > now}
        return max(0.0, wait)
