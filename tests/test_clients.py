"""Limits per client address (src/web/clients.py; the middleware that applies them, src/web/uploads.py) and the
operator's sign-in lockout. Every limit is given the time (`now`), so no test waits for the clock."""

import json
from types import SimpleNamespace

import pytest

from src import settings
from src.web import clients, uploads


def request(host, forwarded=None):
    return SimpleNamespace(
        client=SimpleNamespace(host=host), headers={"x-forwarded-for": forwarded} if forwarded else {}, session_hash="s"
    )


def test_the_address_is_the_proxys_last_forwarded_entry_only_behind_a_trusted_proxy(monkeypatch):
    monkeypatch.setattr(settings, "TRUST_PROXY", False)
    assert clients.address(request("10.0.0.1", "1.2.3.4")) == "10.0.0.1"  # a client cannot choose its address
    monkeypatch.setattr(settings, "TRUST_PROXY", True)
    assert clients.address(request("10.0.0.1", "6.6.6.6, 1.2.3.4")) == "1.2.3.4"  # what the proxy appended
    assert clients.address(request("10.0.0.1")) == "10.0.0.1"
    scope = {"type": "http", "client": ("10.0.0.2", 5), "headers": [(b"x-forwarded-for", b"9.9.9.9")]}
    assert clients.address(scope) == "9.9.9.9" and clients.address(None) == "unknown"


def test_every_reader_of_forwarded_lines_takes_the_last_entry_of_all_of_them(monkeypatch):
    from starlette.requests import Request

    monkeypatch.setattr(settings, "TRUST_PROXY", True)
    # A client's own line first, the proxy's appended after it: the scope and a starlette Request agree.
    scope = {
        "type": "http",
        "client": ("10.0.0.2", 5),
        "method": "GET",
        "path": "/",
        "query_string": b"",
        "headers": [(b"x-forwarded-for", b"127.0.0.1"), (b"x-forwarded-for", b"6.6.6.6, 1.2.3.4")],
    }
    assert clients.address(scope) == clients.address(Request(scope)) == "1.2.3.4"


def test_a_forwarded_loopback_address_is_not_this_machine(monkeypatch):
    monkeypatch.setattr(settings, "TRUST_PROXY", True)
    stranger = clients.address(request("10.0.0.1", "127.0.0.1"))
    assert not clients.is_loopback(stranger)
    rate = clients.EventRate(per_second=1)
    assert [rate.wait(stranger, now=0.0) is None for _ in range(12)][-1]  # limited like anyone: refused after a burst
    monkeypatch.setattr(settings, "TRUST_PROXY", False)
    assert clients.is_loopback(clients.address(request("127.0.0.1", "127.0.0.1")))  # this machine's own user


def test_an_ipv6_client_counts_by_its_64(monkeypatch):
    monkeypatch.setattr(settings, "TRUST_PROXY", True)
    a = clients.address(request("10.0.0.1", "2001:db8:1:2::1"))
    b = clients.address(request("10.0.0.1", "2001:db8:1:2:ffff::9"))
    c = clients.address(request("10.0.0.1", "2001:db8:1:3::1"))
    assert a == b == "2001:db8:1:2::/64" != c
    assert clients.address(request("10.0.0.1", "::ffff:1.2.3.4")) == "1.2.3.4"


def test_failures_lock_an_address_for_the_window_and_all_addresses_past_the_total():
    failures = clients.Failures(3, 600, total_limit=5)
    for t in range(3):
        assert failures.locked_for("a", now=t) == 0
        failures.add("a", now=t)
    assert failures.locked_for("a", now=10) == pytest.approx(590)  # until the first failure is 10 minutes old
    assert failures.locked_for("b", now=10) == 0
    failures.add("b", now=11)
    failures.add("c", now=12)
    assert failures.locked_for("d", now=13) == pytest.approx(587)  # five in all: everyone waits
    assert failures.locked_for("a", now=601) == 0 and failures.locked_for("d", now=612) == 0


def test_a_fast_sender_is_slowed_then_refused_and_loopback_is_not_limited():
    rate = clients.EventRate(10)
    waits = [rate.wait("1.2.3.4", now=100.0) for _ in range(100)]
    assert waits[:30] == [0.0] * 30  # a burst of three seconds' worth
    assert waits[30:32] == pytest.approx([0.1, 0.2])  # then one every 0.1 s
    assert waits[79] == pytest.approx(5.0) and waits[80:] == [None] * 20  # refused past 5 s of waiting
    assert rate.wait("5.6.7.8", now=100.0) == 0.0  # others are unaffected
    assert all(rate.wait("127.0.0.1", now=100.0) == 0.0 for _ in range(100))
    assert rate.wait("1.2.3.4", now=108.0) == 0.0  # 8 s later the burst is back: its slots are in the past


