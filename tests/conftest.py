"""Shared fixtures: real MNIST from DATA_DIR (default ./data), and the shipped checkpoint."""

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from src import settings
from src.data.mnist import DataUnavailable, load_mnist, read_mnist
from src.data.pools import as_ink

ROOT = Path(__file__).resolve().parent.parent
# No telemetry from the tests' gradio_client sessions (a thread each, reaching for the internet).
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def pytest_addoption(parser):
    parser.addoption(
        "--update-screenshots",
        action="store_true",
        help="write the browser tests' screenshots into docs/ (the README's pictures)",
    )


def pytest_xdist_auto_num_workers(config) -> int:
    """`-n auto` (pyproject.toml): two workers, each with its own server and browser, where there are two cores;
    one process for `-m "not slow"`, whose imports in a second worker would cost more than it saves."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return int(os.environ["PYTEST_XDIST_AUTO_NUM_WORKERS"])
    return 0 if "not slow" in (config.option.markexpr or "") else min(2, os.cpu_count() or 1)


def pytest_configure(config):
    """With several workers (pytest-xdist, pyproject.toml), each computes on one thread, and so do the servers,
    trainings and benches they start (TRAINING_THREADS): with two threads each, the workers wait on each other."""
    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
        import torch

        torch.set_num_threads(1)
        os.environ["TRAINING_THREADS"] = "1"
        settings.TRAINING_THREADS = 1


def pytest_collection_modifyitems(items):
    """A test that needs the running app is slow: `pytest -m "not slow"` starts no server."""
    for item in items:
        if needs_server(item):
            item.add_marker(pytest.mark.slow)


def needs_server(item) -> bool:
    """Whether a test uses the `server` fixture, directly or through another."""
    return "server" in getattr(item, "fixturenames", ())


# ------------------------------------------------------------------------------------------ messages
MESSAGES: list[str] = []  # every error message the suite provokes, checked for server paths at its end


def _record(cls, text_of):
    original = cls.__init__

    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if not getattr(self, "_recorded", False):  # once, by the outermost class (gr.Error is an AppError)
            self._recorded = True
            MESSAGES.append(text_of(self, args, kwargs))

    cls.__init__ = __init__


@pytest.fixture(scope="session", autouse=True)
def error_messages():
    """Records the messages of gr.Error (raised in process), of gradio_client's AppError (a server's answer), of
    the app's own errors for people, and the bodies of HTTP answers of 400 and over; at the end of the session
    (of each worker's), none may show a server path."""
    import gradio as gr
    import requests
    from gradio_client.exceptions import AppError

    from src.data.preprocess import InvalidImage
    from src.model.checkpoint import CheckpointError
    from src.web.visitors import LimitReached

    first_argument = lambda self, args, kwargs: str(args[0] if args else kwargs.get("message", ""))  # noqa: E731
    for cls in (gr.Error, AppError, InvalidImage, CheckpointError, LimitReached):
        _record(cls, first_argument)
    send = requests.Session.send

    def recorded_send(self, request, **kwargs):
        response = send(self, request, **kwargs)
        # Gradio's file route repeats the path it was asked for: the client's own words, not the server's.
        if response.status_code >= 400 and not kwargs.get("stream") and "/file=" not in request.url:
            MESSAGES.append(response.text[:2000])
        return response

    requests.Session.send = recorded_send
    yield MESSAGES
    paths = server_paths()
    bad = [m[:300] for m in MESSAGES if any(p in m for p in paths)]
    print(f"\nerror messages: {len(MESSAGES)} provoked, {len(bad)} showing a server path")
    assert not bad, f"messages showing a server path: {bad[:20]}"


def server_paths() -> list[str]:
    """What no message may show: this checkout's and the temporary folder's paths, home folders, tracebacks."""
    import tempfile

    return [str(ROOT), tempfile.gettempdir() + "/", str(Path(settings.DATA_DIR).resolve()), "/home/", "Traceback"]


@pytest.fixture(scope="session")
def screenshots(request, tmp_path_factory) -> Path:
    """Where the browser tests save screenshots: docs/ with --update-screenshots, else a temporary folder."""
    if request.config.getoption("--update-screenshots"):
        (ROOT / "docs").mkdir(exist_ok=True)
        return ROOT / "docs"
    return tmp_path_factory.mktemp("screenshots")


def between_workers(tmp_path_factory, name: str):
    """A lock that the run's workers (pytest-xdist) share: what one of them makes under it, the others then read."""
    from filelock import FileLock

    return FileLock(Path(tmp_path_factory.getbasetemp()).parent / f"{name}.lock")


@pytest.fixture(scope="session")
def data_dir() -> str:
    """DATA_DIR with MNIST in it: downloaded on first use where there is internet, as the app does (by one
    process at a time: src.data.mnist.read_mnist)."""
    try:
        read_mnist(settings.DATA_DIR, train=False)
    except DataUnavailable as e:
        pytest.fail(str(e))
    return settings.DATA_DIR


@pytest.fixture(scope="session")
def small_mnist(data_dir):
    """4,000 training examples (and proportionally fewer validation and test ones), on the CPU."""
    return load_mnist(data_dir, limit=4000)


@pytest.fixture(scope="session")
def fives_in_pieces(data_dir) -> list:
    """Five MNIST test 5s whose bar stands apart: split, they read as "57", "52" or "32" with a part that is not
    a digit; whole, each is a 5. 280x280 ink maps (src.data.pools.as_ink)."""
    images = read_mnist(data_dir, train=False).images
    return [as_ink(images[i].numpy()) for i in (2957, 7454, 8444, 9513, 9702)]


@pytest.fixture(scope="session")
def ones_leaning_back() -> list:
    """Five 1s with a flag and a base, leaning 25-40 degrees backwards, that the shipped model does not read as a
    digit as drawn, but does upright. Ink maps, 400x400. Tuning data: bench/heldout.py's heldout_digits(n, seed,
    "thin", kind="slanted"), seed 5135 drawings 711 and 901, seed 5235 drawings 321, 501 and 831, side by side."""
    strip = np.asarray(Image.open(ROOT / "tests" / "data" / "ones_leaning_back.png"), np.float32) / 255
    return [np.ascontiguousarray(one) for one in np.split(strip, 5, axis=1)]


@pytest.fixture(scope="session")
def dots_alone() -> list:
    """Drawings of filled dots only, each a (centres, ink map) pair: a colon, three dots like a 3, and a row of
    three dots like a number. 320x320 ink maps."""

    def dots(centres, radius=14):
        img = Image.new("L", (320, 320), 0)
        for x, y in centres:
            ImageDraw.Draw(img).ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
        return centres, np.asarray(img, np.float32) / 255

    return [
        dots([(160, 100), (160, 220)]),
        dots([(160, 80), (130, 160), (175, 240)]),
        dots([(60, 160), (160, 160), (260, 160)]),
    ]


@pytest.fixture(scope="session")
def default_checkpoint() -> Path:
    path = settings.CHECKPOINT_DIR / settings.DEFAULT_CHECKPOINT
    assert path.exists(), f"the shipped checkpoint {path} is missing"
    return path


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium to drive: CHROMIUM if set, else the first chromium on PATH; the browser tests skip without one."""
    import shutil

    found = os.environ.get("CHROMIUM") or next(
        filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None
    )
    if not found:
        pytest.skip(
            "no Chromium on PATH: apt-get install chromium (or playwright install chromium, then set "
            "CHROMIUM to its path)"
        )
    return found


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def playwright():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright, chromium):
    """One headless Chromium for every browser test (tests/test_browser.py, tests/test_live.py)."""
    browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def loaded_model(default_checkpoint):
    """The shipped model as the app loads it (src.reading.inference.LoadedModel: network + novelty statistics)."""
    import torch

    from src.reading.inference import ModelStore

    torch.set_num_threads(1)
    return ModelStore(default_checkpoint.parent, default_checkpoint.name).load(default_checkpoint.name)


@pytest.fixture(scope="session")
def model(loaded_model):
    """The shipped network (a TutorialCNN in eval mode)."""
    return loaded_model.model


@pytest.fixture
def save_model():
    """save_model(path, model, metadata): src.model.checkpoint.save_model with placeholder novelty statistics fitted
    to `model` (a real fit needs MNIST and seconds; these flag everything and are only for file handling)."""
    from src.model.checkpoint import save_model as save
    from src.model.checkpoint import weights_digest
    from src.model.novelty import PCA_DIMS, NoveltyDetector

    def save_with_placeholder_statistics(path, model, metadata):
        detector = NoveltyDetector(np.zeros(1568), np.zeros((1568, PCA_DIMS)), -1e9, 1e9, weights_digest(model))
        return save(path, model, metadata, detector)

    return save_with_placeholder_statistics


class Server:
    """`python app.py` on a free port of 127.0.0.1, with checkpoint, visitor and temporary folders of its own under
    `workdir` (its visitor folder is outside its temporary one and the working directory, as on a mounted bucket)
    and its output in workdir/server.log; stop() ends its process by PID."""

    def __init__(self, workdir: Path, env: dict | None = None, timeout: float = 240):
        import shutil
        import socket
        import subprocess
        import sys

        self.checkpoint_dir, self.visitor_dir = workdir / "checkpoints", workdir / "visitors"
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir = workdir / "tmp"  # its TMPDIR: Gradio's cache too
        self.tmp_dir.mkdir()
        for name in ("default.safetensors", "default.json", "default.novelty.safetensors"):
            shutil.copy(settings.CHECKPOINT_DIR / name, self.checkpoint_dir / name)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = workdir / "server.log"
        env = {
            **os.environ,
            "GRADIO_SERVER_NAME": "127.0.0.1",
            "GRADIO_SERVER_PORT": str(self.port),
            "GRADIO_ANALYTICS_ENABLED": "False",
            "CHECKPOINT_DIR": str(self.checkpoint_dir),
            "VISITOR_DIR": str(self.visitor_dir),
            "TMPDIR": str(self.tmp_dir),  # Gradio's cache too: nothing is written to the system's /tmp
            **(env or {}),
        }
        with open(self.log_path, "wb") as log:  # the app writes on through its own handle
            self.process = subprocess.Popen(
                [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self._serving_within(timeout)

    def _serving_within(self, seconds: float):
        import time

        import requests

        give_up = time.monotonic() + seconds
        while time.monotonic() < give_up:
            try:
                if requests.get(self.url, timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if self.ended_within(0.5):  # half a second more for it to answer, unless its process ends
                break
        self.stop()
        pytest.fail(
            f"app.py did not serve {self.url} (exit code {self.process.returncode}):\n"
            f"{self.log_path.read_text(errors='replace')[-3000:]}"
        )

    @property
    def app(self):
        """Itself: tests/test_uploads.py reads the server's PID as server.app.process.pid."""
        return self

    def visitor(self, client):
        """The folders (src.web.visitors.Visitor) of the visitor behind a gradio_client session."""
        from src.web.visitors import Visitors

        return Visitors(self.visitor_dir).get(client.session_hash)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self):

        for end in (self.process.terminate, self.process.kill):  # SIGTERM to its PID; SIGKILL if it outlasts 20 s
            end()
            if self.ended_within(20):
                return

    def ended_within(self, seconds: float) -> bool:
        """Whether its process ends within `seconds` (waiting on the process itself, not a fixed time)."""
        import subprocess

        try:
            self.process.wait(timeout=seconds)
            return True
        except subprocess.TimeoutExpired:
            return False

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.stop()


