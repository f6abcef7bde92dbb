"""The Train tab through gradio_client: streaming, Stop, the new checkpoint, and swapping it in."""

import json
import re
import threading
import time
import urllib.request
from concurrent.futures import CancelledError
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError, ValidationError

from src import settings
from src.data.digits import render_digit
from src.data.pools import cached_training_pools
from src.model.checkpoint import is_weights_name, load_model
from src.reading import calibration
from src.reading.inference import ModelStore
from src.training import gpu
from src.training.loop import train_epochs
from src.training.recipes import FAST
from src.web import train_tab, trainings
from src.web.visitors import Visitors
from tests.conftest import NoProgress, Server, app_client, in_a_fresh_loop

pytestmark = pytest.mark.slow


@pytest.fixture
def client(server):
    """A gradio_client session of this test's own: a visitor of their own (runs, model choice, Stop)."""
    return app_client(server.url)


def tab_in(folder, visitors=None) -> train_tab.TrainTab:
    """A Train tab in process, its visitors' folders under `folder`."""
    store = ModelStore(settings.CHECKPOINT_DIR, settings.DEFAULT_CHECKPOINT)
    return train_tab.TrainTab(store, visitors or Visitors(folder))


def request(session, host="127.0.0.1"):
    """A gr.Request's stand-in: a page of `session` from the address `host`."""
    return SimpleNamespace(session_hash=session, client=SimpleNamespace(host=host), headers={})


def train_inputs(**changes) -> dict:
    """/train's inputs: a small run, with `changes`."""
    inputs = dict(epochs=1, batch_size=128, learning_rate=0.003, augment=True, seed=0, max_examples=2000)
    return inputs | changes | {"api_name": "/train"}


def config(server) -> dict:
    return json.loads(urllib.request.urlopen(server.url + "config").read())


def updates_of(job):
    return [out for out in job]  # iterating a job yields each streamed update


def use(client, name):
    return client.predict(name, api_name="/use_model")


def models_in(folder):
    return {p for p in folder.glob("*.safetensors") if is_weights_name(p.name)}


def files_in(folder):
    return set(folder.iterdir()) if folder.is_dir() else set()


def until(condition, timeout: float = 10.0) -> bool:
    """Whether `condition()` holds within `timeout` seconds, checked every 10 ms."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        threading.Event().wait(0.01)
    return condition()


def inside_a_later_epoch(job) -> bool:
    """Whether the training has trained a batch of its second epoch or a later one (its progress bar says
    "epoch N of M" and how far), or streamed a second epoch's record."""
    epochs = [
        int(m[1]) * bool(unit.index)
        for unit in job.status().progress_data or []
        if (m := re.fullmatch(r"epoch (\d+) of \d+", unit.desc or ""))
    ]
    outputs = job.outputs()
    return max(epochs, default=0) >= 2 or bool(outputs and len(outputs[-1][1]["data"]) >= 2)


def test_train_streams_each_epoch_and_saves_a_new_checkpoint(client, server):
    runs = server.visitor(client).runs  # where this visitor's runs go, visible to them only
    before = models_in(runs)
    job = client.submit(**train_inputs(epochs=2))
    updates = updates_of(job)
    tables = [u[1] for u in updates]
    epochs_seen = [len(t["data"]) for t in tables]
    assert len(updates) >= 3 and epochs_seen[-1] == 2
    assert epochs_seen == sorted(epochs_seen) and 1 in epochs_seen  # the epoch count rises as they stream
    headers = tables[-1]["headers"]
    final = [dict(zip(headers, row)) for row in tables[-1]["data"]]
    assert [r["epoch"] for r in final] == [1, 2]
    assert all(r["train_loss"] > 0 and r["val_loss"] > 0 for r in final)
    plot = updates[-1][0]
    plot = plot.get("value", plot)  # a gr.LinePlot update (it also sets x_lim) or a plain value
    assert len(plot["data"]) == 4  # two series x two epochs
    assert "Test accuracy" in updates[-1][2]

    new = models_in(runs) - before
    assert len(new) == 1
    path = new.pop()
    assert path.with_suffix(".json").exists() and path.with_name(path.stem + ".novelty.safetensors").exists()
    assert not list(runs.glob("*.tmp")) and not list(runs.glob(".*"))

    # "Use this model" swaps it in for this visitor's /classify.
    try:
        assert path.name in use(client, "yours/" + path.name)
        drawing = server.checkpoint_dir.parent / "three.png"
        render_digit(3, np.random.default_rng(3), canvas=400).convert("RGB").save(drawing)
        result = client.predict(handle_file(str(drawing)), api_name="/classify")
        assert result["digit"] in range(10) and len(result["probabilities"]) == 10
    finally:
        assert "default.safetensors" in use(client, "default.safetensors")