def test_an_hourly_budget_counts_what_was_spent_in_the_last_hour_by_the_minute():
    hourly = clients.Hourly(100)
    assert hourly.spend("a", 60, now=0.0) and not hourly.over("a", 40, now=59.0)
    assert hourly.over("a", 41, now=59.0) and not hourly.over("b", 100, now=59.0)  # per address
    assert not hourly.spend("a", 50, now=1800.0)  # over the budget: counted, and refused
    assert hourly.over("a", now=3599.0) and not hourly.over("a", 40, now=3600.0)  # the first minute has left
    assert not hourly.over("a", 100, now=5400.0)  # and all of it, an hour after the last


def test_chunked_uploads_count_against_the_hourly_budget():
    """The hourly upload budget counts the bytes received, so chunked bodies (no Content-Length) count too."""
    from tests.conftest import in_a_fresh_loop
    from tests.test_uploads import asgi_call

    async def gradio(scope, receive, send):  # reads the whole body, as Gradio's upload route does
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"[]"})

    limits = uploads.RequestLimits(gradio, hourly=1_000_000)

    async def upload(nbytes: int, addr: str = "203.0.113.9") -> int:
        chunks = [{"type": "http.request", "body": b"x" * 65536, "more_body": True} for _ in range(nbytes // 65536)] + [
            {"type": "http.request", "body": b"", "more_body": False}
        ]
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/gradio_api/upload",
            "client": (addr, 1),
            "headers": [(b"transfer-encoding", b"chunked")],
        }
        return (await asgi_call(limits, scope, chunks))[0]["status"]

    statuses = [in_a_fresh_loop(upload(300_000)) for _ in range(4)]
    assert statuses == [200, 200, 200, 429], statuses  # the 4th passes 1,000,000 bytes while it is received
    assert in_a_fresh_loop(upload(65536)) == 429  # and the address is over its budget for the hour
    assert in_a_fresh_loop(upload(300_000, addr="198.51.100.1")) == 200  # another address is not


def test_wrong_operator_passwords_lock_the_address_out_without_sleeping(tmp_path, monkeypatch):
    import gradio as gr

    from src.reading.inference import ModelStore
    from src.web.operator_page import OperatorPage
    from src.web.visitors import Visitors

    monkeypatch.setattr(settings, "MAX_SIGN_IN_FAILURES", 3)
    page = OperatorPage(ModelStore(settings.CHECKPOINT_DIR, settings.DEFAULT_CHECKPOINT), Visitors(tmp_path), "right")
    guesser, operator = request("1.1.1.1"), request("2.2.2.2")
    for _ in range(3):
        assert page.check_sign_in("guess", guesser)["is_valid"]
        with pytest.raises(gr.Error, match="Wrong password"):
            page.sign_in("guess", guesser)
    check = page.check_sign_in("right", guesser)  # locked: refused before the queue, even the right password
    assert not check["is_valid"] and "locked for 10 more minutes" in check["message"]
    with pytest.raises(gr.Error, match="Too many wrong passwords"):
        page.sign_in("right", guesser)
    assert page.check_sign_in("right", operator)["is_valid"] and page.sign_in("right", operator)[0] is True


def test_one_address_has_at_most_its_share_of_events_in_flight(monkeypatch):
    """Joins of an address that already has `limit` events queued or running wait for one of them to end (on the
    event loop), then get 429; other addresses, loopback, and events with their own admission go on at once."""
    import asyncio
    import time
    from types import SimpleNamespace

    from tests.conftest import in_a_fresh_loop

    reading = SimpleNamespace(api_name="classify", validator=None)
    training = SimpleNamespace(api_name="train", validator=lambda *a: None)
    events = {f"e{i}": SimpleNamespace(fn=reading, request=request("203.0.113.1")) for i in range(3)}
    blocks = SimpleNamespace(fns={0: reading, 1: training}, _queue=SimpleNamespace(event_ids_to_events=events))
    in_flight = uploads.InFlight(3)
    monkeypatch.setattr(uploads.InFlight, "MAX_WAIT", 0.5)

    async def join(host: str, path: str = "/gradio_api/queue/join", fn_index: int = 0) -> float | int:
        scope = {
            "type": "http",
            "method": "POST",
            "path": path,
            "client": (host, 1),
            "headers": [],
            "app": SimpleNamespace(get_blocks=lambda: blocks),
        }
        started = time.monotonic()

        async def gradio():
            pass

        try:
            await in_flight.join(scope, json.dumps({"fn_index": fn_index}).encode(), gradio)
        except uploads._Refused as refused:
            return refused.status
        return time.monotonic() - started

    async def scenario():
        at_once = [await join("198.51.100.2"), await join("127.0.0.1"), await join("203.0.113.1", fn_index=1)]
        refused = await join("203.0.113.1", path="/gradio_api/call/v2/classify")
        asyncio.get_running_loop().call_later(0.2, events.pop, "e0")  # one of its events ends
        waited = await join("203.0.113.1", path="/gradio_api/call/classify")
        return at_once, refused, waited

    at_once, refused, waited = in_a_fresh_loop(scenario())
    assert all(t < 0.05 for t in at_once), at_once
    assert refused == 429
    assert 0.15 < waited < 0.45, waited
