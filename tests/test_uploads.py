"""Uploads (src/web/uploads.py, src/web/pad.py and the app's doors): bad input to /classify, /predict and the upload
route, and load.

Every bad input must give either a valid answer or a Gradio error whose message a person understands
(never Gradio's generic "has not enabled verbose error reporting"), and afterwards the server must be
alive and still read a good drawing correctly.
"""

import base64
import io
import json
import os
import re
import struct
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
import requests
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image, ImageFile

from src.data.digits import render_digit, render_mask
from src.data.preprocess import MAX_PIXELS, InvalidImage
from src.data.strokes import png_bytes, stylize
from src.web import uploads
from src.web.pad import MAX_VALUE_LENGTH, PREFIX, SIZE, decode, encode
from tests.conftest import app_client

ROOT = Path(__file__).resolve().parent.parent
GENERIC = "has not enabled verbose error reporting"
MAX_FILE_SIZE = int(uploads.MAX_FILE_SIZE.removesuffix("mb")) * 1024 * 1024  # launch(max_file_size=...) in app.py
NOT_AN_IMAGE = "not an image this app can read (PNG, JPEG or WebP)"
DAMAGED = "damaged or incomplete"
TOO_LARGE = "too large"


async def asgi_call(app, scope: dict, chunks: list[dict]) -> list[dict]:
    """The messages an ASGI `app` sends for one request of `scope` whose body comes in `chunks`, in order."""
    sent, pending = [], chunks[::-1]

    async def receive():
        return pending.pop()

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    return sent


# ------------------------------------------------------------------------------------------ input files
def _drawing(digit, seed=0, canvas=400, **kw) -> Image.Image:
    return render_digit(digit, np.random.default_rng(seed), canvas=canvas, **kw).convert("RGB")


def _bomb(width, height) -> bytes:
    """A tiny PNG whose header claims width x height: a 1x1 PNG with its IHDR patched (CRC fixed)."""
    data = bytearray(png_bytes(Image.new("L", (1, 1), 255)))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def _two_frames(fmt) -> bytes:
    """An animation of a 3 then a 7, as an APNG ("PNG") or a GIF."""
    first, second = _drawing(3, 1).convert("L"), _drawing(7, 2).convert("L")
    buf = io.BytesIO()
    first.save(buf, fmt, save_all=True, append_images=[second], duration=100, loop=0)
    return buf.getvalue()


def _saved(digit, fmt) -> bytes:
    buf = io.BytesIO()
    _drawing(digit, 6).save(buf, fmt)
    return buf.getvalue()


# An EPS file: Pillow would hand it to Ghostscript to decode.
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n0 0 moveto 10 10 lineto stroke\nshowpage\n%%EOF\n"


def _png16(digit) -> bytes:
    grey = np.asarray(_drawing(digit, 3).convert("L")).astype(np.uint16) * 257
    img = Image.fromarray(grey)
    assert img.mode.startswith("I;16") or img.mode == "I"
    return png_bytes(img)


def _cmyk_jpeg(digit) -> bytes:
    buf = io.BytesIO()
    _drawing(digit, 4).convert("CMYK").save(buf, "JPEG", quality=92)
    return buf.getvalue()


