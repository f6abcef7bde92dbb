"""Visitors on a shared server (src/web/visitors.py): their own folders, the limits, and the sweep of idle ones."""

import itertools
import os
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from src import settings
from src.web import corrections
from src.web.visitors import RUN_BYTES, LimitReached, Limits, Visitors
from tests.conftest import app_client

DIGIT = np.zeros((28, 28), np.uint8)
DIGIT[6:22, 13:15] = 255


def fake_run(visitor, name: str, nbytes: int = 1000, mtime: float | None = None):
    """Three files named like a saved run (the limits only count and remove files), dated `mtime` if given."""
    visitor.runs.mkdir(parents=True, exist_ok=True)
    for suffix in (".safetensors", ".json", ".novelty.safetensors"):
        (visitor.runs / f"{name}{suffix}").write_bytes(b"x" * nbytes)
        if mtime is not None:
            os.utime(visitor.runs / f"{name}{suffix}", (mtime, mtime))
    return visitor.runs / f"{name}.safetensors"


class Clock:
    """A clock a test moves by hand: Visitors(clock=...) stamps activity and sweeps by it."""

    def __init__(self):
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def at(visitors, session: str, host: str):
    """The visitor of `session`, calling from the address `host`."""
    from types import SimpleNamespace

    return visitors.of(SimpleNamespace(session_hash=session, client=SimpleNamespace(host=host), headers={}))