def test_stop_saves_the_completed_epochs_with_their_statistics_and_no_partial_files(client, server):
    runs = server.visitor(client).runs
    before = files_in(runs)
    job = client.submit(**train_inputs(epochs=30, seed=0, max_examples=8000))
    assert until(lambda: inside_a_later_epoch(job), timeout=120), "no batch of a second epoch within 120 s"
    stopped_at = time.monotonic()
    client.predict(api_name="/stop")
    job.result(timeout=120)  # the test set scored, the statistics fitted and saved: slower on a busy machine
    took = time.monotonic() - stopped_at
    final = job.outputs()[-1]
    print(
        f"Stop took effect, the test set was scored, the statistics fitted and the checkpoint saved within {took:.2f} s"
    )
    assert final[2].startswith("Stopped after")
    completed = len(final[1]["data"])
    assert 1 <= completed < 30
    added = files_in(runs) - before
    # one complete checkpoint (weights, JSON, novelty statistics), nothing else
    assert sorted("".join(p.suffixes[-2:]) if p.name.endswith(".novelty.safetensors") else p.suffix for p in added) == [
        ".json",
        ".novelty.safetensors",
        ".safetensors",
    ]
    meta = json.loads(next(p for p in added if p.suffix == ".json").read_text())
    assert meta["stopped_early"] is True and len(meta["history"]) == completed
    weights = next(p for p in added if p.suffix == ".safetensors" and "novelty" not in p.name)
    assert load_model(weights)[2] is not None  # the stopped run's statistics belong to its weights


def test_classify_keeps_answering_while_training_runs(client, server, tmp_path):
    drawing = tmp_path / "seven.png"
    render_digit(7, np.random.default_rng(7), canvas=800).convert("RGB").save(drawing)
    job = client.submit(**train_inputs(epochs=3, seed=0, max_examples=6000))
    other = app_client(server.url)
    latencies, answers, dropped = [], [], 0
    while not job.done():
        t0 = time.perf_counter()
        try:
            answers.append(other.predict(handle_file(str(drawing)), api_name="/classify")["digit"])
        except CancelledError:  # gradio_client's own race: its event stream closed as this call was sent
            dropped += 1
            continue
        latencies.append(time.perf_counter() - t0)
    assert dropped <= 2, f"{dropped} answers lost"
    job.result(timeout=60)
    print(f"/classify during training: {len(latencies)} requests, p95 {np.percentile(latencies, 95) * 1000:.0f} ms")
    assert len(answers) >= 5 and set(answers) == {7}


def test_use_model_refuses_names_outside_the_checkpoint_folder(client):
    for name in (
        "../checkpoints/default.safetensors",
        "/etc/passwd",
        "missing.safetensors",
        "yours/../../checkpoints/default.safetensors",
        "yours/missing.safetensors",
    ):
        with pytest.raises(AppError, match="cannot be used, so your current model stays"):
            use(client, name)


def test_settings_out_of_range_are_refused_with_a_clear_message(client):
    # before the queue
    with pytest.raises(ValidationError, match=f"Epochs must be between 1 and {settings.MAX_EPOCHS}"):
        client.predict(**train_inputs(epochs=settings.MAX_EPOCHS + 1))
    with pytest.raises(ValidationError, match="Learning rate must be between 0.00001 and 0.1"):
        client.predict(**train_inputs(learning_rate=5.0))


def test_out_of_range_seeds_and_bad_model_names_get_a_clear_message_before_the_queue(client):
    with pytest.raises(ValidationError, match="Seed must be a whole number between 0 and 4,294,967,295"):
        client.predict(**train_inputs(seed=2**70, max_examples=500))
    for name, message in (
        ("x" * 300 + ".safetensors", "at most 200 characters, not 312"),
        (12345, "a model's name is text, not int"),
        (["a"], "a model's name is text, not list"),
    ):
        with pytest.raises(AppError, match=message):
            use(client, name)


