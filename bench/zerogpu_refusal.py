"""The Train tab's message when ZeroGPU refuses a training, in a screenshot (not a test).

Serves `python app.py` (run as __main__, in a process of its own) as a ZeroGPU Space would run it: the Train
tab's GPU functions wrapped by `spaces`' own decorator, on an RTX PRO 6000 Blackwell card (duration_factor 1.5),
with a stand-in for ZeroGPU's scheduler that answers as it does when a visitor without an account has spent
their quota (HTTP 429). Chromium sends a visitor's X-IP-Token as Spaces does, presses Start, and the page is saved.

    python -m bench.zerogpu_refusal docs/zerogpu-refusal.png
"""

import os
import runpy
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench.browser import FLAGS, chromium


def serve():
    """app.py as __main__, its training functions as `@spaces.GPU` wraps them on ZeroGPU, its scheduler refusing."""
    import spaces
    from spaces.zero import client, decorator, utils
    from spaces.zero import config as cards
    from spaces.zero.api import QuotaInfos, ScheduleMetadata

    from src.training import gpu

    class SpentQuota:
        def schedule(self, **request):
            print("the scheduler is asked for", request["duration_seconds"], "s", flush=True)
            return QuotaInfos(left=25, wait=timedelta(minutes=12, seconds=34)), ScheduleMetadata(auth=None)

    gpu.ZERO_GPU = True
    decorator.Config.zero_gpu = True
    cards._read_gpu_information = lambda: "Model: \t NVIDIA RTX PRO 6000 Blackwell Server Edition\n"
    utils.self_cgroup_device_path = lambda: "/simulated"
    client.api_client = SpentQuota
    gpu.train_run = spaces.GPU(duration=gpu.training_seconds)(gpu.train_run)
    gpu.fine_tune_run = spaces.GPU(duration=gpu.fine_tune_seconds)(gpu.fine_tune_run)
    runpy.run_path("app.py", run_name="__main__")


def shoot(out: Path):
    import requests
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="zerogpu-shot-"))
    (work / "checkpoints").mkdir()
    for name in ("default.safetensors", "default.json", "default.novelty.safetensors"):
        shutil.copy(Path("checkpoints") / name, work / "checkpoints" / name)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "CHECKPOINT_DIR": str(work / "checkpoints"),
        "VISITOR_DIR": str(work / "visitors"),
    }
    log = open(work / "server.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.zerogpu_refusal", "--serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(480):
            try:
                if requests.get(url, timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium(), args=FLAGS)
            page = browser.new_page(
                viewport={"width": 1280, "height": 1000}, extra_http_headers={"X-IP-Token": "header.e30.signature"}
            )
            page.goto(url)
            page.wait_for_selector("#sketchpad canvas", timeout=60_000)  # loaded, as tests/test_browser.py waits
            page.wait_for_function(
                "() => document.querySelector('#live-reading .live-reading')?.dataset.weights", timeout=60_000
            )
            page.get_by_role("tab", name="Train").click()
            page.wait_for_selector("#start")
            page.click("#start")
            page.wait_for_selector(".toast-body", timeout=180_000)
            page.wait_for_timeout(1500)
            print("status:", page.locator("#train-status").inner_text())
            print("toast:", page.locator(".toast-body").first.inner_text())
            page.screenshot(path=str(out))
            browser.close()
        print("saved", out)
    finally:
        server.terminate()
        server.wait(timeout=30)
        print((work / "server.log").read_text(errors="replace")[-1500:])


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        shoot(Path(sys.argv[1] if len(sys.argv) > 1 else "zero-gpu-refused.png").resolve())