def a_full_address(tmp_path) -> Visitors:
    """Visitors with room for three runs per address, and three visitors s0, s1, s2 at 1.1.1.1 with a run each."""
    visitors = Visitors(tmp_path, Limits(bytes_per_address=3 * RUN_BYTES, total_bytes=100 * RUN_BYTES))
    for i in range(3):
        fake_run(at(visitors, f"s{i}", "1.1.1.1"), "trained-1", nbytes=RUN_BYTES // 3)
    return visitors


def train(client, seed: int, max_examples: int, epochs: int = 1, learning_rate: float = 0.005):
    """A small training through the API (its job: streamed outputs, then the result)."""
    recipe = dict(epochs=epochs, batch_size=128, learning_rate=learning_rate, augment=False, seed=seed)
    return client.submit(**recipe, max_examples=max_examples, api_name="/train")


def correct(*corrections_by):
    """For each (client, label): a drawn 3 read by /predict, then corrected as `label`."""
    for client, label in corrections_by:
        client.predict(pad_drawing_of(3), api_name="/predict")
        client.predict(label, api_name="/correct")


def test_each_session_has_its_own_folder_named_by_a_digest_never_by_the_client_string(tmp_path):
    visitors = Visitors(tmp_path)
    a, b, evil = visitors.get("abc"), visitors.get("xyz"), visitors.get("../../etc")
    assert a.folder != b.folder and visitors.get("abc").folder == a.folder
    assert {a.folder.parent, b.folder.parent, evil.folder.parent} == {tmp_path}
    assert evil.id.startswith("v-") and ".." not in evil.id
    with pytest.raises(LimitReached, match="needs a session"):
        visitors.get(None)


def test_a_browser_is_one_visitor_across_reloads_and_tabs_by_the_key_it_keeps(tmp_path):
    visitors = Visitors(tmp_path)
    key = visitors.arrived("page-1", None)  # first visit: a new random key, for the browser to keep
    assert key.startswith("k-") and visitors.arrived("other-browser", None) != key
    me = visitors.get("page-1")
    visitors.add_correction(me, DIGIT, 4)
    visitors.left("page-1")
    assert visitors.arrived("page-2", key) == key  # a reload: a new session, the same visitor
    assert visitors.get("page-2").folder == me.folder and corrections.count(me.corrections) == 1
    visitors.arrived("page-3", key)  # a second tab
    visitors.left("page-2")
    assert visitors.sweep(now=time.time() + 10 * visitors.limits.idle_seconds) == []  # a tab is still open
    assert visitors.arrived("page-4", "../../etc/passwd") != "../../etc/passwd"  # malformed: a new key
    assert visitors.get("page-4").folder != me.folder


def test_a_visitor_who_keeps_calling_stays_active_however_often_they_call(tmp_path):
    clock = Clock()
    visitors = Visitors(tmp_path, Limits(idle_seconds=3600), clock=clock)
    me = visitors.get("me")
    visitors.add_correction(me, DIGIT, 1)
    for _ in range(10):  # a call every 10 minutes for 100 minutes: longer than the idle time
        clock.now += 600
        visitors.get("me")
    assert visitors.sweep() == [] and corrections.count(me.corrections) == 1
    clock.now += 3600
    assert visitors.sweep() == [me.id]


def test_saving_one_run_too_many_removes_that_visitors_oldest_only(tmp_path):
    visitors = Visitors(tmp_path, Limits(runs_per_visitor=2))
    a, b = visitors.get("a"), visitors.get("b")
    first = fake_run(a, "trained-2", mtime=time.time() - 60)  # the oldest by date, not by name
    fake_run(a, "trained-1")
    theirs = fake_run(b, "trained-1")
    assert visitors.make_room_for_run(a) == ["trained-2.safetensors"]
    assert not first.exists() and not first.with_suffix(".json").exists()
    assert [p.name for p in a.run_files()] == ["trained-1.safetensors"]
    assert theirs.exists() and len(b.run_files()) == 1  # another visitor's runs are never touched


def test_corrections_beyond_the_per_visitor_limit_are_refused_with_a_message(tmp_path):
    visitors = Visitors(tmp_path, Limits(corrections_per_visitor=3))
    a, b = visitors.get("a"), visitors.get("b")
    for _ in range(3):
        visitors.add_correction(a, DIGIT, 1)
    with pytest.raises(LimitReached, match="You have stored 3 corrections, the most"):
        visitors.add_correction(a, DIGIT, 1)
    assert corrections.count(a.corrections) == 3  # nothing lost
    visitors.add_correction(b, DIGIT, 7)  # the limit is per visitor
    assert corrections.count(b.corrections) == 1


def test_the_total_cap_refuses_new_work_with_a_message_and_loses_nothing(tmp_path):
    visitors = Visitors(tmp_path, Limits(total_bytes=2 * RUN_BYTES + 1000))
    a, b, c = visitors.get("a"), visitors.get("b"), visitors.get("c")
    fake_run(a, "trained-1", nbytes=RUN_BYTES // 3)
    visitors.add_correction(a, DIGIT, 1)
    before = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    with visitors.working(b):  # b's training holds room for its run from the moment it joins the line
        with pytest.raises(LimitReached, match="storage for visitors is full"):
            with visitors.working(c):  # so c's is refused before it trains at all
                pytest.fail("c's training should not have started")
        with pytest.raises(LimitReached, match="storage for visitors is full"):
            visitors.add_correction(c, DIGIT, 1)
        fake_run(b, "trained-1", nbytes=RUN_BYTES // 3)  # b's run is saved into the room it held
    assert visitors.usage() <= visitors.limits.total_bytes
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == sorted(
        before + [b.runs / f"trained-1{suffix}" for suffix in (".json", ".novelty.safetensors", ".safetensors")]
    )
    for p in b.runs.iterdir():
        p.unlink()
    with visitors.working(c):  # b's reservation ended with its training: with its run gone, c has room
        pass


def test_one_address_cannot_fill_the_server_with_fresh_sessions(tmp_path):
    """Sessions cost nothing: all visitors of one client address share VISITOR_DATA_MB_PER_ADDRESS."""
    visitors = a_full_address(tmp_path)
    with pytest.raises(LimitReached, match="from your network address have stored"):
        with visitors.working(at(visitors, "fresh", "1.1.1.1")):
            pytest.fail("a fourth run from the same address should be refused")
    with pytest.raises(LimitReached, match="from your network address"):
        visitors.add_correction(at(visitors, "fresh2", "1.1.1.1"), DIGIT, 1)
    with visitors.working(at(visitors, "other", "2.2.2.2")):  # another address still has room
        pass
    with visitors.working(at(visitors, "local", "127.0.0.1")):  # this machine's own user is not counted per address
        pass


def test_a_visitors_files_count_against_every_address_they_came_from(tmp_path):
    """Touching a visitor from a second address frees nothing at the first; the addresses of visitors
    without files are forgotten by the sweep."""
    visitors = a_full_address(tmp_path)
    for i in range(3):
        at(visitors, f"s{i}", "2.2.2.2")  # the same visitors, seen from a second address
    with pytest.raises(LimitReached, match="from your network address have stored"):
        with visitors.working(at(visitors, "fresh", "1.1.1.1")):
            pytest.fail("the first address is still full")
    with pytest.raises(LimitReached, match="from your network address have stored"):
        with visitors.working(at(visitors, "s0", "3.3.3.3")):  # s0's files count at 1.1.1.1 wherever they are
            pytest.fail("a visitor at a full address stores nothing more from a third")
    for i in range(1000):
        at(visitors, f"passer-by-{i}", "4.4.4.4")  # sessions that never store anything
    assert len(visitors._addresses) == 1000 + 4
    visitors.sweep()
    assert len(visitors._addresses) == 3 and set(visitors._at) == {"1.1.1.1", "2.2.2.2", "3.3.3.3"}


def test_the_sweep_removes_idle_visitors_who_left_and_keeps_the_rest(tmp_path):
    visitors = Visitors(tmp_path, Limits(idle_seconds=60))
    visitors.arrived("gone")  # pages: "gone" will close theirs, "open-tab" keeps it open
    visitors.arrived("open-tab")
    names = ("gone", "api-idle", "open-tab", "busy", "training")
    gone, api_idle, open_tab, busy, training = (visitors.get(s) for s in names)
    for v in (gone, api_idle, open_tab, busy, training):
        visitors.add_correction(v, DIGIT, 3)
    visitors.left("gone")
    later = time.time() + 61
    os.utime(busy.folder, (later - 1, later - 1))  # "busy" acted a second before the sweep
    with visitors.working(training):  # a training that waits or runs for longer than the idle time
        removed = visitors.sweep(now=later)
    assert sorted(removed) == sorted([gone.id, api_idle.id])
    assert not gone.folder.exists() and not api_idle.folder.exists()
    for kept in (open_tab, busy, training):
        assert corrections.count(kept.corrections) == 1


def test_shared_corrections_of_a_visitor_who_left_go_to_the_shared_pool(tmp_path):
    visitors = Visitors(tmp_path, Limits(idle_seconds=60))
    sharer, private = visitors.get("sharer"), visitors.get("private")
    sharer.set_sharing(True)
    for v, label in ((sharer, 2), (sharer, 5), (private, 9)):
        visitors.add_correction(v, DIGIT, label)
    assert len(visitors.shared_correction_files()) == 2  # only the sharer's, while they are here
    visitors.sweep(now=time.time() + 61)
    assert not sharer.folder.exists() and not private.folder.exists()
    kept = visitors.shared_correction_files()
    assert sorted(p.name[-5] for p in kept) == ["2", "5"]  # labels are the file names' last digit


def test_the_shared_corrections_have_a_cap_of_their_own(tmp_path):
    visitors = Visitors(tmp_path, Limits(idle_seconds=60))
    sharers = [visitors.get(f"sharer-{i}") for i in range(4)]
    for v in sharers:
        v.set_sharing(True)
        for label in range(3):
            visitors.add_correction(v, DIGIT, label)
    size = max(p.stat().st_size for v in sharers for p in corrections.files(v.corrections))
    visitors.limits = Limits(idle_seconds=60, shared_bytes=5 * size)
    visitors.sweep(now=time.time() + 61)
    assert all(not v.folder.exists() for v in sharers)
    kept = corrections.files(visitors.shared_corrections)
    assert 3 <= len(kept) <= 5 and sum(p.stat().st_size for p in kept) <= 5 * size


# ------------------------------------------------------------------------------- two visitors, one server
def drawing_of(digit: int, tmp_path, seed=5):
    from gradio_client import handle_file
    from PIL import Image

    from src.data.digits import render_digit

    path = tmp_path / f"drawing-{digit}-{seed}.png"
    render_digit(digit, np.random.default_rng(seed), canvas=400).convert("RGB").save(path)
    assert Image.open(path).size == (400, 400)
    return handle_file(str(path))


def pad_drawing_of(digit: int) -> str:
    """A drawing of `digit` as the pad sends it to /predict."""
    from tests.test_app import drawn

    return drawn(digit, np.random.default_rng(digit))


def wait_for(job, predicate):
    """The first streamed output of `job` for which predicate(output) holds: iterating a Job waits for each
    next output, and ends when the job does."""
    for out in itertools.chain(job.outputs(), job):  # lazily: the outputs so far, then each new one
        if predicate(out):
            return out
    pytest.fail(f"no such output; got {[o[2] for o in job.outputs()]}")


@pytest.mark.slow
def test_two_api_visitors_are_isolated_in_model_corrections_stop_and_runs(server, tmp_path):
    """Two gradio_client sessions A and B: nothing A does changes what B sees or gets, and B sees A's
    training only as a place in the line."""
    from gradio_client.exceptions import AppError

    a, b = app_client(server.url), app_client(server.url)
    three = drawing_of(3, tmp_path)
    b_before = b.predict(three, api_name="/classify")

    # A trains; B's training waits behind it, sees its place, and B's Stop cancels only B's.
    job_a = train(a, seed=3, max_examples=6000, epochs=2)  # long enough for B to be seen waiting and to cancel
    wait_for(job_a, lambda out: not out[2].startswith("Waiting"))
    job_b = train(b, seed=4, max_examples=1000)
    waiting = wait_for(job_b, lambda out: out[2].startswith("Waiting"))
    assert "1 training ahead of yours" in waiting[2]
    assert b.predict(api_name="/stop").startswith("Cancelled before it started")
    assert job_b.result(timeout=60)[2].startswith("Cancelled before it started")
    final_a = job_a.result(timeout=300)
    assert final_a[2].startswith("Finished 2 epochs"), final_a[2]  # B's Stop did not stop A
    run = next(iter(server.visitor(a).runs.glob("trained-*.json"))).with_suffix(".safetensors").name
    assert server.visitor(b).run_files() == []

    # A uses their run; B cannot, and B's answers stay exactly the same.
    assert f"yours/{run}" in a.predict(f"yours/{run}", api_name="/use_model")
    with pytest.raises(AppError, match="cannot be used"):
        b.predict(f"yours/{run}", api_name="/use_model")
    a_after = a.predict(three, api_name="/classify")
    assert a_after["probabilities"] != b_before["probabilities"]  # A's own model answers A
    assert b.predict(three, api_name="/classify") == b_before

    # Corrections: A's and B's are separate, and A deleting theirs leaves B's.
    correct((a, "8"), (a, "9"), (b, "5"))
    assert corrections.count(server.visitor(a).corrections) == 2
    assert corrections.count(server.visitor(b).corrections) == 1
    assert "Deleted your 2 corrections" in a.predict(api_name="/delete_corrections")
    assert corrections.count(server.visitor(b).corrections) == 1
    assert b.predict(three, api_name="/classify") == b_before


def test_downloads_work_from_a_visitor_dir_outside_the_working_and_temporary_folders(server, client):
    """VISITOR_DIR on a mounted bucket (outside the working directory and the temporary folder, where Gradio
    refuses to take files from; every test server has its own TMPDIR beside its visitor folder): a run and the
    corrections download; /file= for that folder answers 403."""
    import requests

    bucket = server.visitor_dir
    assert not bucket.is_relative_to(settings.ROOT) and not bucket.is_relative_to(server.tmp_dir)
    final = train(client, seed=0, max_examples=500, learning_rate=0.003).result()
    downloaded = sorted(Path(f).name for f in final[3])
    assert [n.rsplit(".", 1)[1] for n in downloaded] == ["json", "safetensors"], final[2]
    [run] = Visitors(bucket).get(client.session_hash).run_files()
    assert Path(next(f for f in final[3] if f.endswith(".safetensors"))).read_bytes() == run.read_bytes()
    client.predict(pad_drawing_of(3), api_name="/predict")
    client.predict("5", api_name="/correct")
    with zipfile.ZipFile(client.predict(api_name="/download_corrections")) as z:
        assert len(z.namelist()) == 1 and z.namelist()[0].endswith("-5.png")
    for path in (run, bucket):
        assert requests.get(f"{server.url}gradio_api/file={path}", timeout=30).status_code == 403