# name -> (file name, bytes factory, expected): expected is a digit, None (blank: no digit) or an error fragment
FILES = {
    "random_bytes": ("random.png", lambda: np.random.default_rng(0).bytes(5000), NOT_AN_IMAGE),
    "text_as_png": ("notes.png", lambda: b"just some text, not a picture\n" * 20, NOT_AN_IMAGE),
    "empty_file": ("empty.png", lambda: b"", NOT_AN_IMAGE),
    "truncated_png": ("half.png", lambda: (lambda b: b[: len(b) // 2])(png_bytes(_drawing(2))), DAMAGED),
    "bomb_20000x20000": ("bomb.png", lambda: _bomb(20000, 20000), TOO_LARGE),
    "bomb_1bit_20000x20000": ("bomb1.png", lambda: png_bytes(Image.new("1", (20000, 20000))), TOO_LARGE),
    "just_over_limit_12000x12000": ("big.png", lambda: _bomb(12000, 12000), TOO_LARGE),
    "one_pixel": ("dot.png", lambda: png_bytes(Image.new("RGB", (1, 1), "black")), None),
    "one_pixel_transparent": ("dot2.png", lambda: png_bytes(Image.new("RGBA", (1, 1), (0, 0, 0, 0))), None),
    "apng_two_frames": ("anim.png", lambda: _two_frames("PNG"), 3),  # the first frame
    "gif_two_frames": ("anim.gif", lambda: _two_frames("GIF"), NOT_AN_IMAGE),  # only PNG, JPEG and WebP are opened
    "tiff_format": ("digit.tiff", lambda: _saved(2, "TIFF"), NOT_AN_IMAGE),
    "bmp_format": ("digit.bmp", lambda: _saved(2, "BMP"), NOT_AN_IMAGE),
    "eps_named_png": ("drawing.png", lambda: EPS, NOT_AN_IMAGE),
    "png_16bit": ("deep.png", lambda: _png16(5), 5),
    "jpeg_cmyk": ("cmyk.jpg", lambda: _cmyk_jpeg(4), 4),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    paths = {}
    for name, (filename, make, _) in FILES.items():
        paths[name] = folder / filename
        paths[name].write_bytes(make())
    good = folder / "good_eight.png"
    _drawing(8, 11).save(good)
    paths["good"] = good
    return paths


@pytest.fixture(scope="module")
def big_drawing(tmp_path_factory):
    """A 4000x4000 PNG drawing of a 6: the largest size (MAX_PIXELS) the app promises to read."""
    path = tmp_path_factory.mktemp("big") / "six_4000.png"
    mask = render_mask(6, np.random.default_rng(6), canvas=4000, supersample=1, height_frac=(0.6, 0.6))
    stylize(mask, "composite").convert("RGB").save(path)
    return path


@pytest.fixture(scope="module")
def big_6000(tmp_path_factory):
    """A 6000x6000 drawing of a 6 as a PNG (over MAX_PIXELS) and as a JPEG (decoded at a quarter of its size)."""
    folder = tmp_path_factory.mktemp("big6000")
    mask = render_mask(6, np.random.default_rng(6), canvas=6000, supersample=1, height_frac=(0.6, 0.6))
    drawing = stylize(mask, "composite").convert("RGB")
    drawing.save(folder / "six_6000.png")
    drawing.save(folder / "six_6000.jpg", quality=90)
    return folder / "six_6000.png", folder / "six_6000.jpg"


def _call(client, value, api_name):
    """(result, None) or (None, error message) of one request."""
    try:
        return client.predict(value, api_name=api_name), None
    except AppError as e:
        return None, str(e)


def _assert_too_large(*responses):
    for r in responses:
        assert r.status_code == 413 and "maximum allowed size" in r.text, (r.status_code, r.text[:200])


def _assert_still_serving(server, client, files):
    assert server.alive(), server.log_path.read_text()[-3000:]
    result = client.predict(handle_file(str(files["good"])), api_name="/classify")
    assert result["digit"] == 8, result


def _check(result, error, expected, digit_of):
    if isinstance(expected, str):
        assert result is None, f"expected an error containing {expected!r}, got {result}"
        assert GENERIC not in error, error
        assert expected in error, error
    else:
        assert error is None, error
        assert digit_of(result) == expected, result


class PeakMemory:
    """The server's resident memory, sampled every 10 ms while in the `with` block: the rise in bytes."""

    def __init__(self, pid):
        self.pid, self.rise = pid, 0

    def rss(self):
        with open(f"/proc/{self.pid}/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS"))

    def __enter__(self):
        self.start, self._done = self.rss(), threading.Event()
        self.peak = self.start
        self._thread = threading.Thread(target=self._sample)
        self._thread.start()
        return self

    def _sample(self):
        while not self._done.is_set():
            self.peak = max(self.peak, self.rss())
            self._done.wait(0.01)

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()
        self.rise = self.peak - self.start


def _measured(server, client, value, api_name):
    """(result, error, the rise of the server's peak memory in bytes) of one request."""
    with PeakMemory(server.app.process.pid) as memory:
        result, error = _call(client, value, api_name)
    return result, error, memory.rise


# ------------------------------------------------------------------------------------------ /classify
@pytest.mark.parametrize("name", list(FILES))
def test_classify_bad_and_odd_files(server, client, files, name):
    result, error = _call(client, handle_file(str(files[name])), "/classify")
    _check(result, error, FILES[name][2], lambda r: r["digit"])
    if error is None:
        assert len(result["probabilities"]) == 10
    _assert_still_serving(server, client, files)


def test_classify_refuses_other_file_types_by_name(server, client, tmp_path, files):
    path = tmp_path / "notes.txt"
    path.write_text("not an image")
    result, error = _call(client, handle_file(str(path)), "/classify")
    assert result is None and GENERIC not in error and "Invalid file type" in error
    _assert_still_serving(server, client, files)


def test_classify_without_a_file_says_so(server, client, files):
    result, error = _call(client, None, "/classify")
    assert result is None and GENERIC not in error and "Send an image file" in error
    _assert_still_serving(server, client, files)


def test_classify_cannot_read_files_that_were_not_uploaded(server, client, files):
    """A client naming a server path directly is refused by Gradio before our function sees it."""
    target = server.checkpoint_dir / "default.json"
    for path in (str(target), "/etc/passwd"):
        result, error = _call(client, {"path": path, "meta": {"_type": "gradio.FileData"}}, "/classify")
        assert result is None, result
        assert error and GENERIC not in error, error
    _assert_still_serving(server, client, files)


def test_classify_reads_a_big_4000x4000_drawing_which_fits_the_upload_limit(server, client, files, big_drawing):
    assert 4000 * 4000 <= MAX_PIXELS
    assert big_drawing.stat().st_size < MAX_FILE_SIZE / 10, big_drawing.stat().st_size
    result, error, rise = _measured(server, client, handle_file(str(big_drawing)), "/classify")
    assert error is None and result["digit"] == 6, (error, result)
    assert rise < 150e6, rise
    _assert_still_serving(server, client, files)


def test_classify_refuses_a_6000x6000_png_unread_and_reads_a_6000x6000_jpeg(server, client, files, big_6000):
    """A 6000x6000 PNG is over MAX_PIXELS: refused from its header, barely moving the server's memory. The same
    drawing as a JPEG is decoded at a quarter of its size, and read."""
    png, jpeg = big_6000
    assert 6000 * 6000 > MAX_PIXELS and jpeg.stat().st_size < MAX_FILE_SIZE, jpeg.stat().st_size
    result, error, rise = _measured(server, client, handle_file(str(png)), "/classify")
    assert result is None and GENERIC not in error and TOO_LARGE in error and "6000x6000" in error, error
    assert rise < 20e6, rise
    result, error, rise = _measured(server, client, handle_file(str(jpeg)), "/classify")
    assert error is None and result["digit"] == 6, (error, result)
    assert rise < 150e6, rise
    _assert_still_serving(server, client, files)


# ------------------------------------------------------------------------------------------ /predict
# What a script may send /predict instead of the pad's value (one SIZE x SIZE PNG as a data URL), and the
# words its refusal must contain. Each is refused from its type, length or header, before any pixel is decoded,
# except a PNG cut short (DECODED): only decoding finds that out.
def _apng_two_frames() -> bytes:
    first, second = (render_digit(d, np.random.default_rng(d), canvas=SIZE, style="transparent") for d in (3, 7))
    buf = io.BytesIO()
    first.save(buf, "PNG", save_all=True, append_images=[second], duration=100)
    return buf.getvalue()


def _jpeg() -> bytes:
    buf = io.BytesIO()
    _drawing(5, 5, canvas=SIZE).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _noise_png(side: int) -> bytes:
    """A real side x side PNG that does not compress: its data URL is long."""
    return png_bytes(Image.fromarray(np.random.default_rng(side).integers(0, 256, (side, side, 4), np.uint8)))


def _data_url(data: bytes, prefix=PREFIX) -> str:
    return prefix + base64.b64encode(data).decode()


def _pad_png(digit=2) -> bytes:
    return png_bytes(render_digit(digit, np.random.default_rng(9), canvas=SIZE, style="transparent"))


def _old_sketchpad_value() -> dict:
    """A value shaped like that of the Gradio Sketchpad the page had before the pad."""
    return {"background": None, "layers": [_data_url(_pad_png())], "composite": None, "id": None}


BAD_VALUES = {
    "drawing_6000x6000": (
        lambda: _data_url(png_bytes(render_mask(6, np.random.default_rng(6), canvas=6000, supersample=1))),
        "not 6000x6000",
    ),
    "header_claiming_20000x20000": (lambda: _data_url(_bomb(20000, 20000)), "320x320 pixels, not 20000x20000"),
    "longer_than_any_drawing": (lambda: _data_url(_noise_png(400)), "a drawing of the pad is at most"),
    "png_321x320": (lambda: _data_url(png_bytes(Image.new("RGBA", (SIZE + 1, SIZE)))), "not 321x320"),
    "apng_two_frames": (lambda: _data_url(_apng_two_frames()), "one frame, not an animation"),
    "jpeg_called_png": (lambda: _data_url(_jpeg()), "PNG images, not JPEG"),
    "jpeg_data_url": (lambda: _data_url(_jpeg(), "data:image/jpeg;base64,"), f"starts with {PREFIX!r}"),
    "damaged_base64": (lambda: _data_url(_pad_png())[:-3], "base64 text is damaged"),
    "base64_with_stray_characters": (lambda: _data_url(_pad_png()).replace("A", "*", 1), "base64 text is damaged"),
    "truncated_png": (lambda: _data_url(_pad_png()[:300]), DAMAGED),
    "text_as_png": (lambda: _data_url(b"just some text, not a picture\n" * 20), NOT_AN_IMAGE),
    "layers_list": (lambda: [_data_url(_pad_png()), _data_url(_pad_png(7))], "not list"),
    "old_sketchpad_value": (_old_sketchpad_value, "not dict"),
    "blob_id": (lambda: {"id": "x"}, "not dict"),
}
DECODED = {"truncated_png"}


@pytest.mark.parametrize("name", list(BAD_VALUES))
def test_decode_refuses_anything_but_one_png_of_the_pads_size_before_decoding_it(name, monkeypatch):
    """In process (src.web.pad.decode): refused with a message; only a damaged PNG gets as far as its pixels."""
    make, expected = BAD_VALUES[name]
    value = make()
    if name not in DECODED:

        def no_decoding(self):
            raise AssertionError("pixels decoded")

        monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(InvalidImage, match=re.escape(expected)):
        decode(value)


def test_decode_reads_the_pads_own_drawings_and_an_empty_pad():
    strokes = render_digit(4, np.random.default_rng(4), canvas=SIZE, style="transparent")
    drawing = decode(encode(strokes))
    assert drawing.size == (SIZE, SIZE) and drawing.mode == "RGBA"
    assert np.array_equal(np.asarray(drawing), np.asarray(strokes))
    assert len(encode(strokes)) < MAX_VALUE_LENGTH / 10
    assert decode("") is None and decode(None) is None


def test_predict_refuses_anything_but_one_png_of_the_pads_size(server, client, files):
    """Each bad value gets a message that says what is wrong, and barely moves the server's memory (a 6000x6000
    drawing would take 144 MB decoded as RGBA); then a good drawing still reads right."""
    for name, (make, expected) in BAD_VALUES.items():
        result, error, rise = _measured(server, client, make(), "/predict")
        assert result is None, (name, result)
        assert error.startswith("The drawing could not be read") and expected in error, (name, error)
        assert rise < 20e6, (name, rise)
    _assert_still_serving(server, client, files)
    reading, *_ = client.predict(_data_url(_pad_png()), api_name="/predict")
    assert reading["digit"] == 2, reading


@pytest.mark.parametrize("value", [None, ""], ids=["none", "empty"])
def test_predict_on_an_empty_pad_is_blank(server, client, files, value):
    result, error = _call(client, value, "/predict")
    assert error is None and result == (None, None, None, ""), (error, result)
    _assert_still_serving(server, client, files)


# ------------------------------------------------------------------------------------------ request bodies
def test_a_request_body_over_the_limit_is_refused_before_it_is_read(server, client, files):
    too_big = b"x" * (uploads.MAX_BODY_BYTES + 1)
    declared = requests.post(server.url + "gradio_api/component_server", timeout=60, data=too_big)
    part = b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n' + b"x" * (9 << 20) + b"\r\n"
    chunked = requests.post(
        server.url + "gradio_api/component_server",
        timeout=60,  # two 9 MB files, no length
        data=(part for _ in range(2)),
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    _assert_too_large(declared, chunked)
    _assert_still_serving(server, client, files)


@pytest.mark.parametrize(
    "route", ["queue/join", "call/predict", "call/v2/predict", "run/predict", "api/predict", "reset", "cancel"]
)
def test_json_over_its_limit_is_refused_before_gradio_parses_it(server, client, files, route):
    """The pad's PNG travels inside the event's JSON: every JSON body is bounded far below an upload's."""
    url = server.url + "gradio_api/" + route
    body = b'{"data": ["' + b"A" * uploads.MAX_EVENT_BYTES + b'"], "fn_index": 0, "session_hash": "x"}'
    declared = requests.post(url, timeout=60, data=body, headers={"Content-Type": "application/json"})
    chunked = requests.post(
        url,
        timeout=60,
        data=(body[i : i + 65536] for i in range(0, len(body), 65536)),
        headers={"Content-Type": "application/json"},
    )
    _assert_too_large(declared, chunked)
    _assert_still_serving(server, client, files)


def test_a_file_named_by_its_address_is_refused_before_gradio_could_download_it(server, client, files):
    """Gradio downloads a file input whose path is an http(s) address before any of our code runs: the
    middleware refuses the event first, so nothing behind it (Gradio's download included) is ever called."""
    from tests.conftest import in_a_fresh_loop

    reached = []

    async def gradio(scope, receive, send):  # stands for the app behind the middleware
        reached.append(await receive())

    async def call(body: bytes):
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/gradio_api/queue/join",
            "client": ("127.0.0.1", 1),
            "headers": [(b"content-length", str(len(body)).encode())],
        }
        return await asgi_call(
            uploads.RequestLimits(gradio), scope, [{"type": "http.request", "body": body, "more_body": False}]
        )

    file = {"path": "https://huggingface.co/datasets/x/resolve/main/seven.png", "meta": {"_type": "gradio.FileData"}}
    for data in ([file], [[{"nested": file}]], [{**file, "path": " HTTP://example.com/a.png"}]):
        answer = in_a_fresh_loop(call(json.dumps({"data": data, "fn_index": 0, "session_hash": "x"}).encode()))
        assert answer[0]["status"] == 422 and b"taken by upload" in answer[1]["body"]
    assert reached == []
    uploaded = {
        "path": "/tmp/gradio/abc/seven.png",
        "url": "http://127.0.0.1:7860/gradio_api/file=/tmp/gradio/abc/seven.png",
    }
    in_a_fresh_loop(call(json.dumps({"data": [uploaded], "fn_index": 0, "session_hash": "x"}).encode()))
    assert len(reached) == 1  # an uploaded file, with its served address, goes on as before
    # And through the running app: /classify of an address is refused, with the message.
    r = requests.post(server.url + "gradio_api/call/classify", json={"data": [file, None]}, timeout=60)
    assert r.status_code == 422 and "taken by upload" in r.text, (r.status_code, r.text[:200])
    _assert_still_serving(server, client, files)


@pytest.mark.parametrize("route", ["run/classify", "api/classify", "run/predict"])
def test_the_direct_rest_routes_that_skip_the_queue_answer_404(server, files, route):
    r = requests.post(server.url + "gradio_api/" + route, json={"data": [""], "session_hash": "x"}, timeout=60)
    assert r.status_code == 404, (r.status_code, r.text[:200])


# ------------------------------------------------------------------------------------------ upload route
def test_upload_route_stores_any_bytes_but_refuses_oversized_files(server, client, files, tmp_path):
    url = f"{server.url}gradio_api/upload"
    r = requests.post(url, files=[("files", ("random.png", os.urandom(2000)))], timeout=60)
    assert r.status_code == 200 and len(r.json()) == 1, r.text  # stored, and refused later by /classify
    big = os.urandom(MAX_FILE_SIZE + 1024)
    r = requests.post(url, files=[("files", ("big.png", big))], timeout=60)
    assert r.status_code == 413, (r.status_code, r.text[:300])
    assert "maximum allowed size" in r.text, r.text[:300]
    path = tmp_path / "big.png"
    path.write_bytes(big)
    with pytest.raises(ValueError, match="exceeds the maximum file size of 10485760 bytes|413"):
        client.predict(handle_file(str(path)), api_name="/classify")
    r = requests.post(url, files=[("files", ("../../escape.png", b"x"))], timeout=60)
    if r.status_code == 200:  # the name is sanitised: the file stays inside Gradio's upload folder
        stored = Path(r.json()[0]).resolve()
        assert stored.name == "escape.png" and ".." not in r.json()[0], r.json()
    else:
        assert r.status_code in (400, 403), r.status_code
    _assert_still_serving(server, client, files)


# ------------------------------------------------------------------------------------------ load (CI size)
@pytest.mark.slow
def test_eight_concurrent_clients_classify_without_failures(server, files):
    digits = [0, 1, 7, 9]
    folder = files["good"].parent
    paths = []
    for d in digits:
        paths.append(folder / f"load_{d}.png")
        _drawing(d, 100 + d).save(paths[-1])
    results, failures = [], []
    lock = threading.Lock()

    def worker():
        try:
            c = app_client(server.url)
            for d, p in zip(digits, paths):
                r = c.predict(handle_file(str(p)), api_name="/classify")
                with lock:
                    results.append((d, r["digit"]))
        except Exception as e:  # noqa: BLE001 - counted as a failure
            with lock:
                failures.append(repr(e))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not failures, failures[:3]
    assert len(results) == 32 and all(d == got for d, got in results), results
    assert server.alive()


@pytest.mark.parametrize("with_limits", [True, False])
def test_gradios_download_function_is_never_called_for_a_file_named_by_its_address(monkeypatch, with_limits):
    """A real Gradio app in process, its download functions recording every call: behind RequestLimits a file
    input named by its http(s) address is refused (422, with a message) and nothing is downloaded; without it
    (the control, which shows the recording works) Gradio tries to download it."""
    import gradio as gr
    from gradio import processing_utils
    from starlette.middleware import Middleware

    calls = []

    def recording(name):
        async def download(url, *args, **kwargs):
            calls.append((name, url))
            raise ValueError("no downloads in this test")

        return download

    for name in ("async_ssrf_protected_download", "async_ssrf_protected_get"):
        monkeypatch.setattr(processing_utils, name, recording(name))
    for name in ("ssrf_protected_download", "unsafe_download"):
        monkeypatch.setattr(processing_utils, name, lambda url, *a, _name=name, **k: calls.append((_name, url)))

    with gr.Blocks() as demo:
        file = gr.File()
        gr.Button().click(lambda f: "read", file, gr.Textbox(), api_name="read")
    middleware = [Middleware(uploads.RequestLimits)] if with_limits else []
    _, url, _ = demo.queue().launch(
        prevent_thread_lock=True, server_name="127.0.0.1", app_kwargs={"middleware": middleware}
    )
    try:
        seven = {
            "path": "https://huggingface.co/datasets/x/resolve/main/seven.png",
            "meta": {"_type": "gradio.FileData"},
        }
        r = requests.post(f"{url}gradio_api/call/read", json={"data": [seven]}, timeout=60)
        if r.status_code == 200:  # without the middleware: the event runs, and Gradio fetches the file
            requests.get(f"{url}gradio_api/call/read/{r.json()['event_id']}", timeout=60)
    finally:
        demo.close()
    if with_limits:
        assert r.status_code == 422 and "taken by upload" in r.text, (r.status_code, r.text[:200])
        assert calls == []
    else:
        assert calls and calls[0][1].startswith("https://huggingface.co/"), calls
