"""Shared fixtures: real MNIST from DATA_DIR (default ./data), and the shipped checkpoint."""

import os
from pathlib import Path

import pytest

from src import config
from src.data import DataUnavailable, load_mnist, read_mnist

ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser):
    parser.addoption("--update-screenshots", action="store_true",
                     help="write the browser tests' screenshots into docs/ (the README's pictures)")


@pytest.fixture(scope="session")
def screenshots(request, tmp_path_factory) -> Path:
    """Where the browser tests save screenshots: docs/ with --update-screenshots, else a temporary folder."""
    if request.config.getoption("--update-screenshots"):
        (ROOT / "docs").mkdir(exist_ok=True)
        return ROOT / "docs"
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="session")
def data_dir() -> str:
    """DATA_DIR with MNIST in it: downloaded on first use where there is internet, as the app does."""
    try:
        read_mnist(config.DATA_DIR, train=False)
    except DataUnavailable as e:
        pytest.fail(str(e))
    return config.DATA_DIR


@pytest.fixture(scope="session")
def small_mnist(data_dir):
    """4,000 training examples (and proportionally fewer validation and test ones), on the CPU."""
    return load_mnist(data_dir, limit=4000)


@pytest.fixture(scope="session")
def default_checkpoint() -> Path:
    path = config.CHECKPOINT_DIR / config.DEFAULT_CHECKPOINT
    assert path.exists(), f"the shipped checkpoint {path} is missing"
    return path


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium to drive: CHROMIUM if set, else the first chromium on PATH; the browser tests skip without one."""
    import shutil

    found = os.environ.get("CHROMIUM") or next(
        filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    if not found:
        pytest.skip("no Chromium on PATH: apt-get install chromium (or playwright install chromium, then set "
                    "CHROMIUM to its path)")
    return found


@pytest.fixture(scope="session")
def loaded_model(default_checkpoint):
    """The shipped model as the app loads it (src.inference.LoadedModel: network + novelty statistics)."""
    import torch

    from src.inference import ModelStore

    torch.set_num_threads(1)
    return ModelStore(default_checkpoint.parent, default_checkpoint.name).load(default_checkpoint.name)


@pytest.fixture
def save_model():
    """save_model(path, model, metadata): src.checkpoint.save_model with placeholder novelty statistics fitted
    to `model` (a real fit needs MNIST and seconds; these flag everything and are only for file handling)."""
    import numpy as np

    from src.checkpoint import save_model as save, weights_digest
    from src.novelty import PCA_DIMS, NoveltyDetector

    def save_with_placeholder_statistics(path, model, metadata):
        detector = NoveltyDetector(np.zeros(1568), np.zeros((1568, PCA_DIMS)), -1e9, 1e9, weights_digest(model))
        return save(path, model, metadata, detector)

    return save_with_placeholder_statistics


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`python app.py` in a subprocess, on a free port, with its own checkpoint folder."""

    def __init__(self, workdir: Path, env: dict | None = None):
        import shutil
        import subprocess
        import sys

        self.checkpoint_dir = workdir / "checkpoints"
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        for name in ("default.safetensors", "default.json", "default.novelty.safetensors"):
            shutil.copy(config.CHECKPOINT_DIR / name, self.checkpoint_dir / name)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = workdir / "server.log"
        full_env = {
            **os.environ,
            "GRADIO_SERVER_NAME": "127.0.0.1",
            "GRADIO_SERVER_PORT": str(self.port),
            "GRADIO_ANALYTICS_ENABLED": "False",
            "CHECKPOINT_DIR": str(self.checkpoint_dir),
            "CORRECTIONS_DIR": str(workdir / "corrections"),
            **(env or {}),
        }
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=full_env,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_until_up()

    def _wait_until_up(self, timeout: float = 240):
        import time
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"app.py exited with {self.process.returncode}:\n{self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"app.py did not answer within {timeout}s:\n{self.log_path.read_text()}")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except Exception:
            self.process.kill()
        self.log.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory, default_checkpoint):
    s = Server(tmp_path_factory.mktemp("app"))
    yield s
    s.stop()


@pytest.fixture(scope="session")
def client(server):
    from gradio_client import Client

    return Client(server.url, verbose=False)
