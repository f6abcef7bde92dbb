"""Uploads (src/web/uploads.py and the app's doors): bad input to /classify, /predict and the upload route, and load.

Every bad input must give either a valid answer or a Gradio error whose message a person understands
(never Gradio's generic "has not enabled verbose error reporting"), and afterwards the server must be
alive and still read a good drawing correctly.
"""

import io
import os
import struct
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import requests
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from src.data.preprocess import MAX_PIXELS
from src.web import uploads
from src.data.synthetic import png_bytes, render_digit, render_mask, stylize

ROOT = Path(__file__).resolve().parent.parent
GENERIC = "has not enabled verbose error reporting"
MAX_FILE_SIZE = int(uploads.MAX_FILE_SIZE.removesuffix("mb")) * 1024 * 1024  # launch(max_file_size=...) in app.py
NOT_AN_IMAGE = "not an image Pillow can read"
DAMAGED = "damaged or incomplete"
TOO_LARGE = "too large"


# ------------------------------------------------------------------------------------------ input files
def _drawing(digit, seed=0, canvas=400, **kw) -> Image.Image:
    return render_digit(digit, np.random.default_rng(seed), canvas=canvas, **kw).convert("RGB")


def _bomb(width, height) -> bytes:
    """A tiny PNG whose header claims width x height: a 1x1 PNG with its IHDR patched (CRC fixed)."""
    data = bytearray(png_bytes(Image.new("L", (1, 1), 255)))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def _gif_two_frames() -> bytes:
    first, second = _drawing(3, 1).convert("L"), _drawing(7, 2).convert("L")
    buf = io.BytesIO()
    first.save(buf, "GIF", save_all=True, append_images=[second], duration=100, loop=0)
    return buf.getvalue()


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
    "gif_two_frames": ("anim.gif", _gif_two_frames, 3),
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
    """A 6000x6000 PNG drawing of a 6: the largest size the app promises to read."""
    path = tmp_path_factory.mktemp("big") / "six_6000.png"
    mask = render_mask(6, np.random.default_rng(6), canvas=6000, supersample=1, height_frac=(0.6, 0.6))
    stylize(mask, "composite").convert("RGB").save(path)
    return path


def _call(client, value, api_name):
    """(result, None) or (None, error message) of one request."""
    try:
        return client.predict(value, api_name=api_name), None
    except AppError as e:
        return None, str(e)


def _predicted(label):
    return None if not label or not label.get("confidences") else int(label["label"])


def _sketch(background=None, layers=(), composite=None) -> dict:
    return {"background": background, "layers": list(layers), "composite": composite, "id": None}


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


def test_classify_reads_a_6000x6000_drawing_which_fits_the_upload_limit(server, client, files, big_drawing):
    assert 6000 * 6000 <= MAX_PIXELS
    assert big_drawing.stat().st_size < MAX_FILE_SIZE / 10, big_drawing.stat().st_size
    result, error = _call(client, handle_file(str(big_drawing)), "/classify")
    assert error is None and result["digit"] == 6, (error, result)
    _assert_still_serving(server, client, files)


# ------------------------------------------------------------------------------------------ /predict
@pytest.mark.parametrize("where", ["layers", "composite"])
@pytest.mark.parametrize("name", list(FILES))
def test_predict_bad_and_odd_files_in_the_sketchpad(server, client, files, name, where):
    f = handle_file(str(files[name]))
    value = _sketch(layers=[f]) if where == "layers" else _sketch(composite=f)
    result, error = _call(client, value, "/predict")
    expected = FILES[name][2]
    if isinstance(expected, str):
        assert error is not None and error.startswith("The drawing could not be read"), error
    _check(result, error, expected, lambda r: _predicted(r[1]))
    _assert_still_serving(server, client, files)


