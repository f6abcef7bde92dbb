"""What strangers can send: every image is checked by its header before anything decodes it, whatever route
it came by, and nothing they send is kept for long or without limit.

    MAX_FILE_SIZE       launch(max_file_size=...): Gradio refuses a bigger file with HTTP 413
    RequestLimits       ASGI middleware: bodies over MAX_BODY_BYTES (413), upload bytes per address and hour (429),
                        events per address and second (slowed down, then 429)
    Sketchpad(...)      gr.Sketchpad, guarded on both of its routes (below); then sketchpad.drawings = Drawings()
    drawing(value, request)   in the handler: the sketchpad's value, the browser's blobs taken and decoded

A Sketchpad's value arrives by one of two routes:
  - files (gradio_client, the HTTP API): {"background", "layers", "composite"} as uploaded files. Their
    headers are checked in `preprocess`, then Gradio decodes them.
  - blobs (the browser): each image is first posted to /gradio_api/component_server (`accept_blobs`), then
    the event carries only {"id": ...}. Gradio would keep the bytes in one dict for everyone, keyed by the
    client's id, without limit, and decode them itself. Here `accept_blobs` checks each image's header
    (PNG, one frame, size) and its layer index as it arrives, and keeps it in a Drawings store under its
    session and id, for at most BLOB_SECONDS, within caps per client address and in all; `preprocess` hands
    the handler only the id, and the handler takes the images that its own session sent (`drawing`).
"""

import asyncio
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from io import BytesIO

import gradio as gr
from gradio.components.base import server
from gradio.components.image_editor import EditorData
from gradio.data_classes import FileData
from PIL import Image

from src import config
from src.web.clients import address, is_loopback
from src.data.preprocess import InvalidImage, check_size, readable_errors

# A 6000x6000 drawing is well under 1 MB as PNG, a 6000x6000 photo about 5-10 MB as JPEG; the
# biggest image MAX_PIXELS allows, as an uncompressed 8-bit RGB file, would be 120 MB: not worth taking.
MAX_FILE_SIZE = "10mb"
MAX_FILE_BYTES = 10 * 1024 * 1024
# A request carries at most a sketchpad's three images (background, layer, composite) and its form fields.
MAX_BODY_BYTES = 3 * MAX_FILE_BYTES + 1024 * 1024

LAYERS = 1  # the page's Sketchpad has one layer (layers=False): a higher index is refused
BLOB_SECONDS = 60.0  # a drawing's blobs are taken by its /predict within milliseconds; older ones go
BLOB_BYTES_PER_ADDRESS = 16 * 1024 * 1024  # a 320x320 drawing is about 5-20 KB as PNG
BLOB_BYTES_TOTAL = 64 * 1024 * 1024
BLOB_DRAWINGS_PER_ADDRESS = 64  # drawings waiting for their /predict; a class behind one address stays well below
MAX_ID_LENGTH = 64  # the browser's ids are about 11 characters
MAX_SENDERS = 100_000  # sessions remembered as having sent an image (the oldest are forgotten first)
KINDS = ("background", "layer", "composite")


def _unreadable(message: str) -> gr.Error:
    return gr.Error(f"The drawing could not be read: {message}", print_exception=False)


def check_header(data: bytes) -> None:
    """A blob the browser's canvas exported: one PNG frame within MAX_PIXELS, read from its header only."""
    with readable_errors():
        with Image.open(BytesIO(data)) as img:
            if img.format != "PNG":
                raise InvalidImage(f"the sketchpad sends PNG images, not {img.format or 'this format'}.")
            check_size(img)
            if getattr(img, "n_frames", 1) != 1:
                raise InvalidImage("the sketchpad sends one frame per image, not an animation.")


# ---------------------------------------------------------------------------------------------- blobs
@dataclass
class _Pending:
    addr: str  # who sent it: the caps are per address, since a session costs nothing
    created: float
    images: dict = field(default_factory=dict)  # kind -> bytes ("layer" holds layer 0)
    error: str | None = None  # why one of its images was refused: the handler says it

    @property
    def size(self) -> int:
        return sum(len(b) for b in self.images.values())


@dataclass(frozen=True)
class PendingDrawing:
    """What `Sketchpad.preprocess` hands the handler for a drawing sent by blob id (see `drawing`)."""
    id: str


