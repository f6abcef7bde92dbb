"""Checkpoint weights for a visitor's browser (the live reading), by links that only they were given.

No server folder is in Gradio's allowed_paths, so no file is reachable by its path. The live reading
fetches the weights of the model its visitor uses from a link that names a random token,
which is handed only to that visitor's page (the server's default model has one link for everyone):

    links = WeightLinks()        # created once, in app.py
    links.url(path)              # "weights/<token>", relative to the page (so it works under a proxy's prefix)
    links.route                  # the route serving them: launch(app_kwargs={"routes": [links.route]})

Downloads of new runs, corrections and exports go through Gradio's own output cache (a gr.File output is
copied there under a folder named by a hash), never by a server path. Gradio copies only files under the
working directory or the temporary folder, so a visitor's files are first copied into a staging folder of
the temporary folder: VISITOR_DIR may be a mounted bucket, and is never opened to /file=.

    staging = Staging()              # created once, by Visitors
    staging.copies([run, run_json])  # ["/tmp/.../run.safetensors", ...] for a gr.File output
    staging.folder()                 # a new empty folder, for a file written for download (a zip)
"""

import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path

from starlette.responses import FileResponse, PlainTextResponse
from starlette.routing import Route

from src.web.lru import LRU

PREFIX = "weights"
MAX_LINKS = 10_000  # the least recently issued links go first (a page that still uses one reloads it)


class WeightLinks:
    def __init__(self, max_links: int = MAX_LINKS):
        self._paths: dict[str, Path] = {}  # token -> path, for the links still kept
        self._tokens = LRU(max_links, forget=lambda path, token: self._paths.pop(token, None))  # path -> token
        self._lock = threading.Lock()
        self.route = Route(f"/{PREFIX}/{{token}}", self._serve, methods=["GET"])

    def url(self, path: Path | None) -> str:
        """The link for one checkpoint's weights file ("" for none)."""
        if path is None:
            return ""
        path = Path(path).resolve()
        with self._lock:
            token = self._tokens.get(path)
            if token is None:
                token = secrets.token_urlsafe(18)
                self._paths[token] = path
                self._tokens.put(path, token)
        return f"{PREFIX}/{token}"

    def path(self, token: str) -> Path | None:
        with self._lock:
            return self._paths.get(token)

    async def _serve(self, request):
        path = self.path(request.path_params["token"])
        if path is None or not path.is_file():  # an unknown link and a removed run look the same
            return PlainTextResponse("No such model here.", status_code=404)
        return FileResponse(
            path,
            media_type="application/octet-stream",
            filename="model.safetensors",
            headers={"Cache-Control": "private, max-age=3600"},
        )


class Staging:
    """Folders of files about to be downloaded, in the temporary folder. Gradio copies a returned file into its
    cache at once, so folders older than `max_age` seconds go, and the oldest go first past `max_bytes`."""

    def __init__(self, max_bytes: int = 100_000_000, max_age: float = 600.0):
        self.max_bytes, self.max_age = max_bytes, max_age
        self._root = tempfile.TemporaryDirectory(prefix="draw-a-digit-downloads-")  # removed when the server stops
        self._lock = threading.Lock()

    def folder(self) -> Path:
        """A new empty folder, after the old ones are cleared away."""
        with self._lock:
            now, kept = time.time(), []
            for folder in sorted(Path(self._root.name).iterdir(), key=lambda p: p.stat().st_mtime, reverse=True):
                size = sum(p.stat().st_size for p in folder.iterdir())
                if now - folder.stat().st_mtime > self.max_age or sum(kept) + size > self.max_bytes:
                    shutil.rmtree(folder, ignore_errors=True)
                else:
                    kept.append(size)
            return Path(tempfile.mkdtemp(dir=self._root.name))

    def copies(self, paths: list[Path]) -> list[str]:
        """Copies of `paths` (keeping their names) in a new folder, for a gr.File output."""
        folder = self.folder()
        return [str(shutil.copy(path, folder / Path(path).name)) for path in paths]
