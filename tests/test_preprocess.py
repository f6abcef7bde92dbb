"""Tests of src/data/preprocess.py: the one preprocessing path of every endpoint.

The accuracy test needs a trained checkpoint: TEST_CHECKPOINT=path/to/x.safetensors, or
checkpoints/default.safetensors; it is skipped (with the reason) when there is none.
"""

import io
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFile

from src.data.digits import render_mask
from src.data.preprocess import (
    MAX_JPEG_PIXELS,
    MAX_PIXELS,
    MAX_WEBP_PIXELS,
    READ_SIDE,
    InvalidImage,
    ink_map,
    load_image,
    preprocess,
    to_mnist,
)
from src.data.strokes import png_bytes, stylize
from src.web.pad import SIZE, decode, encode

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def masks():
    """One seeded drawing of each digit (ink coverage, 'L', 800x800)."""
    rng = np.random.default_rng(1234)
    return [render_mask(d, rng) for d in range(10)]


def _bbox(x, level=0.1):
    ys, xs = np.nonzero(x > level)
    return ys.min(), ys.max() + 1, xs.min(), xs.max() + 1


# ----------------------------------------------------------------------------------- the MNIST format
def test_output_format_centre_and_size(masks):
    for d, mask in enumerate(masks):
        x = preprocess(stylize(mask, "composite"))
        assert x.shape == (28, 28) and x.dtype == np.float32
        assert 0 <= x.min() and x.max() <= 1 and x.max() > 0.9
        ys, xs = np.indices(x.shape)
        cy, cx = (ys * x).sum() / x.sum(), (xs * x).sum() / x.sum()
        assert abs(cy - 14) <= 0.75 and abs(cx - 14) <= 0.75, (d, cy, cx)
        top, bottom, left, right = _bbox(x)
        assert 19 <= max(bottom - top, right - left) <= 21, (d, bottom - top, right - left)
        assert x[0].max() == x[-1].max() == x[:, 0].max() == x[:, -1].max() == 0  # a black frame, like MNIST


def test_thin_one_is_kept_and_tall():
    rng = np.random.default_rng(5)
    mask = render_mask(1, rng, variant=0, slant_deg=0, brush_frac=(0.012, 0.012), height_frac=(0.3, 0.3))
    x = preprocess(stylize(mask, "transparent"))
    assert x is not None
    top, bottom, left, right = _bbox(x)
    assert bottom - top >= 19 and right - left <= 8


def test_wide_and_thick_drawings_fit():
    # A very thick brush and a digit touching the canvas edges are still normalised to 20 pixels.
    rng = np.random.default_rng(6)
    mask = render_mask(0, rng, brush_frac=(0.12, 0.12), height_frac=(0.9, 0.9))
    x = preprocess(stylize(mask))
    top, bottom, left, right = _bbox(x)
    assert 19 <= max(bottom - top, right - left) <= 21


@pytest.mark.parametrize(
    "value",
    [
        None,
        Image.new("RGB", (800, 800), "white"),
        Image.new("RGBA", (800, 800), (0, 0, 0, 0)),
        Image.new("RGB", (800, 800), "#333333"),
        Image.new("L", (1, 1), 0),
        np.zeros((0, 0), np.uint8),
        np.zeros((800, 800, 4), np.uint8),
        decode(encode(Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0)))),  # the pad, cleared
    ],
    ids=lambda v: type(v).__name__,
)
def test_blank_inputs_give_none(value):
    assert preprocess(value) is None


def test_a_dot_or_noise_is_not_a_digit():
    dot = Image.new("L", (800, 800), 0)
    ImageDraw.Draw(dot).ellipse((400, 400, 440, 440), fill=255)  # one click with a 5% brush
    assert preprocess(stylize(dot, "composite")) is None
    assert preprocess(stylize(dot, "transparent")) is None
    rng = np.random.default_rng(0)
    photo = np.clip(200 + rng.normal(0, 3, (600, 800, 3)), 0, 255).astype(np.uint8)  # a blank, noisy photo
    assert preprocess(photo) is None
    assert preprocess(np.full((600, 800), 0.2, np.float32)) is None  # uniformly grey
    assert to_mnist(np.zeros((800, 800), np.float32)) is None