class Drawings:
    """The browser's blobs, per (session, id), until their event takes them or BLOB_SECONDS pass."""

    def __init__(self, seconds=BLOB_SECONDS, per_address=BLOB_BYTES_PER_ADDRESS, total=BLOB_BYTES_TOTAL,
                 drawings_per_address=BLOB_DRAWINGS_PER_ADDRESS):
        self.seconds, self.per_address, self.total = seconds, per_address, total
        self.drawings_per_address = drawings_per_address
        self._pending: OrderedDict[tuple[str, str], _Pending] = OrderedDict()  # (session, id), oldest first
        # Sessions that have sent an image: before its first stroke a page's editor sends none, even when Clear
        # sends an event for its empty canvas.
        self._senders: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        while self._pending and now - next(iter(self._pending.values())).created > self.seconds:
            self._pending.popitem(last=False)

    def size(self, addr: str | None = None) -> int:
        with self._lock:
            return sum(p.size for p in self._pending.values() if addr is None or p.addr == addr)

    def put(self, addr: str, session: str, blob_id: str, kind: str, index, data: bytes) -> None:
        """Keep one image of a drawing, or remember why it was refused (the drawing's event then says so)."""
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            key = (session, blob_id)
            self._senders[session] = None
            self._senders.move_to_end(session)
            while len(self._senders) > MAX_SENDERS:
                self._senders.popitem(last=False)
            pending = self._pending.get(key)
            mine = [p for p in self._pending.values() if p.addr == addr]
            if pending is None:
                if len(mine) >= self.drawings_per_address:
                    return  # its event finds nothing and says the drawing did not arrive
                pending = self._pending[key] = _Pending(addr, now)
            if pending.error:
                return
            try:
                if kind not in KINDS:
                    raise InvalidImage(f"{str(kind)[:20]!r} is not part of a sketchpad.")
                if kind == "layer" and index != 0:
                    raise InvalidImage(f"this sketchpad has {LAYERS} layer, so layer {str(index)[:20]} cannot exist.")
                if len(data) > MAX_FILE_BYTES:
                    raise InvalidImage("the image is larger than 10 MB.")
                grown = len(data) - len(pending.images.get(kind, b""))
                if (sum(p.size for p in mine) + grown > self.per_address
                        or sum(p.size for p in self._pending.values()) + grown > self.total):
                    raise InvalidImage("the server is receiving too many drawings right now; draw again in a moment.")
                check_header(data)
            except InvalidImage as e:
                pending.images.clear()
                pending.error = str(e)
                return
            pending.images[kind] = data

    def take(self, session: str | None, blob_id: str) -> dict | None:
        """The drawing's images, decoded ({"background", "layers", "composite"}), removed from the store; None
        for a page that has sent no image yet (an empty canvas: nothing to read, and nothing went wrong)."""
        with self._lock:
            self._expire(time.monotonic())
            pending = self._pending.pop((session, blob_id), None)
            sent_before = session in self._senders
        if pending is None and not sent_before:
            return None
        if pending is None:
            raise _unreadable("it did not reach the server (or came too late). Please draw it again.")
        if pending.error:
            raise _unreadable(pending.error)
        try:
            with readable_errors():
                images = {k: Image.open(BytesIO(b)).convert("RGBA") for k, b in pending.images.items()}
        except InvalidImage as e:
            raise _unreadable(str(e)) from None
        return {"background": images.get("background"), "composite": images.get("composite"),
                "layers": [images["layer"]] if "layer" in images else []}


def _blob_index(value):
    """accept_blobs' layer index, sent as a form field: None for background and composite."""
    if value in (None, "", "null"):
        return None
    return int(value) if str(value).isdigit() and len(str(value)) < 10 else str(value)


# ----------------------------------------------------------------------------------------- the component
class SketchpadData(EditorData):
    """EditorData that lets `"layers": null` through, so that preprocess can say what is wrong with it."""
    layers: list[FileData] | None = []


class Sketchpad(gr.Sketchpad):
    """gr.Sketchpad whose uploads are checked before they are decoded, on both routes (see the module's doc)."""

    data_model = SketchpadData
    # Where accept_blobs keeps the browser's images: set after construction (sketchpad.drawings = ...), since
    # Gradio builds the page's config from the parameters of __init__, which this class leaves as gr.Sketchpad's.
    drawings: Drawings | None = None

    def get_block_name(self) -> str:  # the browser draws it with Gradio's own ImageEditor
        return "imageeditor"

    def get_block_class(self) -> str:
        return "imageeditor"

    @server
    def accept_blobs(self, data, request: gr.Request = None):
        """One image of a drawing from the browser (Gradio's own route calls this): checked and kept, or refused."""
        fields, files = getattr(data, "data", None), getattr(data, "files", None)
        if not isinstance(fields, dict) or not files:
            return
        blob_id, session = fields.get("id"), fields.get("session_hash")  # the form's fields, as Gradio parsed them
        if not all(isinstance(v, str) and 0 < len(v) <= MAX_ID_LENGTH for v in (blob_id, session)):
            return
        self.drawings.put(address(request), session, blob_id, fields.get("type"), _blob_index(fields.get("index")),
                          bytes(files[0][1]))

    def preprocess(self, payload):
        """A drawing sent by blob id: only its id (the handler takes it, see `drawing`). Uploaded files: each
        one's header checked first, then Gradio's own preprocessing, with Pillow's errors as messages."""
        if payload is None:
            return None
        if payload.id is not None:
            return PendingDrawing(str(payload.id))
        if payload.layers is None:
            raise _unreadable('"layers" must be a list of images (empty for none), not null.')
        files = [f for f in (payload.background, payload.composite, *payload.layers) if f is not None and f.path]
        try:
            with readable_errors():
                for f in files:
                    with Image.open(f.path) as img:  # reads the header only
                        check_size(img)
                return super().preprocess(payload)
        except InvalidImage as e:
            raise _unreadable(str(e)) from None


