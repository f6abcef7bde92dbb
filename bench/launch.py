"""One launcher for the tests and the benches: start a Gradio app on a free loopback port, wait until it answers.

    app = Launched([sys.executable, "app.py"], env={"CHECKPOINT_DIR": "/tmp/x"})
    app.url          # http://127.0.0.1:<port>/
    app.alive()      # still running?
    app.log_tail()   # the end of what it printed
    app.stop()

tests/conftest.py starts `python app.py` with it; bench/load_test.py and bench/predict_latency.py start the
app and a trivial Gradio app next to it the same way.
"""

import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Launched:
    """A Gradio app in a subprocess (cwd: the repository), on a free port of 127.0.0.1."""

    def __init__(self, cmd: list[str], env: dict | None = None, log_path: Path | None = None, timeout: float = 240,
                 cwd: str | Path = ROOT):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = open(log_path, "w+b") if log_path else tempfile.TemporaryFile()
        full_env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(self.port),
                    "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}
        self.process = subprocess.Popen(cmd, cwd=cwd, env=full_env, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_until_up(cmd, timeout)

    def _wait_until_up(self, cmd, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{cmd} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"{cmd} did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-chars:]

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