def test_trainings_beyond_the_limits_are_refused_before_the_queue_and_waiting_holds_no_thread(tmp_path, monkeypatch):
    """In process: the validator admits one training per visitor and MAX_TRAININGS_PER_ADDRESS per address,
    each with its place in the line; a place whose event never comes is given back; waiting is on the loop."""
    monkeypatch.setattr(settings, "MAX_TRAININGS_PER_ADDRESS", 2)
    tab = tab_in(tmp_path)
    inputs = (1, 128, 0.003, True, 0, 500)

    def admitted(session, host):
        checks = tab.admit_training(*inputs, request=request(session, host))
        return next((c["message"] for c in checks if not c["is_valid"]), True)

    assert admitted("a", "1.1.1.1") is True and admitted("b", "1.1.1.1") is True
    assert "already have a training" in admitted("a", "1.1.1.1")
    assert "2 trainings from your network" in admitted("c", "1.1.1.1")
    assert admitted("c", "2.2.2.2") is True and len(tab.line) == 3
    monkeypatch.setattr(trainings, "RESERVATION_SECONDS", 0.0)  # none of their events came
    assert admitted("d", "1.1.1.1") is True and len(tab.line) == 1

    async def wait_in_line():
        waiting = tab._places[tab.visitors.of(request("d", "1.1.1.1")).id]
        other = tab.line.join()  # ahead of nobody: d is first; put one ahead of a newcomer instead
        ticket = tab.line.join()
        seen = [ahead async for ahead in _first(tab.line.wait(ticket, threading.Event()), 1)]
        tab.line.leave(waiting.ticket)
        tab.line.leave(other)
        return seen, threading.active_count()

    threads_before = threading.active_count() + 1  # the fresh loop's own thread
    seen, threads_during = in_a_fresh_loop(wait_in_line())
    assert seen == [2] and threads_during <= threads_before + 1  # no worker thread per waiting training


async def _first(agen, n):
    async for item in agen:
        yield item
        n -= 1
        if n == 0:
            return


def test_allow_training_0_switches_training_off_and_says_why(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("no-training"), env={"ALLOW_TRAINING": "0"})
    try:
        endpoints = app_client(s.url).view_api(return_format="dict", print_info=False)["named_endpoints"]
        assert "/classify" in endpoints and "/train" not in endpoints and "/fine_tune" not in endpoints
        texts = [c.get("props", {}).get("value") for c in config(s)["components"]]
        assert any(isinstance(t, str) and "ALLOW_TRAINING=0" in t for t in texts)
    finally:
        s.stop()


def test_a_failure_inside_training_is_a_clear_error_and_leaves_no_files(tmp_path, monkeypatch, data_dir):
    """In process: the Train tab's generator, with the engine failing in epoch 2."""

    def failing(*args, **kwargs):
        for record in train_epochs(*args, **kwargs):
            yield record
            raise RuntimeError("injected failure")

    monkeypatch.setattr(gpu, "train_epochs", failing)
    monkeypatch.setattr(settings, "DATA_DIR", data_dir)
    tab = tab_in(tmp_path)

    async def run():
        async for _ in tab.train(3, 128, 0.003, True, 0, 1000, request=request("a"), progress=NoProgress()):
            pass

    with pytest.raises(gr.Error, match=r"Training failed during epoch 2 \(RuntimeError\)\. Nothing was saved"):
        in_a_fresh_loop(run())
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    assert tab.request_stop(request("a")) == "You have no training running."  # released


def test_a_training_stops_when_its_visitor_left_and_did_not_come_back(tmp_path, monkeypatch):
    """In process: the page closes during a training; after the grace time with no page of theirs open, their
    Stop is set. A reload within the grace time (the same visitor back) keeps it running."""
    monkeypatch.setattr(trainings, "LEFT_GRACE_SECONDS", 0.2)
    visitors = Visitors(tmp_path)
    tab = tab_in(tmp_path, visitors)
    for comes_back in (True, False):
        page, reload = SimpleNamespace(session_hash=f"page-{comes_back}"), SimpleNamespace(session_hash="reload")
        key = visitors.arrived(page.session_hash, None)
        with tab._turn(visitors.get(page.session_hash)) as (ticket, stop):
            tab.left(page)
            visitors.left(page.session_hash)
            if comes_back:
                visitors.arrived(reload.session_hash, key)
                me = visitors.get(page.session_hash).id
                assert until(lambda: me not in tab._leaving)  # the watcher has judged them: back, so it runs on
                assert not stop.is_set()
            else:
                assert until(stop.is_set)
        if comes_back:
            visitors.left(reload.session_hash)


def test_a_training_stops_at_the_time_limit_and_its_address_has_an_hourly_budget(tmp_path, monkeypatch, data_dir):
    """In process: a training of 50 epochs stops at MAX_TRAINING_MINUTES and says so; its time counts against its
    address's TRAINING_MINUTES_PER_ADDRESS, after which that address's next training is refused before the queue."""
    monkeypatch.setattr(settings, "DATA_DIR", data_dir)
    monkeypatch.setattr(settings, "MAX_TRAINING_MINUTES", 0.05)
    monkeypatch.setattr(settings, "TRAINING_MINUTES_PER_ADDRESS", 0.02)
    tab = tab_in(tmp_path)
    a, b = request("a", "203.0.113.5"), request("b", "203.0.113.5")

    async def run():  # 50 epochs of 2,000 examples: far beyond the limit of 3 s
        return [update async for update in tab.train(50, 128, 0.003, False, 0, 2000, request=a, progress=NoProgress())]

    # What a fresh clone makes once (the pools it trains with, the tuning digits it saves with): before the clock.
    cached_training_pools(data_dir)
    calibration.prepare(data_dir)
    started = time.monotonic()
    updates = in_a_fresh_loop(run())
    assert time.monotonic() - started < 3 + 30  # the limit, then at most the batch and the saving
    assert "limit of 0.05 minutes per training" in updates[-1][2], updates[-1][2]
    checks = tab.admit_training(1, 128, 0.003, False, 0, 2000, request=b)
    assert "used this server for 0.02 minutes in the last hour" in checks[0]["message"], checks


def test_the_grace_time_counts_from_the_last_page_closed(tmp_path):
    """Two tabs of one visitor close one after the other: the grace time runs from the second, on the clock
    given (no waiting)."""
    visitors = Visitors(tmp_path)
    tab = tab_in(tmp_path, visitors)
    first, second = SimpleNamespace(session_hash="tab-1"), SimpleNamespace(session_hash="tab-2")
    key = visitors.arrived(first.session_hash, None)
    visitors.arrived(second.session_hash, key)  # the same visitor in two tabs
    me = visitors.get(first.session_hash).id
    grace = trainings.LEFT_GRACE_SECONDS  # the watcher thread itself does nothing within this test
    with tab._turn(visitors.get(first.session_hash)) as (ticket, stop):
        tab.left(first)
        visitors.left(first.session_hash)
        first_closed = tab._leaving[me]
        tab.left(second)
        visitors.left(second.session_hash)
        assert tab._leaving[me] >= first_closed  # the last close counts
        tab._leaving[me] = last_closed = first_closed + 10  # as if it came 10 s after the first
        tab._stop_leavers(first_closed + grace)  # the grace time after the first close: not over
        assert not stop.is_set()
        tab._stop_leavers(last_closed + grace)  # after the last close
        assert stop.is_set()


def test_thousands_of_page_closes_start_no_thread_each(tmp_path):
    """Closing pages costs a timer only for a visitor who trains, one however many of their pages close."""
    visitors = Visitors(tmp_path)
    tab = tab_in(tmp_path, visitors)
    trainer = SimpleNamespace(session_hash="trainer")
    visitors.arrived(trainer.session_hash, None)
    before = threading.active_count()
    with tab._turn(visitors.get(trainer.session_hash)):
        for i in range(2500):
            tab.left(SimpleNamespace(session_hash=f"page-{i}"))  # visitors with no training
            tab.left(trainer)
        assert threading.active_count() <= before + 1


def test_the_train_tab_offers_the_fast_recipe_by_default(server):
    components = config(server)["components"]
    value = {c["props"].get("elem_id"): c["props"].get("value") for c in components}
    assert (value["epochs"], value["batch-size"], value["learning-rate"], value["augment"]) == (
        FAST.epochs,
        FAST.batch_size,
        FAST.lr,
        FAST.augment,
    )


def test_the_stop_button_leaves_the_status_to_the_training(server):
    """A reply of Stop written to the status could reach the page after the training's "Stopped…" and replace
    it for good (CI, once): the training's own status says how it ended."""
    page = config(server)
    ids = {c.get("props", {}).get("elem_id"): c["id"] for c in page["components"]}
    on_stop = [d for d in page["dependencies"] if [ids["stop"], "click"] in [list(t) for t in d["targets"]]]
    assert on_stop and all(ids["train-status"] not in d["outputs"] for d in on_stop)