def drawing(value, drawings: Drawings, request) -> object:
    """A Sketchpad's value in its handler: a drawing sent by blob id is taken (this session's own) and decoded."""
    if isinstance(value, PendingDrawing):
        return drawings.take(getattr(request, "session_hash", None), value.id)
    return value


# ------------------------------------------------------------------------------------------ request body
UPLOAD_BYTES_PER_ADDRESS_HOUR = 256 * 1024 * 1024  # what one address may send to the upload routes in an hour
UPLOAD_PATHS = ("/gradio_api/upload", "/gradio_api/component_server")


class RequestLimits:
    """ASGI middleware, before Gradio reads a byte of the body:
      - a request body over `limit` bytes gets 413 (Gradio's multipart parser takes up to 1000 files of
        max_file_size each, and its component route reads them all into memory);
      - one address may send at most `hourly` bytes to the upload routes in any hour (429 after that), so
        that nobody fills the disk through Gradio's upload cache (delete_cache empties it after an hour)."""

    def __init__(self, app, limit: int = MAX_BODY_BYTES, hourly: int = UPLOAD_BYTES_PER_ADDRESS_HOUR,
                 per_second: float = None):
        self.app, self.limit, self.hourly = app, limit, hourly
        self._sent: dict[str, list[tuple[float, int]]] = {}
        self._lock = threading.Lock()
        self.events = EventRate(config.EVENTS_PER_SECOND if per_second is None else per_second)

    def _over_hourly(self, addr: str, nbytes: int) -> bool:
        now = time.monotonic()
        with self._lock:
            sent = [(t, n) for t, n in self._sent.get(addr, []) if now - t < 3600]
            if sum(n for _, n in sent) + nbytes > self.hourly:
                self._sent[addr] = sent
                return True
            self._sent[addr] = sent + [(now, nbytes)]
            if len(self._sent) > 100_000:  # forget the quietest addresses first
                self._sent = dict(sorted(self._sent.items(), key=lambda kv: -len(kv[1]))[:50_000])
            return False

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await _answer(send, 413, f"Request body over the maximum allowed size of {self.limit} bytes.")
        if scope.get("method") == "POST" and scope.get("path", "").rstrip("/").endswith(UPLOAD_PATHS):
            if self._over_hourly(address(scope), int(declared or 0)):
                return await _answer(send, 429, "You have sent too many files to this server in the last hour. "
                                                "Please try again later.")
        if scope.get("method") == "POST" and scope.get("path", "").rstrip("/").endswith("/queue/join"):
            wait = self.events.wait(address(scope))
            if wait is None:
                return await _answer(send, 429, "Too many requests from your address: please slow down.")
            if wait > 0:
                await asyncio.sleep(wait)  # a tarpit on the event loop: it holds no worker and no queue slot
        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await _answer(send, 413, f"Request body over the maximum allowed size of {self.limit} bytes.")


class EventRate:
    """Events (queue joins) per address: `per_second` on average, bursts of 3 seconds' worth. A faster sender
    is slowed down (wait() says for how long), and refused (None) once it would wait over MAX_WAIT seconds.
    Loopback addresses (the machine's own user, tests and benches) are not limited; behind Spaces' proxy the
    address is the visitor's own (src/web/clients.py)."""

    MAX_WAIT = 5.0

    def __init__(self, per_second: float):
        self.rate, self.burst = per_second, 3 * per_second
        self._next: dict[str, float] = {}  # address -> when its bucket is empty again (a virtual schedule)
        self._lock = threading.Lock()

    def wait(self, addr: str) -> float | None:
        if self.rate <= 0 or is_loopback(addr) or addr == "unknown":
            return 0.0
        now = time.monotonic()
        with self._lock:
            start = max(self._next.get(addr, now), now - self.burst / self.rate)
            wait = start + 1 / self.rate - now - self.burst / self.rate
            if wait > self.MAX_WAIT:
                return None
            self._next[addr] = start + 1 / self.rate
            if len(self._next) > 100_000:
                self._next = {a: t for a, t in self._next.items() if t > now}
        return max(0.0, wait)


async def _answer(send, status: int, text: str) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass
