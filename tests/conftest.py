"""Shared fixtures: real MNIST from DATA_DIR (default ./data), and the shipped checkpoint."""

import os
from pathlib import Path

import pytest

from src import config
from src.data import DataUnavailable, load_mnist, read_mnist

ROOT = Path(__file__).resolve().parent.parent


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
        for name in ("default.safetensors", "default.json", "default.novelty.json"):
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
