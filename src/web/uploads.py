"""What strangers can send: bounded before Gradio reads or decodes it.

    MAX_FILE_SIZE       launch(max_file_size=...): Gradio refuses a bigger file with HTTP 413
    RequestLimits       ASGI middleware: bodies over MAX_BODY_BYTES, events over MAX_EVENT_BYTES (413), upload
                        bytes per address and hour (429), events per address and second (slowed down, then 429)

The pad's drawing is checked by its header before it is decoded (pad.decode); image files for /classify
by preprocess.load_image.
"""

import asyncio
import json
import re
import time

import gradio as gr
from gradio.data_classes import FileData
from pydantic import ValidationError, model_validator

from src import settings
from src.web.clients import EventRate, Hourly, address, is_loopback

# A 4000x4000 drawing (MAX_PIXELS) is well under 1 MB as PNG, a 12 MP photo a few MB as JPEG; the biggest
# PNG MAX_PIXELS allows, uncompressed, would be 48 MB: not worth taking.
MAX_FILE_SIZE = "10mb"
MAX_FILE_BYTES = 10 * 1024 * 1024
# An upload carries at most one image file and its form fields.
MAX_BODY_BYTES = MAX_FILE_BYTES + 1024 * 1024
# Any other request carries JSON: the largest is an event with the pad's PNG (at most pad.MAX_VALUE_LENGTH).
MAX_EVENT_BYTES = 1024 * 1024
# The ways into Gradio's queue: the browser's and gradio_client's, the REST one, and the direct ones that
# demo.queue(api_open=False) answers with 404 (app.py). Each counts against one rate per address.
EVENT_PATHS = ("/queue/join", "/call/", "/run/", "/api/")


# ------------------------------------------------------------------------------------------ request body
UPLOAD_BYTES_PER_ADDRESS_HOUR = 256 * 1024 * 1024  # what one address may send to the upload routes in an hour
UPLOAD_PATHS = ("/gradio_api/upload", "/gradio_api/component_server")


class RequestLimits:
    """ASGI middleware, before Gradio reads a byte of the body:
    - a body over `event_limit` bytes gets 413 before Gradio parses its JSON (chunked ones too), and one that
      names a file by an http(s) address gets 422 (Gradio would download it);
    - an upload's body over `limit` bytes gets 413 (Gradio's multipart parser takes up to 1000 files of
      max_file_size each, and its component route reads them all into memory);
    - one address may send at most `hourly` bytes to the upload routes in any hour (429 after that), so
      that nobody fills the disk through Gradio's upload cache (delete_cache empties it after an hour)."""

    def __init__(
        self,
        app,
        limit: int = MAX_BODY_BYTES,
        hourly: int = UPLOAD_BYTES_PER_ADDRESS_HOUR,
        per_second: float = None,
        event_limit: int = MAX_EVENT_BYTES,
    ):
        self.app, self.limit, self.event_limit = app, limit, event_limit
        self.uploads = Hourly(hourly)
        self.events = EventRate(settings.EVENTS_PER_SECOND if per_second is None else per_second)
        self.in_flight = InFlight(settings.EVENTS_IN_FLIGHT_PER_ADDRESS)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers", []))
        # A length is what the client declares, unless it sends chunks (then the chunks count, whatever it says).
        declared = None if b"transfer-encoding" in headers else headers.get(b"content-length")
        path, post = scope.get("path", ""), scope.get("method") == "POST"
        upload = path.rstrip("/").endswith(UPLOAD_PATHS)
        limit = self.limit if upload else self.event_limit
        too_large = f"Request body over the maximum allowed size of {limit} bytes."
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await _answer(send, 413, too_large)
        addr = address(scope)
        if post and upload and self.uploads.over(addr, int(declared or 0)):
            return await _answer(send, 429, TOO_MANY_FILES)
        if post and any(p in path for p in EVENT_PATHS):
            wait = self.events.wait(addr)
            if wait is None:
                return await _answer(send, 429, "Too many requests from your address: please slow down.")
            if wait > 0:
                await asyncio.sleep(wait)  # a tarpit on the event loop: it holds no worker and no queue slot
        if not upload and post:
            # JSON: read whole (it is small) before Gradio parses it, which would turn a refusal of chunks into
            # its own "error parsing the body", and would download a file named by its address.
            body, more = bytearray(), True
            while more:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False) and message["type"] == "http.request"
                if len(body) > limit:
                    return await _answer(send, 413, too_large)
            if names_a_url(body):
                return await _answer(send, 422, URL_REFUSED)
            replay, receive_rest = [{"type": "http.request", "body": bytes(body), "more_body": False}], receive

            async def receive():  # noqa: F811 - the body read above, then what the client sends after it
                return replay.pop() if replay else await receive_rest()

        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                n = len(message.get("body", b""))
                seen += n
                if seen > limit:
                    raise _Refused(413, too_large)
                if post and upload and not self.uploads.spend(addr, n):  # the bytes received count, chunked or not
                    raise _Refused(429, TOO_MANY_FILES)
            return message

        try:
            if post and not upload and any(p in path for p in EVENT_PATHS):
                await self.in_flight.join(scope, bytes(body), lambda: self.app(scope, limited_receive, send))
            else:
                await self.app(scope, limited_receive, send)
        except _Refused as refused:
            await _answer(send, refused.status, refused.text)


