"""The page's trainings as ZeroGPU runs them: `@spaces.GPU` functions in a forked worker process, every argument
and every item they yield pickled (spaces/zero/wrappers.py), nothing they change in memory seen by the server."""

import inspect
import multiprocessing
import os
from types import SimpleNamespace

import numpy as np
import pytest

from src import config

from src.training import gpu

from src.web import train_tab
from src.model.checkpoint import is_weights_name, load_checkpoint
from src.reading.inference import ModelStore
from src.web.visitors import Visitors
from tests.conftest import NoProgress, in_a_fresh_loop

pytestmark = pytest.mark.slow


def forked(task):
    """`task` called as ZeroGPU's wrapper calls it: a worker forked for the call gets the arguments through a
    queue (pickled), and sends back each item it yields, or what it returns, the same way."""
    fork = multiprocessing.get_context("fork")

    def results(args):
        arguments, answers = fork.SimpleQueue(), fork.SimpleQueue()

        def worker():
            try:
                out = task(*arguments.get())
                for item in (out if inspect.isgenerator(out) else [out]):
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
    config.DATA_DIR = data_dir
    gpu.ZERO_GPU = True
    gpu.train_run = forked(gpu.train_run)
    gpu.fine_tune_run = forked(gpu.fine_tune_run)
    savers = []
    save_model = train_tab.save_model

    def saving(*args, **kwargs):
        savers.append(os.getpid())  # in the worker this list is a copy: the server never sees the entry
        return save_model(*args, **kwargs)

    train_tab.save_model = saving
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


def two_visitors_train(folder, data_dir):
    savers = as_on_zero_gpu(data_dir)
    visitors = Visitors(folder)
    tab = train_tab.TrainTab(ModelStore(config.CHECKPOINT_DIR, config.DEFAULT_CHECKPOINT), visitors)
    a, b = SimpleNamespace(session_hash="visitor-a"), SimpleNamespace(session_hash="visitor-b")
    seen = {"statuses": [], "stopped_at": [], "b_stops_a": None}

    async def a_trains():
        async for _, table, status, files, _ in tab.train(40, 128, 0.003, True, 0, 6000, request=a,
                                                            progress=NoProgress()):
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
        async for *_, status, files, _ in tab.train(1, 128, 0.003, False, 1, 1000, request=b, progress=NoProgress()):
            pass
        return status

    seen["b_status"] = in_a_fresh_loop(b_trains())
    seen["b_runs"] = [str(p) for p in runs(visitors.get("visitor-b"))]
    seen["a_runs_after_b"] = [str(p) for p in runs(visitors.get("visitor-a"))]
    seen["savers"], seen["server"] = savers, os.getpid()
    seen["stops_left"] = [p.name for p in gpu.stops_folder().iterdir()]
    return seen


def test_a_training_in_a_forked_worker_stops_from_the_server_at_the_next_batch_and_the_server_saves_it(
        tmp_path, data_dir):
    seen = in_a_new_server(two_visitors_train, tmp_path, data_dir)
    assert seen["b_stops_a"] == "You have no training running."
    assert seen["stopped_at"] == [2] and seen["a_stops_a"] == "Stopping at the next batch…"
    assert "Stopped after 2 epochs" in seen["statuses"][-1], seen["statuses"][-3:]  # epoch 3 never completed
    (run,) = seen["a_runs"]
    assert seen["files"] == [run, run.replace(".safetensors", ".json")]
    model, meta = load_checkpoint(run)
    assert meta["stopped_early"] and len(meta["history"]) == 2 and meta["test_acc"] > 20  # learned (chance: 10%)
    assert seen["savers_after_a"] == [seen["server"]]  # saved by the server's own process, not by the worker
    assert "Finished 1 epoch" in seen["b_status"]
    assert len(seen["b_runs"]) == 1 and seen["a_runs_after_b"] == [run]  # each visitor's run in their folder
    assert seen["savers"] == [seen["server"]] * 2
    assert seen["stops_left"] == []  # each Stop's file went with its training


def fine_tunes(folder, data_dir):
    from src.web import corrections
    from src.data.mnist import read_mnist

    savers = as_on_zero_gpu(data_dir)
    test = read_mnist(data_dir, train=False)  # six real 7s as this visitor's corrections
    images = test.images[test.labels == 7][:6].numpy()
    corrections.load = lambda folder: (images, np.full(6, 7, np.int64))
    store = ModelStore(config.CHECKPOINT_DIR, config.DEFAULT_CHECKPOINT)
    store.activate_default()  # the shipped model, to fine-tune
    visitors = Visitors(folder)
    tab = train_tab.TrainTab(store, visitors)

    async def run():
        async for status, files in tab.fine_tune_on_corrections(request=SimpleNamespace(session_hash="c"),
                                                                 progress=NoProgress()):
            pass
        return status, files

    status, files = in_a_fresh_loop(run())
    return {"status": status, "files": files, "runs": [str(p) for p in runs(visitors.get("c"))],
            "savers": savers, "server": os.getpid()}


def test_fine_tuning_in_a_forked_worker_is_saved_by_the_server(tmp_path, data_dir):
    seen = in_a_new_server(fine_tunes, tmp_path, data_dir)
    assert "Fine-tuned in" in seen["status"] and "| MNIST test |" in seen["status"]
    (run,) = seen["runs"]
    assert seen["files"][0] == run and load_checkpoint(run)[1]["base"]
    assert seen["savers"] == [seen["server"]]