def hatched_disc(gap: int, cross: bool) -> Image.Image:
    """A disc filled with 5-pixel lines `gap` pixels apart (one way, or both ways), on an 800x800 canvas."""
    disc = Image.new("L", (800, 800), 0)
    draw = ImageDraw.Draw(disc)
    for x in range(200, 600, gap):
        draw.line((x, 150, x, 650), fill=255, width=5)
        if cross:
            draw.line((150, x, 650, x), fill=255, width=5)
    ring = Image.new("L", (800, 800), 0)
    ImageDraw.Draw(ring).ellipse((200, 200, 600, 600), fill=255)
    return Image.composite(disc, ring, ring)


@pytest.mark.parametrize("cross", [False, True], ids=["hatched", "cross-hatched"])
def test_dense_hatching_is_a_filled_area_not_a_digit(cross):
    # Thin lines close together: thickened to MNIST's stroke width they merge into one filled disc.
    assert preprocess(stylize(hatched_disc(8, cross))) is None
    # The same lines far apart stay lines (whatever they are read as, preprocessing lets them through).
    assert preprocess(stylize(hatched_disc(60, cross))) is not None


def test_thick_marker_digits_are_kept(masks):
    rng = np.random.default_rng(16)
    for digit in range(10):
        mask = render_mask(digit, rng, canvas=400, brush_frac=(0.09, 0.10), height_frac=(0.5, 0.6))
        assert preprocess(stylize(mask)) is not None, digit


# ----------------------------------------------------------------------------------- every input kind
def _variants(mask):
    composite = stylize(mask, "composite")
    strokes = stylize(mask, "transparent")
    return {
        "transparent": strokes,
        "dark": stylize(mask, "dark"),
        "white_on_black": stylize(mask, "white_on_black"),
        "red_ink": stylize(mask, "composite", ink=(200, 20, 20)),
        "blue_on_dark": stylize(mask, "dark", ink=(80, 140, 255)),
        "L": composite.convert("L"),
        "LA": composite.convert("LA"),
        "P": composite.convert("RGB").convert("P"),
        "I;16": Image.fromarray((np.asarray(composite.convert("L")).astype(np.uint16) * 257)),
        "CMYK": composite.convert("CMYK"),
        "array_rgba": np.asarray(composite),
        "array_float_gray": np.asarray(composite.convert("L"), dtype=np.float32) / 255,
        "array_rgb_float255": np.asarray(composite.convert("RGB")).astype(np.float64),
    }


def test_every_style_gives_the_same_digit(masks):
    for d in (0, 4, 7, 8):
        reference = preprocess(stylize(masks[d], "composite"))
        for name, value in _variants(masks[d]).items():
            x = preprocess(value)
            assert x is not None, name
            assert np.abs(x - reference).max() < 0.1, (d, name, np.abs(x - reference).max())


def test_ink_map_conventions(masks):
    strokes = stylize(masks[3], "transparent")
    ink = ink_map(strokes)
    assert ink.dtype == np.float32 and ink.shape == (800, 800)
    assert np.array_equal(ink, np.asarray(masks[3], np.float32) / 255)  # black strokes on transparency: ink = alpha
    assert ink_map(None).max() == 0


@pytest.mark.parametrize(
    "bad",
    [np.zeros((4, 4, 5)), np.zeros(10), "a string", {}, {"background": None, "layers": [], "composite": None}],
    ids=["5_channels", "1d", "str", "empty_dict", "sketchpad_dict"],
)
def test_unsupported_values_are_refused(bad):
    with pytest.raises(InvalidImage):
        preprocess(bad)


# ----------------------------------------------------------------------------------- load_image
def _patchedpng_bytes(width, height) -> bytes:
    """A tiny PNG whose header claims another size (a cheap decompression bomb)."""
    data = bytearray(png_bytes(Image.new("L", (8, 8))))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


@pytest.mark.parametrize(
    "source, message",
    [
        (os.urandom(2000), "not an image"),
        (b"", "not an image"),
        (b"digit,label\n1,2\n", "not an image"),
        (png_bytes(Image.new("RGB", (300, 300), "red"))[:200], "damaged"),
        (_patchedpng_bytes(20000, 20000), "too large"),
        (_patchedpng_bytes(7000, 7000), "too large \\(7000x7000 pixels\\)"),
    ],
    ids=["random", "empty", "text", "truncated", "bomb_20000", "over_limit_7000"],
)
def test_load_image_refuses(source, message):
    with pytest.raises(InvalidImage, match=message):
        load_image(source)