@pytest.mark.parametrize("value", [None, _sketch()], ids=["none", "all_none_empty_layers"])
def test_predict_empty_sketchpad_values_are_blank(server, client, files, value):
    result, error = _call(client, value, "/predict")
    assert error is None, error
    chart, label, image, *_ = result
    assert label["label"] == "Draw a digit" and image is None
    _assert_still_serving(server, client, files)


def test_predict_with_null_layers_says_what_is_wrong(server, client, files):
    result, error = _call(client, {"background": None, "layers": None, "composite": None, "id": None}, "/predict")
    assert result is None and GENERIC not in error and '"layers" must be a list' in error, error
    _assert_still_serving(server, client, files)


# ------------------------------------------------------------------------------ the browser's blob route
def _real_png(side: int) -> bytes:
    """A real side x side PNG: a few KB on the wire, side**2 pixels once decoded."""
    buf = io.BytesIO()
    Image.new("1", (side, side), 1).save(buf, "PNG", optimize=True)
    return buf.getvalue()


def _send_blob(server, session, blob_id, data, kind="layer", index="0"):
    """What the browser does after a stroke: one image to Gradio's own component route (accept_blobs)."""
    config = requests.get(server.url + "config", timeout=30).json()
    sketchpad = next(c["id"] for c in config["components"] if c["type"] == "imageeditor")
    return requests.post(server.url + "gradio_api/component_server", timeout=60, files={"file": ("layer.png", data)},
                         data={"session_hash": session, "component_id": str(sketchpad), "fn_name": "accept_blobs",
                               "id": blob_id, "type": kind, "index": index})


def _by_id(blob_id):
    return {"id": blob_id, "background": None, "layers": [], "composite": None}


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


def test_blob_bombs_are_refused_before_decoding(server, client, files):
    """A 7000x7000 PNG (14 KB) and a layer index of 10**9, sent by blob id through Gradio's own route:
    refused with a message, and the server's memory barely moves (decoded, the PNG would take 150 MB+)."""
    cases = [(_real_png(7000), "0", "too large (7000x7000 pixels)"),
             (_bomb(20000, 20000), "0", "too large"),
             (png_bytes(Image.new("RGBA", (320, 320))), str(10**9), "layer 1000000000 cannot exist"),
             (b"not an image at all", "0", NOT_AN_IMAGE)]
    for data, index, expected in cases:
        with PeakMemory(server.app.process.pid) as memory:
            blob_id = os.urandom(6).hex()
            assert _send_blob(server, client.session_hash, blob_id, data, index=index).status_code == 200
            result, error = _call(client, _by_id(blob_id), "/predict")
        assert result is None and expected in error and GENERIC not in error, error
        assert memory.rise < 50e6, (expected, memory.rise)
    _assert_still_serving(server, client, files)


def test_a_drawing_sent_by_blob_is_read_once_and_only_by_its_own_session(server, client, files):
    two = png_bytes(render_digit(2, np.random.default_rng(9), canvas=320, style="transparent"))
    stranger = Client(server.url, verbose=False)
    blob_id = os.urandom(6).hex()
    assert _send_blob(server, client.session_hash, blob_id, two).status_code == 200
    result, error = _call(stranger, _by_id(blob_id), "/predict")  # another session, same id: nothing to read
    assert error is None and _predicted(result[1]) is None, (error, result)
    result, error = _call(client, _by_id(blob_id), "/predict")
    assert error is None and _predicted(result[1]) == 2, (error, result)
    result, error = _call(client, _by_id(blob_id), "/predict")  # taken: the bytes are gone
    assert result is None and "did not reach the server" in error, error


def test_a_request_body_over_the_limit_is_refused_before_it_is_read(server, client, files):
    too_big = b"x" * (uploads.MAX_BODY_BYTES + 1)
    declared = requests.post(server.url + "gradio_api/component_server", timeout=60, data=too_big)
    part = b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n' + b"x" * (9 << 20) + b"\r\n"
    chunked = requests.post(server.url + "gradio_api/component_server", timeout=60,  # four 9 MB files, no length
                            data=(part for _ in range(4)), headers={"Content-Type": "multipart/form-data; boundary=x"})
    for r in (declared, chunked):
        assert r.status_code == 413 and "maximum allowed size" in r.text, (r.status_code, r.text[:200])
    _assert_still_serving(server, client, files)


def test_the_blob_store_keeps_within_its_caps_and_forgets_old_drawings():
    """In process (src.web.uploads.Drawings): caps per address and in all, and expiry."""
    one_kb = png_bytes(Image.new("L", (300, 300), 0)) + b""  # a valid PNG
    drawings = uploads.Drawings(seconds=60, per_address=3 * len(one_kb), total=5 * len(one_kb), drawings_per_address=10)
    for i in range(4):
        drawings.put("1.1.1.1", "s", f"d{i}", "layer", 0, one_kb)
    assert drawings.size("1.1.1.1") == 3 * len(one_kb)  # the fourth was refused...
    with pytest.raises(Exception, match="too many drawings"):
        drawings.take("s", "d3")  # ... and its reading says why
    for i in range(3):
        drawings.put("2.2.2.2", "t", f"e{i}", "layer", 0, one_kb)
    assert drawings.size() == 5 * len(one_kb)  # the total cap: a second address got two
    assert set(drawings.take("s", "d0")) == {"background", "layers", "composite"}
    expiring = uploads.Drawings(seconds=0.05)
    expiring.put("1.1.1.1", "s", "old", "layer", 0, one_kb)
    time.sleep(0.1)
    expiring.put("1.1.1.1", "s", "new", "layer", 0, one_kb)
    assert expiring.size() == len(one_kb)  # the old one went when the new one came


def test_a_page_that_has_sent_no_image_yet_has_an_empty_canvas_not_an_error():
    """Before its first stroke the editor sends no image, also when Clear sends an event for the empty canvas."""
    one_kb = png_bytes(Image.new("L", (300, 300), 0))
    drawings = uploads.Drawings()
    assert drawings.take("fresh", "x") is None  # nothing to read, and nothing went wrong
    drawings.put("1.1.1.1", "fresh", "a", "layer", 0, one_kb)
    drawings.take("fresh", "a")
    with pytest.raises(Exception, match="did not reach the server"):  # a page that sends images lost one
        drawings.take("fresh", "b")


def test_predict_transparent_empty_layers_are_blank(server, client, files, tmp_path):
    Image.new("RGBA", (320, 320), (0, 0, 0, 0)).save(tmp_path / "empty.png")
    empty = handle_file(str(tmp_path / "empty.png"))
    result, error = _call(client, _sketch(layers=[empty, empty], composite=empty), "/predict")
    assert error is None and result[1]["label"] == "Draw a digit", (error, result)
    _assert_still_serving(server, client, files)


def test_predict_layers_of_different_sizes_are_refused(server, client, files, tmp_path):
    strokes = render_digit(1, np.random.default_rng(0), canvas=320, style="transparent")
    strokes.save(tmp_path / "a.png")
    Image.new("RGBA", (100, 50), (0, 0, 0, 0)).save(tmp_path / "b.png")
    value = _sketch(layers=[handle_file(str(tmp_path / "a.png")), handle_file(str(tmp_path / "b.png"))])
    result, error = _call(client, value, "/predict")
    assert result is None and GENERIC not in error and "different sizes (320x320 and 100x50)" in error, error
    _assert_still_serving(server, client, files)


def test_predict_reads_a_good_drawing(server, client, files, tmp_path):
    render_digit(2, np.random.default_rng(9), canvas=320, style="transparent").save(tmp_path / "two.png")
    result, error = _call(client, _sketch(layers=[handle_file(str(tmp_path / "two.png"))]), "/predict")
    assert error is None and _predicted(result[1]) == 2, (error, result)


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
            c = Client(server.url, verbose=False)
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
