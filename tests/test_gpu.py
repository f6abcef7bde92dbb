"""The page's trainings as ZeroGPU runs them: `@spaces.GPU` functions in a forked worker process, every argument
and every item they yield pickled (spaces/zero/wrappers.py), nothing they change in memory seen by the server;
and what they ask ZeroGPU's scheduler for, through `spaces`' own decorator, and what the page says when it
refuses (spaces/zero/client.py)."""

import inspect
import json
import multiprocessing
import os
from datetime import timedelta
from importlib import resources
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import httpx
import numpy as np
import pytest
import spaces
from gradio.context import LocalContext
from spaces.zero import client as zero_client
from spaces.zero import config as zero_cards
from spaces.zero import decorator as zero_decorator
from spaces.zero import utils as zero_utils
from spaces.zero.api import QueueEvent, QuotaInfos, ScheduleMetadata

from src import settings
from src.model.checkpoint import is_weights_name, load_checkpoint
from src.reading.inference import ModelStore
from src.training import gpu
from src.training.recipes import FAST
from src.web import train_runs, train_tab, trainings
from src.web.visitors import Visitors
from tests.conftest import NoProgress, in_a_fresh_loop

CARDS = {
    card["model"]: card["duration_factor"]  # ZeroGPU's cards as `spaces` knows them
    for card in json.loads(resources.files("spaces.zero").joinpath(zero_cards.CONFIGS_FILENAME).read_text())
}
BLACKWELL = "NVIDIA RTX PRO 6000 Blackwell Server Edition"  # ZeroGPU's current cards
DEFAULT_RUN = dict(epochs=FAST.epochs, batch_size=FAST.batch_size, max_examples=gpu.EXAMPLES)  # the Train tab's


class Scheduler:
    """ZeroGPU's scheduler as `spaces` calls it (spaces/zero/api.py, APIClient.schedule): it records the duration
    each request sends, and answers `answer` (a refusal: no worker is ever started)."""

    def __init__(self, answer):
        self.answer, self.asked = answer, []

    def schedule(
        self,
        cgroup_path,
        task_id=0,
        token=None,
        token_version=1,
        duration_seconds=None,
        enable_queue=True,
        gpu_size=None,
    ):
        self.asked.append(duration_seconds)
        return self.answer()


class Headers(dict):
    """A request's headers as `spaces` reads them (it wants an object with a __dict__ and .get)."""


def visitor_request(token=True):
    """The request of a visitor's page, with the X-IP-Token Hugging Face adds for ZeroGPU's quotas (or none)."""
    headers = Headers({"x-gradio-user": "app"} | ({"x-ip-token": "header.e30.signature"} if token else {}))
    return SimpleNamespace(headers=headers, session_hash="visitor-z")


REFUSALS = {  # what the scheduler answers, and the visitor's request: as in spaces/zero/client.py's schedule
    "quota, no account": (
        lambda: (QuotaInfos(left=25, wait=timedelta(minutes=12, seconds=34)), ScheduleMetadata(auth=None)),
        True,
    ),
    "quota, free account": (
        lambda: (QuotaInfos(left=25, wait=timedelta(minutes=12, seconds=34)), ScheduleMetadata(auth="regular")),
        True,
    ),
    "runs limit": (lambda: (QuotaInfos(left=200, wait=timedelta(0)), ScheduleMetadata(auth="regular")), True),
    "no visitor token": (lambda: (QuotaInfos(left=0, wait=timedelta(hours=1)), ScheduleMetadata()), False),
    "too long": (lambda: (QuotaInfos(left=0, wait=timedelta(seconds=-1)), ScheduleMetadata()), True),
    "pending": (
        lambda: (
            QuotaInfos(left=0, wait=timedelta(seconds=5)),
            ScheduleMetadata(approve_result="pending-overquota-exceeded"),
        ),
        True,
    ),
    "no GPU free, in line": (lambda: (iter([QueueEvent(event="failed")]), ScheduleMetadata(auth=None)), True),
    "no GPU free, in line, no token": (lambda: (iter([QueueEvent(event="failed")]), ScheduleMetadata()), False),
    "no GPU free": (lambda: (httpx.codes.SERVICE_UNAVAILABLE, ScheduleMetadata()), True),
}