def test_load_image_from_path_and_file(tmp_path, masks):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(InvalidImage, match="not an image"):
        load_image(text)
    with pytest.raises(InvalidImage, match="does not exist"):
        load_image(tmp_path / "missing.png")
    path = tmp_path / "digit.png"
    stylize(masks[5]).save(path)
    assert load_image(path).size == (800, 800)
    assert load_image(str(path)).size == (800, 800)
    with open(path, "rb") as f:
        assert load_image(f).size == (800, 800)


def _jpeg_bytes(img: Image.Image, **options) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", **options)
    return buf.getvalue()


def _no_decoding(monkeypatch):
    def no_decoding(self):
        raise AssertionError("pixels decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)


def test_the_largest_promised_png_loads_reduced_and_a_6000x6000_png_is_refused_unread(monkeypatch):
    """4000x4000 (MAX_PIXELS) is the largest PNG the app promises to read; it comes back reduced. A 6000x6000
    PNG is refused from its header, before any pixel is decoded."""
    assert 4000 * 4000 <= MAX_PIXELS < 6000 * 6000
    big = load_image(png_bytes(Image.new("1", (4000, 4000), 1)))
    assert big.size == (1334, 1334) and READ_SIDE <= max(big.size) < 2 * READ_SIDE
    data = png_bytes(Image.new("1", (6000, 6000), 1))
    _no_decoding(monkeypatch)
    with pytest.raises(InvalidImage, match=r"too large \(6000x6000 pixels\); the limit is 16,000,000 pixels"):
        load_image(data)


def test_big_jpegs_are_decoded_at_a_smaller_scale():
    """A JPEG is decoded at 1/2, 1/4 or 1/8 of its size, its longer side kept >= READ_SIDE: a 6000x6000 photo is
    read although 6000x6000 PNGs are not. Progressive JPEGs (decoded from a whole-image buffer) get MAX_PIXELS on
    their header's size, others MAX_JPEG_PIXELS."""
    photo = Image.new("RGB", (6000, 6000), "white")
    assert load_image(_jpeg_bytes(photo)).size == (1500, 1500)  # 1/4
    assert load_image(_jpeg_bytes(Image.new("L", (4032, 3024), 255))).size == (2016, 1512)  # a 12 MP photo, 1/2
    assert load_image(_jpeg_bytes(Image.new("RGB", (2047, 100), "white"))).size == (2047, 100)  # as it is
    with pytest.raises(InvalidImage, match=r"too large \(6000x6000 pixels\); the limit is 16,000,000"):
        load_image(_jpeg_bytes(photo, progressive=True))
    assert load_image(_jpeg_bytes(Image.new("RGB", (4000, 4000), "white"), progressive=True)).size == (2000, 2000)
    assert MAX_JPEG_PIXELS < 9000 * 9000
    with pytest.raises(InvalidImage, match=r"too large \(9000x9000 pixels\); the limit is 64,000,000"):
        load_image(_jpeg_bytes(Image.new("L", (9000, 9000), 255)))


def _one_component_first_scan(jpeg: bytes) -> bytes:
    """A JPEG's bytes with its first scan rewritten to carry only the first component, as in a multi-scan
    (non-interleaved) JPEG. The scan's data is then wrong, which only decoding would find out."""
    sos = jpeg.index(b"\xff\xda")
    length = struct.unpack(">H", jpeg[sos + 2 : sos + 4])[0]
    scan = bytes([1, jpeg[sos + 5], jpeg[sos + 6], 0, 63, 0])  # Ns = 1: the first component and its tables
    return jpeg[:sos] + b"\xff\xda" + struct.pack(">H", 2 + len(scan)) + scan + jpeg[sos + 2 + length :]


def test_multi_scan_jpegs_get_the_plain_budget(monkeypatch):
    big = _jpeg_bytes(Image.new("RGB", (5000, 5000), "white"))
    assert load_image(big).size == (1250, 1250)
    _no_decoding(monkeypatch)
    with pytest.raises(InvalidImage, match=r"too large \(5000x5000 pixels\); the limit is 16,000,000"):
        load_image(_one_component_first_scan(big))
    odd = big[:2] + b"\xff\xfe\x00\x00" + big[2:]  # a segment of impossible length: unsure, so the plain budget
    with pytest.raises(InvalidImage, match=r"too large \(5000x5000 pixels\); the limit is 16,000,000"):
        load_image(odd)


def test_webp_has_a_budget_of_its_own():
    assert MAX_WEBP_PIXELS < 3000 * 3000
    buf = io.BytesIO()
    Image.new("RGB", (3000, 3000), "white").save(buf, "WEBP")
    with pytest.raises(InvalidImage, match=r"too large \(3000x3000 pixels\); the limit is 8,000,000"):
        load_image(buf.getvalue())
    buf = io.BytesIO()
    Image.new("RGB", (2800, 2800), "white").save(buf, "WEBP")
    assert load_image(buf.getvalue()).size == (1400, 1400)


@pytest.mark.parametrize("mode", ["RGBA", "transparent", "L", "1", "P", "I;16"])
def test_a_reduced_big_image_reads_like_the_same_drawing_at_a_small_size(mode):
    """load_image reduces a 4000x4000 drawing to READ_SIDE..2*READ_SIDE pixels; its 28x28 input is that of the
    same drawing at 800x800, whatever the mode (those Image.reduce cannot average are widened first)."""
    mask = render_mask(4, np.random.default_rng(44), canvas=4000, supersample=1)
    small = preprocess(stylize(mask.resize((800, 800), Image.Resampling.LANCZOS)))
    big = stylize(mask, "transparent" if mode == "transparent" else "composite")
    if mode == "I;16":
        big = Image.fromarray(np.asarray(big.convert("L")).astype(np.uint16) * 257)
    elif mode != "transparent":
        big = big.convert(mode)
    loaded = load_image(png_bytes(big))
    assert loaded.size == (1334, 1334)
    x = preprocess(loaded)
    assert x is not None and np.abs(x - small).mean() < 0.01, np.abs(x - small).mean()


def test_a_small_digit_in_a_big_photo_is_still_read():
    """A digit spanning 5% of a photo's longer side (MIN_EXTENT is 4%) still has enough pixels once the photo
    is decoded at a smaller scale: the same input as the digit cropped at full size."""
    w, h = 4032, 3024
    mask = render_mask(
        7, np.random.default_rng(7), canvas=252, supersample=1, height_frac=(0.8, 0.8), brush_frac=(0.06, 0.06)
    )  # a digit about 200 pixels tall
    photo = Image.new("L", (w, h), 210)
    photo.paste(0, (1900, 1000), mask)
    loaded = load_image(_jpeg_bytes(photo, quality=90))
    assert loaded.size == (2016, 1512)
    crop = photo.crop((1800, 900, 2300, 1400))
    x, reference = preprocess(loaded), preprocess(crop)
    assert x is not None and np.abs(x - reference).mean() < 0.03, np.abs(x - reference).mean()


# The rise of this process's peak resident memory (VmHWM; ru_maxrss would include the parent's peak from before
# exec) while one image file is loaded and preprocessed. The peak is first brought down to the current size.
MEASURE = """
import sys
from src.data.preprocess import load_image, preprocess
def peak():
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM"))
try:
    open("/proc/self/clear_refs", "w").write("5")
except OSError:
    pass
before = peak()
preprocess(load_image(sys.argv[1]))
print(peak() - before)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc/self/status (Linux)")
def test_one_image_costs_a_bounded_amount_of_memory(tmp_path):
    """The largest images the budget admits, read through load_image and preprocess in a fresh process: the
    peak resident memory rises by less than 150 MB (Pillow's memory is not seen by tracemalloc)."""
    mask = render_mask(2, np.random.default_rng(2), canvas=4000, supersample=1)
    files = {
        "rgba.png": stylize(mask, "transparent"),
        "grey16.png": Image.fromarray(np.asarray(stylize(mask).convert("L")).astype(np.uint16) * 257),
        "palette.png": stylize(mask).convert("P"),
        "photo.jpg": Image.new("RGB", (6000, 6000), "white"),
    }
    for name, img in files.items():
        img.save(tmp_path / name)
    for name in files:
        out = subprocess.run(
            [sys.executable, "-c", MEASURE, str(tmp_path / name)], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, out.stderr
        assert int(out.stdout) < 150e6, (name, int(out.stdout))


def test_load_image_formats(masks):
    mask = masks[9]
    reference = preprocess(stylize(mask))
    grey = np.asarray(stylize(mask).convert("L"))

    sixteen = load_image(png_bytes(Image.fromarray(grey.astype(np.uint16) * 257)))
    assert sixteen.mode.startswith("I")

    buf = io.BytesIO()
    stylize(mask).convert("CMYK").save(buf, "JPEG", quality=95)
    cmyk = load_image(buf.getvalue())
    assert cmyk.mode == "CMYK"

    buf = io.BytesIO()
    first, second = stylize(mask).convert("P"), stylize(masks[1]).convert("P")
    first.save(buf, "PNG", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(buf.getvalue())).n_frames == 2
    apng = load_image(buf.getvalue())  # the first frame, the 9

    la = load_image(png_bytes(stylize(mask, "transparent").convert("LA")))
    tiny = load_image(png_bytes(Image.new("RGB", (1, 1), "white")))
    assert preprocess(tiny) is None

    for img in (sixteen, cmyk, apng, la):
        x = preprocess(img)
        assert x is not None and np.abs(x - reference).mean() < 0.02, img.mode


def test_exif_orientation_is_applied(masks):
    img = stylize(masks[7]).convert("RGB").crop((0, 0, 800, 600))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    assert load_image(buf.getvalue()).size == (600, 800)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_exif_orientation_is_applied_to_reduced_images(fmt):
    img = Image.new("RGB", (3000, 2000), "white")
    img.paste((0, 0, 0), (0, 0, 750, 200))  # a dark bar along the top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display": the bar ends up along the right side, at the top
    buf = io.BytesIO()
    img.save(buf, fmt, exif=exif)
    loaded = load_image(buf.getvalue())
    assert loaded.size == (1000, 1500)
    a = np.asarray(loaded.convert("L"))
    assert a[:300, -60:].mean() < 60 and a[-300:, -60:].mean() > 200 and a[:300, :60].mean() > 200


EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n0 0 moveto 10 10 lineto stroke\nshowpage\n%%EOF\n"


def _saved(fmt, **options) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (64, 64), 255).save(buf, fmt, **options)
    return buf.getvalue()


@pytest.mark.parametrize("name", ["gif", "bmp", "tiff", "eps", "ico"])
def test_only_png_jpeg_and_webp_are_opened(name, monkeypatch):
    """Other formats are refused from their first bytes with a message naming the accepted ones; no other
    decoder sees the file, and EPS never starts Ghostscript."""
    data = EPS if name == "eps" else _saved(name.upper())
    assert Image.open(io.BytesIO(data)).format == name.upper()  # Pillow itself would open it
    opened = []
    real_open = Image.open
    monkeypatch.setattr(
        Image, "open", lambda fp, mode="r", formats=None: opened.append(formats) or real_open(fp, mode, formats)
    )

    def no_subprocess(*args, **kwargs):
        raise AssertionError("a program was started")

    monkeypatch.setattr(subprocess, "Popen", no_subprocess)
    with pytest.raises(InvalidImage, match=r"not an image this app can read \(PNG, JPEG or WebP\)\."):
        load_image(data)
    assert opened == [("PNG", "JPEG", "WEBP")]


# ----------------------------------------------------------------------------------- accuracy
ACCURACY_N = 100  # deterministic drawings; a regression in preprocessing costs far more than 2 of them
MIN_ACCURACY = {"composite": 0.98, "dark": 0.97, "transparent": 0.97, "pad": 0.97}


@pytest.fixture(scope="module")
def drawings():
    rng = np.random.default_rng(2024)
    labels = np.arange(ACCURACY_N) % 10  # balanced digits
    return labels, [render_mask(int(d), rng) for d in labels]


@pytest.mark.parametrize("style", list(MIN_ACCURACY))
def test_accuracy_on_synthetic_drawings(model, drawings, style):
    from src.reading.inference import run_network

    labels, masks = drawings
    if style == "pad":  # as the pad sends them: SIZE x SIZE, black on transparency, through a PNG data URL
        values = [
            decode(encode(stylize(m.resize((SIZE, SIZE), Image.Resampling.LANCZOS), "transparent"))) for m in masks
        ]
    else:
        values = [stylize(m, style) for m in masks]
    predicted = run_network(model, np.stack([preprocess(v) for v in values]))[1].argmax(1)
    accuracy = float((predicted == labels).mean())
    mistakes = sorted({(int(t), int(p)) for t, p in zip(labels, predicted) if t != p})
    assert accuracy >= MIN_ACCURACY[style], f"{style}: accuracy {accuracy:.3f}; (true, predicted): {mistakes}"
