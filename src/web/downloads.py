"""Checkpoint weights for a visitor's browser (the live reading), by links that only they were given.

No server folder is in Gradio's allowed_paths, so no file is reachable by its path. The live reading
(src/web/live.py) fetches the weights of the model its visitor uses from a link that names a random token,
which is handed only to that visitor's page (the server's default model has one link for everyone):

    links = WeightLinks()        # created once, in app.py
    links.url(path)              # "weights/<token>", relative to the page (so it works under a proxy's prefix)
    links.route                  # the route serving them: launch(app_kwargs={"routes": [links.route]})

Downloads of new runs and exports go through Gradio's own output cache (a gr.File output is copied there
under a folder named by a hash), never by a server path.
"""

import secrets
import threading
from collections import OrderedDict
from pathlib import Path

from starlette.responses import FileResponse, PlainTextResponse
from starlette.routing import Route

PREFIX = "weights"
MAX_LINKS = 10_000  # the least recently issued links go first (a page that still uses one reloads it)


class WeightLinks:
    def __init__(self, max_links: int = MAX_LINKS):
        self.max_links = max_links
        self._tokens: OrderedDict[Path, str] = OrderedDict()
        self._paths: dict[str, Path] = {}
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
                token = self._tokens[path] = secrets.token_urlsafe(18)
                self._paths[token] = path
                while len(self._tokens) > self.max_links:
                    _, old = self._tokens.popitem(last=False)
                    self._paths.pop(old, None)
            self._tokens.move_to_end(path)
        return f"{PREFIX}/{token}"

    def path(self, token: str) -> Path | None:
        with self._lock:
            return self._paths.get(token)

    async def _serve(self, request):
        path = self.path(request.path_params["token"])
        if path is None or not path.is_file():  # an unknown link and a removed run look the same
            return PlainTextResponse("No such model here.", status_code=404)
        return FileResponse(path, media_type="application/octet-stream", filename="model.safetensors",
                            headers={"Cache-Control": "private, max-age=3600"})