@pytest.fixture
def zero_gpu(monkeypatch):
    """This process as a ZeroGPU Space's server on one of its cards, `spaces`' own decorator wrapping the GPU
    functions, and a Scheduler in place of ZeroGPU's. -> on_card(model name, answer) -> (train_run, fine_tune_run,
    scheduler): the functions as `@spaces.GPU` wraps them there."""
    monkeypatch.setattr(gpu, "ZERO_GPU", True)
    monkeypatch.setattr(zero_decorator.Config, "zero_gpu", True)
    monkeypatch.setattr(zero_decorator, "decorated_cache", {})
    monkeypatch.setattr(zero_utils, "self_cgroup_device_path", lambda: "/zero-gpu-test")

    def on_card(model, answer=REFUSALS["quota, no account"][0]):
        zero_cards.get_config.cache_clear()
        monkeypatch.setattr(zero_cards, "_read_gpu_information", lambda: f"Model: \t {model}\nIRQ: 0\n")
        scheduler = Scheduler(answer)
        monkeypatch.setattr(zero_client, "api_client", lambda: scheduler)
        return (
            spaces.GPU(duration=gpu.training_seconds)(gpu.train_run),
            spaces.GPU(duration=gpu.fine_tune_seconds)(gpu.fine_tune_run),
            scheduler,
        )

    yield on_card
    zero_cards.get_config.cache_clear()


def refused(call, request):
    """The gr.Error that `spaces` raises when the scheduler refuses `call()` (a generator's at its first item)."""
    token = LocalContext.request.set(request)
    try:
        with pytest.raises(gr.Error) as caught:
            out = call()
            if inspect.isgenerator(out):
                next(out)
        return caught.value
    finally:
        LocalContext.request.reset(token)


def train_call(train_run, epochs, batch_size, max_examples):
    return lambda: train_run(epochs, batch_size, FAST.lr, False, 0, max_examples, settings.DATA_DIR, gpu.StopFlag())


def test_what_spaces_asks_the_scheduler_for_a_training_is_what_it_needs_and_fits_the_quotas(zero_gpu):
    assert CARDS[BLACKWELL] == 1.5
    runs = {"default run": DEFAULT_RUN, f"{settings.MAX_EPOCHS} epochs": DEFAULT_RUN | {"epochs": settings.MAX_EPOCHS}}
    for model, factor in CARDS.items():
        train_run, _, scheduler = zero_gpu(model)
        for name, run in runs.items():
            refused(train_call(train_run, **run), visitor_request())
            needed, given, sent = (
                gpu.needed_seconds(**run),
                gpu.training_seconds(
                    run["epochs"], run["batch_size"], FAST.lr, False, 0, run["max_examples"], settings.DATA_DIR, None
                ),
                scheduler.asked[-1],
            )
            print(
                f"{model} (duration_factor {factor:g}), {name}: needs {needed} s, @spaces.GPU is given {given} s, "
                f"the scheduler is asked for {sent} s"
            )
            assert sent == gpu.asked(needed) and needed <= sent < needed + factor  # enough, and no more
            assert given == gpu.request(needed) and abs(given * factor - needed) < factor
        default, most = scheduler.asked[-2:]
        assert default <= gpu.QUOTA_SECONDS["without an account"]  # the default run fits a visitor's whole day
        assert most <= gpu.QUOTA_SECONDS["free account"]  # the most epochs fit a free account's
    # Fine-tuning likewise, and the status before a run names what the scheduler gets.
    _, fine_tune_run, scheduler = zero_gpu(BLACKWELL)
    refused(lambda: fine_tune_run({}, ([], []), settings.DATA_DIR, gpu.StopFlag()), visitor_request())
    assert scheduler.asked == [gpu.FINE_TUNE_SECONDS]
    assert f" {gpu.asked(gpu.needed_seconds(**DEFAULT_RUN))} s of GPU time" in gpu.asking_text(
        gpu.needed_seconds(**DEFAULT_RUN)
    )


def test_a_request_is_never_more_than_a_training_may_run(zero_gpu, monkeypatch):
    monkeypatch.setattr(settings, "MAX_TRAINING_MINUTES", 10)
    zero_gpu(BLACKWELL)
    assert gpu.needed_seconds(settings.MAX_EPOCHS, train_tab.MIN_BATCH, gpu.EXAMPLES) == 600
    assert gpu.asked(600) == 600  # the server's clock stops the run there, its completed epochs kept