# What the app makes once and keeps in DATA_DIR (src.atomic.cached_arrays): the tuning digits, and the training
# pools its trainings draw. A run that starts the app makes them from its start, each worker a share, in a process
# of its own: on a fresh clone its tests would otherwise wait for them in turn.
MADE_ONCE = [
    "from src.reading import calibration; calibration.prepare()",
    "from src import settings; from src.data import pools; pools.cached_training_pools(settings.DATA_DIR)",
]


@pytest.fixture(scope="session", autouse=True)
def made_once(request, tmp_path_factory):
    """This worker's share of MADE_ONCE, begun in the background when the run has a test of the app (its output in
    made-once-<worker>.log of the run's temporary folder); interrupted at the end of the run if still at work."""
    import signal
    import subprocess
    import sys
    import warnings

    workers, worker = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")), os.environ.get("PYTEST_XDIST_WORKER")
    share = MADE_ONCE[int(worker[2:]) if worker else 0 :: workers]
    if not share or not any(needs_server(item) for item in request.session.items):
        yield
        return
    request.getfixturevalue("data_dir")  # MNIST first: one worker downloads it
    log = tmp_path_factory.getbasetemp() / f"made-once-{worker or 'gw0'}.log"
    with open(log, "wb") as out:
        maker = subprocess.Popen(
            [sys.executable, "-c", "; ".join(share)],
            cwd=ROOT,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    yield
    if maker.poll() is None:  # KeyboardInterrupt: a file being written is removed, not left half made
        maker.send_signal(signal.SIGINT)
        try:
            maker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            maker.kill()
            maker.wait()
    elif maker.returncode:
        warnings.warn(f"making {share} failed: {log.read_text(errors='replace')[-2000:]}", stacklevel=1)


@pytest.fixture(scope="session")
def server(tmp_path_factory, default_checkpoint, data_dir):
    """The app every test shares, once it has read a first drawing. Its kernels (numba's cache) and tuning digits
    (MADE_ONCE) are made here first, where not yet made: the server would make them while the first tests use it."""
    from src.data.digits import render_digit
    from src.reading import calibration
    from src.training import kernels
    from src.web.pad import SIZE, encode

    with between_workers(tmp_path_factory, "kernels"):  # numba compiles once; the others load its cache
        kernels.warm_up()
    calibration.prepare()
    with Server(tmp_path_factory.mktemp("app")) as s:
        drawing = encode(render_digit(7, np.random.default_rng(7), canvas=SIZE, style="transparent"))
        app_client(s.url).predict(drawing, api_name="/predict")  # waits for the answer itself
        yield s


def app_client(url: str):
    """A new visitor of the app at `url`, through gradio_client. The app is plain HTTP on this machine: with no
    certificate to check, httpx does not load the certificate bundle again for every request (docs/measurements.md)."""
    from gradio_client import Client

    return Client(url, verbose=False, ssl_verify=False)


@pytest.fixture
def client(server):
    """A visitor of the session's app: each test its own gradio_client session (its own visitor folders)."""
    import threading

    visitor = app_client(server.url)
    yield visitor
    # Gone, as a closed page is: its heartbeat ends at its next beat (close() would wait a second for that).
    threading.Thread(target=visitor.close, daemon=True).start()


class NoProgress:
    """A gr.Progress stand-in for calling the Train tab's generators in process."""

    def __call__(self, *args, **kwargs):
        pass

    def tqdm(self, iterable, **_):
        return iterable


def in_a_fresh_loop(coroutine):
    """asyncio.run in a thread of its own (Playwright's sync API may hold this thread's loop)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