class InFlight:
    """Events queued or running per address, of the functions with no validator of their own (readings, maps,
    evaluations; trainings and sign-ins have their own admission): at most `limit`, so that no client holds all
    the workers of an endpoint or fills the queue. A join over it waits on the event loop, holding nothing, until
    one of that address's events ends, and after MAX_WAIT seconds gets 429. Loopback is not limited."""

    MAX_WAIT = 10.0
    CALL = re.compile(r"/call/(?:v2/)?([^/]+)/?$")  # /gradio_api/call/<api_name>, gradio_client's REST route

    def __init__(self, limit: int):
        self.limit = limit
        self._lock = asyncio.Lock()  # around a count and the join it allows, so that two joins cannot both pass

    def _fn(self, blocks, path: str, body: bytes):
        """The function an event is for (Gradio's BlockFunction), or None where Gradio will refuse it anyway."""
        try:
            call = self.CALL.search(path)
            if call:
                return next(fn for fn in blocks.fns.values() if fn.api_name == call[1])
            return blocks.fns[int(json.loads(body)["fn_index"])]
        except (ValueError, KeyError, TypeError, StopIteration):
            return None

    def _count(self, queue, addr: str) -> int:
        return sum(
            event.fn.validator is None and address(event.request) == addr
            for event in list(queue.event_ids_to_events.values())
        )

    async def join(self, scope, body: bytes, call_app) -> None:
        """call_app() (Gradio's join, which returns once the event is queued) when the address has room."""
        addr, app = address(scope), scope.get("app")
        blocks = app.get_blocks() if app is not None and hasattr(app, "get_blocks") else None
        fn = self._fn(blocks, scope.get("path", ""), body) if blocks is not None else None
        if fn is None or fn.validator is not None or self.limit <= 0 or is_loopback(addr) or addr == "unknown":
            return await call_app()
        give_up = time.monotonic() + self.MAX_WAIT
        while True:
            async with self._lock:
                if self._count(blocks._queue, addr) < self.limit:
                    return await call_app()
            if time.monotonic() > give_up:
                raise _Refused(
                    429,
                    f"Your address already has {self.limit} requests waiting or running on this "
                    "server, the most it runs for one address at a time. Please try again.",
                )
            await asyncio.sleep(0.05)


TOO_MANY_FILES = "You have sent too many files to this server in the last hour. Please try again later."


URL_REFUSED = (
    "A file is taken by upload, not by its address: upload it first (gradio_client's handle_file does "
    "so with a local file)."
)


def names_a_url(body: bytes) -> bool:
    """Whether a JSON body names a file by an http(s) address, which Gradio would download before any of our
    code runs (processing_utils); any JSON that is not parsed is left to Gradio to refuse."""
    if b"http" not in body.lower():
        return False
    try:
        stack = [json.loads(body)]
    except (ValueError, RecursionError):
        return False
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            path = value.get("path")
            if isinstance(path, str) and path.strip().lower().startswith(("http://", "https://")):
                return True
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


async def _answer(send, status: int, text: str) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _Refused(Exception):
    def __init__(self, status: int, text: str):
        super().__init__(text)
        self.status, self.text = status, text


class UploadedFile(FileData):
    """A file input's value: anything that is not an uploaded file becomes None, which the handler answers with a
    message (Gradio's own check would answer with a bare error)."""

    @model_validator(mode="wrap")
    @classmethod
    def _or_none(cls, value, handler):
        try:
            return handler(value)
        except ValidationError:
            return None


def uploads_only(file: gr.File) -> gr.File:
    """A gr.File whose malformed values reach the handler as None (UploadedFile). Set on the instance: a subclass
    would be a custom component to Gradio, which the page then tries to load from its own files."""
    file.data_model = UploadedFile
    return file


def choice_only(radio: gr.Radio, message: str) -> gr.Radio:
    """A gr.Radio that refuses a value outside its choices with `message` (Gradio's own echoes the whole value)."""
    preprocess = radio.preprocess

    def checked(payload):
        if payload is not None and payload not in [value for _, value in radio.choices]:
            raise gr.Error(message, print_exception=False)
        return preprocess(payload)

    radio.preprocess = checked
    return radio