@pytest.mark.parametrize("case", REFUSALS)
def test_each_refusal_says_why_and_what_the_visitor_can_do(zero_gpu, case):
    answer, token = REFUSALS[case]
    train_run, _, scheduler = zero_gpu(BLACKWELL, answer)
    error = refused(train_call(train_run, **DEFAULT_RUN), visitor_request(token))
    message = gpu.refusal(error, gpu.needed_seconds(**DEFAULT_RUN))
    print(f"{case}: spaces says [{error.title}] {error.message!s}\n  the page says: {message}")
    assert message is not None and gpu.KEPT in message and "`python app.py`" in message
    asks = gpu.asked(gpu.needed_seconds(**DEFAULT_RUN))  # what spaces puts in its message, on this 1.5 card
    assert scheduler.asked == [asks]
    assert {
        "quota, no account": f"asks for {asks} s of GPU time, and your daily quota has 25 s left (try again in "
        "0:12:34)",
        "quota, free account": "25 s left",
        "runs limit": "as many GPU tasks",
        "no visitor token": "signed in to Hugging Face for a quota",
        "too long": f"asks ZeroGPU for {asks} s",
        "pending": "still counting",
        "no GPU free, in line": "all busy",
        "no GPU free, in line, no token": "all busy",
        "no GPU free": "all busy",
    }[case] in message
    assert ("sign in to Hugging Face" in message) == (case == "quota, no account")
    assert ("fewer epochs" in message) == case.startswith(("quota", "too long"))


def test_other_errors_are_not_refusals():
    assert gpu.refusal(gr.Error("GPU task aborted", title="ZeroGPU worker error"), 51) is None
    assert gpu.refusal(gr.Error("Expired ZeroGPU proxy token", title="ZeroGPU client error"), 51) is None
    assert gpu.refusal(RuntimeError("No GPU was available"), 51) is None


def test_a_refused_training_says_so_and_loses_nothing(zero_gpu, monkeypatch, tmp_path, data_dir):
    train_run, fine_tune_run, scheduler = zero_gpu(BLACKWELL)
    monkeypatch.setattr(gpu, "train_run", train_run)
    monkeypatch.setattr(gpu, "fine_tune_run", fine_tune_run)
    visitors = Visitors(tmp_path)
    store = ModelStore(settings.CHECKPOINT_DIR, settings.DEFAULT_CHECKPOINT)
    store.activate_default()
    tab = train_tab.TrainTab(store, visitors)
    request = visitor_request()
    mine = visitors.of(request)
    mine.runs.mkdir(parents=True, exist_ok=True)
    earlier = mine.runs / "trained-20250101-000000-000000000000.safetensors"
    earlier.write_bytes(b"an earlier run")
    statuses = []

    async def train():
        LocalContext.request.set(request)  # as Gradio sets it for the event: `spaces` reads the visitor's token
        async for _, _, status, _, _ in tab.train(
            DEFAULT_RUN["epochs"],
            DEFAULT_RUN["batch_size"],
            FAST.lr,
            False,
            0,
            DEFAULT_RUN["max_examples"],
            request=request,
            progress=NoProgress(),
        ):
            statuses.append(status)

    with pytest.raises(gr.Error) as caught:
        in_a_fresh_loop(train())
    print("before:", statuses[-1], "\nrefused:", caught.value.title, "|", caught.value.message)
    assert statuses[-1] == gpu.asking_text(gpu.needed_seconds(**DEFAULT_RUN))
    asks = gpu.asked(gpu.needed_seconds(**DEFAULT_RUN))
    assert f" {asks} s of GPU time" in statuses[-1] and scheduler.asked == [asks]
    assert caught.value.title == "No GPU for this training" and caught.value.duration is None
    assert caught.value.message.startswith(f"ZeroGPU refused this training: it asks for {asks} s of GPU time")
    assert earlier.read_bytes() == b"an earlier run" and mine.run_files() == [earlier]  # nothing saved, none removed
    assert len(tab.line) == 0 and tab.request_stop(request) == trainings.NO_TRAINING  # Start works again at once

    from src.web import corrections

    monkeypatch.setattr(corrections, "load", lambda folder: (np.zeros((6, 28, 28), np.float32), np.full(6, 7)))

    async def fine_tune():
        LocalContext.request.set(request)
        async for status, _ in tab.fine_tune_on_corrections(request=request, progress=NoProgress()):
            statuses.append(status)

    with pytest.raises(gr.Error) as caught:
        in_a_fresh_loop(fine_tune())
    assert gpu.asking_text(gpu.FINE_TUNE_SECONDS, "fine-tuning") in statuses[-1]
    assert caught.value.message.startswith("ZeroGPU refused this fine-tuning: it asks for 60 s")
    assert mine.run_files() == [earlier]


