"""The Chromium the benches drive: CHROMIUM if set, else the first on PATH; flags for a machine without a GPU."""

import os
import shutil
import sys

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def chromium() -> str:
    """The Chromium executable, or exit with how to install one."""
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        sys.exit("needs Chromium: apt-get install chromium (or set CHROMIUM)")
    return found
