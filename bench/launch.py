"""The benches' one launcher and one client helper: Gradio apps in subprocesses on free loopback ports.

    with start_app(work, env={"ADMIN_PASSWORD": "x"}) as app:   # `python app.py`, folders of its own under work/
        c = client(app.url)                                      # a gradio_client.Client, its own session
        app.alive(), app.log_tail(), app.process.pid
    with start_code(TRIVIAL_APP, "arg") as ref:                  # `python -c TRIVIAL_APP arg`, from the repository
        ...
    with side_by_side(work, TRIVIAL_APP) as (app, ref):          # both at once
        timings = Timings(); timings.call(c.predict, ...)        # .latencies, .failures, from any thread

What the clients send: drawing_files (PNG drawings for /classify), pad_values (the pad's drawings for /predict).

Every app runs with the repository (or the checkout given as cwd) as its working directory, so `src` and
`app` import as they do for `python app.py`; each is stopped by its own PID (terminate, then kill).
"""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ("default.safetensors", "default.json", "default.novelty.safetensors")  # the shipped checkpoint's files


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Launched:
    """A Gradio app in a subprocess on a free port of 127.0.0.1; `with` stops it (and shows its log if it died)."""

    def __init__(
        self,
        cmd: list[str],
        env: dict | None = None,
        log_path: Path | None = None,
        timeout: float = 240,
        cwd: str | Path = ROOT,
    ):
        self.port = free_port()
        self.name = "python " + ("-c ... " + " ".join(cmd[3:]) if cmd[1:2] == ["-c"] else " ".join(cmd[1:]))
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = open(log_path, "w+b") if log_path else tempfile.TemporaryFile()
        full_env = {
            **os.environ,
            "GRADIO_SERVER_NAME": "127.0.0.1",
            "GRADIO_SERVER_PORT": str(self.port),
            "GRADIO_ANALYTICS_ENABLED": "False",
            **(env or {}),
        }
        self.process = subprocess.Popen(cmd, cwd=cwd, env=full_env, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            self._wait_until_up(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_until_up(self, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"{self.name} did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-chars:]

    def stop(self):
        """Ends this app's own process (its PID), never another by name."""
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        if not self.alive():  # died under load: show why
            print(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
        self.stop()


def app_folders(work: Path, checkpoints: Path = ROOT / "checkpoints") -> dict:
    """CHECKPOINT_DIR (a copy of the shipped checkpoint) and VISITOR_DIR under `work`: never the repository's."""
    (work / "checkpoints").mkdir(parents=True)
    for name in SHIPPED:
        shutil.copy(checkpoints / name, work / "checkpoints" / name)
    return {"CHECKPOINT_DIR": str(work / "checkpoints"), "VISITOR_DIR": str(work / "visitors")}


def start_app(
    work: Path, env: dict | None = None, cwd: Path = ROOT, checkpoints: Path | None = None, log_path: Path | None = None
) -> Launched:
    """`python app.py` of the checkout `cwd`, with a visitor folder and a copy of a checkpoint folder (by default
    that checkout's) of its own under `work`."""
    folders = app_folders(work, checkpoints or Path(cwd) / "checkpoints")
    return Launched([sys.executable, "app.py"], env={**folders, **(env or {})}, cwd=cwd, log_path=log_path)


def start_code(code: str, *args: str, env: dict | None = None) -> Launched:
    """`python -c code args...` from the repository root (so it can import `src` and `app`)."""
    return Launched([sys.executable, "-c", code, *args], env=env)


@contextlib.contextmanager
def side_by_side(work: Path, code: str):
    """`python app.py` (its folders under work/app) and next to it `python -c code`, e.g. a trivial Gradio app given
    the same traffic in the same run: (app, other), both serving until the `with` ends."""
    with start_app(work / "app") as app, start_code(code) as other:
        yield app, other


def client(url: str, **kwargs):
    """A gradio_client.Client of its own (its own session), quiet."""
    from gradio_client import Client

    return Client(url, verbose=False, **kwargs)


def close_all(clients):
    for c in clients:
        try:
            c.close()
        except Exception:  # noqa: BLE001 - a client already gone
            pass


class Timings:
    """Seconds per successful call and a message per failed one, gathered from any number of threads."""

    def __init__(self):
        self.latencies, self.failures, self._lock = [], [], threading.Lock()

    def call(self, fn, *args, **kwargs):
        """fn(*args, **kwargs), timed; a failure is recorded (its type and the start of its message), not raised."""
        started = time.perf_counter()
        try:
            fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - a failure, counted and reported
            with self._lock:
                self.failures.append(f"{type(e).__name__}: {e}"[:200])
        else:
            with self._lock:
                self.latencies.append(time.perf_counter() - started)


def drawing_files(folder: Path, n: int = 20, canvas: int = 800) -> list[Path]:
    """n PNG files of drawn digits (i % 10), black on white, canvas x canvas: what /classify is sent."""
    import numpy as np

    from src.data.digits import render_digit

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        render_digit(i % 10, rng, canvas=canvas).convert("RGB").save(folder / f"{i}.png")
    return [folder / f"{i}.png" for i in range(n)]


def pad_values(n: int = 10) -> list[str]:
    """n drawings (digit i % 10) as the pad sends them to /predict after a stroke: a PNG data URL each
    (src/web/pad.py: SIZE x SIZE, black ink on transparency)."""
    import numpy as np

    from src.data.digits import render_digit
    from src.web.pad import SIZE, encode

    rng = np.random.default_rng(0)
    return [encode(render_digit(i % 10, rng, canvas=SIZE, style="transparent")) for i in range(n)]