def forked(task):
    """`task` called as ZeroGPU's wrapper calls it: a worker forked for the call gets the arguments through a
    queue (pickled), and sends back each item it yields, or what it returns, the same way."""
    fork = multiprocessing.get_context("fork")

    def results(args):
        arguments, answers = fork.SimpleQueue(), fork.SimpleQueue()

        def worker():
            try:
                out = task(*arguments.get())
                for item in out if inspect.isgenerator(out) else [out]:
                    answers.put(("item", item))
                answers.put(("end", None))
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                answers.put(("error", f"{type(e).__name__}: {e}"))
            arguments.get()  # alive, as ZeroGPU's worker stays, until the caller has taken the tensors it sent

        process = fork.Process(target=worker, daemon=True)
        process.start()
        try:
            arguments.put(args)  # a threading.Event among them: TypeError, cannot pickle '_thread.lock'
            while True:
                kind, value = answers.get()
                if kind == "end":
                    return
                if kind == "error":
                    raise RuntimeError(f"in the worker: {value}")
                yield value
        finally:
            arguments.put("done")
            process.join(timeout=30)

    if inspect.isgeneratorfunction(task):
        return lambda *args: results(args)
    return lambda *args: next(results(args))


def as_on_zero_gpu(data_dir):
    """This process as a ZeroGPU server: torch on one thread (as app.py sets it), the GPU functions in forked
    workers. -> the list of pids that saved a run."""
    import torch

    torch.set_num_threads(1)
    settings.DATA_DIR = data_dir
    gpu.ZERO_GPU = True
    gpu.train_run = forked(gpu.train_run)
    gpu.fine_tune_run = forked(gpu.fine_tune_run)
    savers = []
    save_model = train_runs.save_model

    def saving(*args, **kwargs):
        savers.append(os.getpid())  # in the worker this list is a copy: the server never sees the entry
        return save_model(*args, **kwargs)

    train_runs.save_model = saving
    return savers


def in_a_new_server(scenario, *args):
    """`scenario(*args)` in a new interpreter: a process whose PyTorch has run its CPU thread pool (OpenMP) on
    several threads, as this test process has, forks workers that hang, which app.py's one thread avoids."""
    spawn = multiprocessing.get_context("spawn")
    answers = spawn.Queue()
    server = spawn.Process(target=serve, args=(answers, scenario, args))
    server.start()
    try:
        kind, value = answers.get(timeout=900)
    finally:
        server.join(timeout=60)
        if server.is_alive():
            server.kill()
    if kind == "error":
        raise AssertionError(f"in the server: {value}")
    return value


def serve(answers, scenario, args):
    try:
        answers.put(("ok", scenario(*args)))
    except BaseException as e:  # noqa: BLE001 - handed to the test
        answers.put(("error", f"{type(e).__name__}: {e}"))


def runs(visitor):
    return sorted(p for p in visitor.runs.glob("*.safetensors") if is_weights_name(p.name))


def on_zero_gpu(folder, data_dir):
    """The server of both scenarios below, one after the other (a new interpreter costs seconds)."""
    from src.reading import calibration

    savers = as_on_zero_gpu(data_dir)
    calibration.prepare(data_dir)  # as app.py does at its start: every training below fits with these digits
    return two_visitors_train(folder / "train", savers), fine_tunes(folder / "fine-tune", data_dir, savers)


@pytest.fixture(scope="module")
def zero_gpu_server(tmp_path_factory, data_dir):
    """(what two_visitors_train saw, what fine_tunes saw) in a new server whose trainings run in forked workers."""
    return in_a_new_server(on_zero_gpu, tmp_path_factory.mktemp("zero-gpu"), data_dir)


def two_visitors_train(folder, savers):
    visitors = Visitors(folder)
    tab = train_tab.TrainTab(ModelStore(settings.CHECKPOINT_DIR, settings.DEFAULT_CHECKPOINT), visitors)
    a, b = SimpleNamespace(session_hash="visitor-a"), SimpleNamespace(session_hash="visitor-b")
    seen = {"statuses": [], "stopped_at": [], "b_stops_a": None}

    async def a_trains():
        async for _, table, status, files, _ in tab.train(
            10, 128, 0.003, True, 0, 3000, request=a, progress=NoProgress()
        ):
            seen["statuses"].append(status)
            if len(table) == 1 and seen["b_stops_a"] is None:
                seen["b_stops_a"] = tab.request_stop(b)  # B's Stop cannot reach A's run
            if len(table) == 2 and not seen["stopped_at"]:
                seen["stopped_at"].append(2)
                seen["a_stops_a"] = tab.request_stop(a)
        return files

    seen["files"] = in_a_fresh_loop(a_trains())
    seen["a_runs"] = [str(p) for p in runs(visitors.get("visitor-a"))]
    seen["savers_after_a"] = list(savers)

    async def b_trains():
        async for *_, status, files, _ in tab.train(1, 128, 0.003, False, 0, 1000, request=b, progress=NoProgress()):
            pass
        return status

    seen["b_status"] = in_a_fresh_loop(b_trains())
    seen["b_runs"] = [str(p) for p in runs(visitors.get("visitor-b"))]
    seen["a_runs_after_b"] = [str(p) for p in runs(visitors.get("visitor-a"))]
    seen["savers"], seen["server"] = list(savers), os.getpid()
    seen["stops_left"] = [p.name for p in gpu.stops_folder().iterdir()]
    return seen


@pytest.mark.slow
def test_a_training_in_a_forked_worker_stops_from_the_server_at_the_next_batch_and_the_server_saves_it(
    zero_gpu_server,
):
    seen = zero_gpu_server[0]
    assert seen["b_stops_a"] == "You have no training running."
    assert seen["stopped_at"] == [2] and seen["a_stops_a"] == "Stopping at the next batch…"
    assert "Stopped after 2 epochs" in seen["statuses"][-1], seen["statuses"][-3:]  # epoch 3 never completed
    (run,) = seen["a_runs"]
    assert [Path(f).name for f in seen["files"]] == [Path(run).name, Path(run).with_suffix(".json").name]  # copies
    model, meta = load_checkpoint(run)
    assert meta["stopped_early"] and len(meta["history"]) == 2 and meta["test_acc"] > 20  # learned (chance: 10%)
    assert seen["savers_after_a"] == [seen["server"]]  # saved by the server's own process, not by the worker
    assert "Finished 1 epoch" in seen["b_status"]
    assert len(seen["b_runs"]) == 1 and seen["a_runs_after_b"] == [run]  # each visitor's run in their folder
    assert seen["savers"] == [seen["server"]] * 2
    assert seen["stops_left"] == []  # each Stop's file went with its training


def fine_tunes(folder, data_dir, savers):
    from src.data.mnist import load_mnist, read_mnist
    from src.training import fine_tune
    from src.web import corrections

    test = read_mnist(data_dir, train=False)  # six real 7s as this visitor's corrections
    images = test.images[test.labels == 7][:6].numpy()
    corrections.load = lambda folder: (images, np.full(6, 7, np.int64))
    # A short fine-tuning, scored on a share of MNIST: what crosses the fork is the same (src.training.fine_tune's
    # own tests judge what it learns).
    fine_tune.STEPS_PER_EPOCH = 2
    gpu.load_mnist = lambda data_dir, **options: load_mnist(data_dir, **({"limit": 2000} | options))
    saved_before = len(savers)
    store = ModelStore(settings.CHECKPOINT_DIR, settings.DEFAULT_CHECKPOINT)
    store.activate_default()  # the shipped model, to fine-tune
    visitors = Visitors(folder)
    tab = train_tab.TrainTab(store, visitors)

    async def run():
        async for status, files in tab.fine_tune_on_corrections(
            request=SimpleNamespace(session_hash="c"), progress=NoProgress()
        ):
            pass
        return status, files

    status, files = in_a_fresh_loop(run())
    return {
        "status": status,
        "files": files,
        "runs": [str(p) for p in runs(visitors.get("c"))],
        "savers": savers[saved_before:],
        "server": os.getpid(),
    }


@pytest.mark.slow
def test_fine_tuning_in_a_forked_worker_is_saved_by_the_server(zero_gpu_server):
    seen = zero_gpu_server[1]
    assert "Fine-tuned in" in seen["status"] and "| MNIST test |" in seen["status"]
    (run,) = seen["runs"]
    assert Path(seen["files"][0]).name == Path(run).name and load_checkpoint(run)[1]["base"]  # its download's copy
    assert seen["savers"] == [seen["server"]]
