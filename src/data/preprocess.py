"""Turn whatever a user gives us (the pad's drawing, an uploaded file, a PIL image, an array)
into the 28x28 input MNIST models expect. Every endpoint goes through this one module.

Two steps, both pure functions:

    ink_map(value)  -> float32 HxW in [0, 1], 1 = ink    (what is ink? depends on the input kind)
    to_mnist(ink)   -> float32 28x28 in [0, 1] or None   (the MNIST normalisation, None = no digit)

`to_mnist` follows how MNIST itself was made: crop the digit to its bounding box, scale its longer side
to 20 pixels with anti-aliasing (keeping the aspect ratio), and place it in a 28x28 frame so that its
centre of mass is at the centre. It also brings the stroke width to MNIST's typical width (about 2.8
pixels), because people draw with brushes from hair-thin to very thick and the network only ever saw
pen-like strokes.
"""

import io
import os
import re
import struct
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageChops, ImageFilter, ImageOps, UnidentifiedImageError

# Only these formats are opened: what drawings and photos come as. Anything else (GIF, TIFF, BMP, EPS, ...) is
# refused from its first bytes, so that no other decoder (nor Ghostscript, for EPS) ever sees a stranger's file.
FORMATS = ("PNG", "JPEG", "WEBP")
# The pixels one image may decode to, what a drawing or a phone's photo of a digit needs: a 12 MP photo
# (4032x3024) and a 4000x4000 drawing are read, a 6000x6000 PNG is refused from its header.
MAX_PIXELS = 16_000_000
# Images are read at READ_SIDE to 2*READ_SIDE pixels on their longer side when they are bigger: plenty for a
# digit (a digit spanning MIN_EXTENT of the longer side still has 40 pixels), and the reading's own arrays stay small.
READ_SIDE = 1024
# A JPEG is decoded at 1/2, 1/4 or 1/8 of its size when that still gives READ_SIDE (draft), and MAX_PIXELS
# applies to what is decoded; its header may claim at most this (under Pillow's own decompression-bomb warning).
MAX_JPEG_PIXELS = 64_000_000
# Pillow decodes a WebP through libwebp's animation decoder, which holds two canvases and a copy of the frame
# besides the image: a WebP may have at most this many pixels.
MAX_WEBP_PIXELS = 8_000_000

# Ink below this fraction of the strongest ink is anti-aliasing fringe or noise, not ink.
INK_THRESHOLD = 0.2
# Inputs without alpha: differences from the background smaller than this (on a 0..1 scale per channel)
# are never stretched to full ink, so that JPEG noise on a blank photo does not become a "digit".
MIN_CONTRAST = 0.25
# Ink maps whose strongest ink is weaker than this are blank (e.g. sensor or JPEG noise on a blank photo).
MIN_PEAK = 0.3
# Less ink than this (fraction of the image's pixels), or a bounding box whose longer side is shorter than
# MIN_EXTENT of the image's longer side, is a click or a speck, not a digit.
MIN_INK_FRACTION = 0.0005
MIN_EXTENT = 0.04
# More ink than this fraction of the image is a filled area or noise, not a digit.
MAX_INK_FRACTION = 0.5
# Strokes wider than this fraction of the drawing's longer side make a dot or a blob, not a digit: a disc
# has a "stroke width" of half its size, the thickest plausible digits about a quarter.
MAX_BLOB = 0.4
# Strokes still wider than this many times MNIST_STROKE after the width is brought near it are a filled area
# (dense hatching thickens into one, a slab with a small hole). Chosen on tuning digits (docs/model.md).
MAX_STROKE = 2.3

BOX, FRAME = 20, 28  # MNIST: the digit's longer side is 20 pixels, in a 28x28 frame
WORK = 4 * BOX  # intermediate size (longer side) at which the stroke width is measured and adjusted
# Target stroke width in pixels of the 20-pixel box: outputs whose median width (_stroke_width) is MNIST's
# (docs/model.md).
MNIST_STROKE = 2.6


class InvalidImage(ValueError):
    """An input that cannot be turned into a digit image; the message is meant for the person using the app."""


# --------------------------------------------------------------------------------------------- loading
@contextmanager
def readable_errors():
    """Turn what Pillow raises while opening or decoding an image into InvalidImage with a message for people."""
    try:
        yield
    except InvalidImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        # Pillow's own global check (about 89 million pixels by default) fired before ours could.
        pixels = re.search(r"\((\d+) pixels\)", str(e))
        raise InvalidImage(_too_large(f"{int(pixels[1]):,} pixels" if pixels else "")) from None
    except FileNotFoundError:
        raise InvalidImage("The image file does not exist.") from None  # no path: messages reach visitors
    except UnidentifiedImageError:
        raise InvalidImage("This file is not an image this app can read (PNG, JPEG or WebP).") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, MemoryError):  # truncated or corrupted
        raise InvalidImage("This image file is damaged or incomplete and cannot be decoded.") from None


def check_size(img: Image.Image, limit: int = MAX_PIXELS) -> Image.Image:
    """Raise InvalidImage if an opened (not yet decoded) image has more than `limit` pixels."""
    w, h = img.size
    if w * h > limit:
        raise InvalidImage(_too_large(f"{w}x{h} pixels", limit))
    return img


def load_image(source) -> Image.Image:
    """Open a PNG, JPEG or WebP file (a path, bytes or a binary file-like object) as a PIL image, or raise
    InvalidImage.

    The size is checked before any pixel is decoded (Image.open only reads the header). An image bigger than
    reading needs comes back with its longer side between READ_SIDE and 2*READ_SIDE: a JPEG decoded at a
    smaller scale, the others reduced by an integer factor once decoded. An animated PNG gives its first
    frame; EXIF orientation is applied.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(source))
    elif isinstance(source, os.PathLike):
        source = os.fspath(source)
    with readable_errors():
        img = Image.open(source, formats=FORMATS)
        if img.format == "JPEG":
            # libjpeg holds a whole image's coefficients for progressive and multi-scan JPEGs, at full size
            # whatever the scale it decodes at: those get the plain budget on their header's size.
            check_size(img, MAX_PIXELS if _whole_image_buffered(img) else MAX_JPEG_PIXELS)
            w, h = img.size
            if max(w, h) >= 2 * READ_SIDE:
                img.draft(None, (READ_SIDE, 1) if w >= h else (1, READ_SIDE))  # the longer side stays >= READ_SIDE
        check_size(img, MAX_WEBP_PIXELS if img.format == "WEBP" else MAX_PIXELS)
        img.load()  # decode now (the first frame of an animation), so that damaged data fails here and not later
        img = _reduced(img)
        ImageOps.exif_transpose(img, in_place=True)  # in place: no copy when there is nothing to turn
    return img


def _whole_image_buffered(img) -> bool:
    """Whether libjpeg must buffer the whole image to decode this JPEG: progressive, or its first scan carries
    fewer components than the image (one scan per component). Unsure (an odd header): True."""
    if img.info.get("progressive"):
        return True
    fp, at = img.fp, img.fp.tell()
    try:
        fp.seek(2)  # after SOI: marker segments, each with its length, up to the first SOS
        while True:
            if fp.read(1) != b"\xff":
                return True
            marker = fp.read(1)
            while marker == b"\xff":  # fill bytes
                marker = fp.read(1)
            length = int.from_bytes(fp.read(2), "big")
            if not marker or length < 2:
                return True
            if marker == b"\xda":
                components = fp.read(1)
                return not components or components[0] < img.layers
            fp.seek(length - 2, os.SEEK_CUR)
    finally:
        fp.seek(at)


# Modes whose pixels Image.reduce cannot average, and what they become first (a palette: RGB, or RGBA when it
# has transparency).
_WIDER = {"1": "L", "I;16": "I", "I;16L": "I", "I;16B": "I", "I;16N": "I"}
_BAND = 1 << 20  # pixels reduced at a time


def _reduced(img: Image.Image) -> Image.Image:
    """A decoded image with its longer side brought down to READ_SIDE..2*READ_SIDE by an integer factor (box
    averages), or the image itself when it is not bigger. Same mode except as _WIDER says; the info (EXIF) is kept."""
    factor = max(img.size) // READ_SIDE
    if factor < 2:
        return img
    mode = _WIDER.get(img.mode, img.mode)
    if img.mode in ("P", "PA"):
        mode = "RGBA" if img.mode == "PA" or "transparency" in img.info else "RGB"
    # A band of rows at a time, so that no converted copy of the whole image is made: neither ours nor the
    # premultiplied one Image.reduce makes of an image with alpha.
    w, h = img.size
    rows = factor * max(1, _BAND // (w * factor))
    out = Image.new(mode, (-(-w // factor), -(-h // factor)))
    for top in range(0, h, rows):
        band = img.crop((0, top, w, min(top + rows, h)))
        out.paste((band if band.mode == mode else band.convert(mode)).reduce(factor), (0, top // factor))
    out.info = dict(img.info)
    return out


def _too_large(size: str, limit: int = MAX_PIXELS) -> str:
    side = int(limit**0.5)
    return (
        f"The image is too large{f' ({size})' if size else ''}; the limit is {limit:,} pixels "
        f"(for example {side}x{side}). Please use a smaller image."
    )


# --------------------------------------------------------------------------------------------- ink_map
# Everything below works on 8-bit Pillow images: their per-pixel operations run in C, faster than numpy code on
# float copies of a whole canvas. 8 bits are plenty for ink.
_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def _as_pil(img) -> Image.Image:
    """A PIL image or an array (HxW, HxWxC with C in 1..4; uint8, uint16, bool or float) -> an 8-bit
    image in mode L, LA, RGB or RGBA."""
    if isinstance(img, Image.Image):
        if img.mode in ("L", "LA", "RGB", "RGBA"):
            return img
        if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):  # 16/32-bit grey: scale to 8 bits ourselves
            return _as_pil(np.asarray(img.convert("F") if img.mode.startswith("I;16") else img))
        # P, PA, 1, CMYK, YCbCr, LAB, HSV, RGBX, ...: palette transparency becomes alpha.
        has_alpha = img.mode in ("PA", "La", "RGBa") or "transparency" in img.info
        return img.convert("RGBA" if has_alpha else "RGB")
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in _MODES):
        raise InvalidImage(f"Expected an image array of shape HxW, HxWx3 or HxWx4, not {a.shape}.")
    if a.dtype != np.uint8:
        a = np.nan_to_num(a.astype(np.float32))
        top = 1.0 if a.dtype == bool or a.max(initial=0) <= 1 else 255.0 if a.max() <= 255 else 65535.0
        a = (np.clip(a / top, 0, 1) * 255 + 0.5).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(a), _MODES[1 if a.ndim == 2 else a.shape[2]])


def _unit(img: Image.Image) -> np.ndarray:
    """An 8-bit single-channel image as float32 in [0, 1], scaled in place: no second full-size float array."""
    a = np.array(img, dtype=np.float32)
    a *= 1 / 255
    return a


def _alpha(img: Image.Image) -> Image.Image | None:
    return img.getchannel("A") if img.mode in ("LA", "RGBA") else None


def _ink_from_image(img) -> np.ndarray:
    """Ink of a single image: its alpha if it is partly transparent, otherwise its distance from the
    background colour (the median colour of its outer frame)."""
    img = _as_pil(img)
    alpha = _alpha(img)
    if alpha is not None and alpha.getextrema()[0] < 250:
        return _unit(alpha)
    img = img.convert("RGB" if img.mode == "RGBA" else "L" if img.mode == "LA" else img.mode)
    w, h = img.size
    b = max(1, min(w, h) // 50)  # the outer frame: a fiftieth of the shorter side
    strips = [img.crop(box) for box in ((0, 0, w, b), (0, h - b, w, h), (0, 0, b, h), (w - b, 0, w, h))]
    frame = np.concatenate([np.asarray(s).reshape(-1, len(img.getbands())) for s in strips])
    background = tuple(int(v) for v in np.median(frame, axis=0))
    # Largest per-channel difference: black on white, white on black, red on white and black on #333 all count.
    diff = ImageChops.difference(
        img, Image.new(img.mode, img.size, background if len(background) > 1 else background[0])
    )
    if diff.mode == "RGB":
        r, g, b_ = diff.split()
        diff = ImageChops.lighter(ImageChops.lighter(r, g), b_)
    ink = np.asarray(diff, dtype=np.float32)
    return ink / max(float(ink.max(initial=0)), MIN_CONTRAST * 255)


def _size(x) -> tuple[int, int]:
    return x.size if isinstance(x, Image.Image) else np.asarray(x).shape[1::-1]


def ink_map(value) -> np.ndarray:
    """float32 HxW in [0, 1], 1 = ink, for a PIL image or an array (see module doc).

    Empty inputs (None, a 0-pixel image) give a 1x1 zero map.
    """
    if value is None:
        return np.zeros((1, 1), np.float32)
    if isinstance(value, (Image.Image, np.ndarray)):
        if 0 in tuple(_size(value)):
            return np.zeros((1, 1), np.float32)
        return _ink_from_image(value)
    raise InvalidImage(f"Expected an image, not {type(value).__name__}.")


# --------------------------------------------------------------------------------------------- to_mnist
def _bbox(mask: np.ndarray):
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


def _stroke_width(img: Image.Image) -> float:
    """Estimated stroke width in pixels of a grey ink image: 2 * area / perimeter of the ink above half
    (a stroke of length L and width w has area w*L and perimeter about 2*L)."""
    m = np.asarray(img) > 127
    inner = m.copy()
    inner[1:] &= m[:-1]
    inner[:-1] &= m[1:]
    inner[:, 1:] &= m[:, :-1]
    inner[:, :-1] &= m[:, 1:]
    inner[0] = inner[-1] = inner[:, 0] = inner[:, -1] = False
    perimeter = np.count_nonzero(m & ~inner)
    return 2 * np.count_nonzero(m) / perimeter if perimeter else 0.0


class Ink(NamedTuple):
    """An ink map's measurements, taken once per drawing and shared by to_mnist and src.data.segment."""

    peak: float  # the strongest ink
    mask: np.ndarray  # bool HxW: ink above INK_THRESHOLD of the peak
    count: int  # pixels in the mask
    box: tuple[int, int, int, int]  # the mask's bounding box: top, bottom, left, right (exclusive ends)


def measure_ink(ink: np.ndarray) -> Ink | None:
    """The measurements of a float32 ink map, or None when it holds no drawing: blank, a click or a speck."""
    ink = np.asarray(ink, dtype=np.float32)
    peak = float(ink.max(initial=0))
    if peak < MIN_PEAK:
        return None
    mask = ink > INK_THRESHOLD * peak
    count = np.count_nonzero(mask)
    if count < MIN_INK_FRACTION * mask.size:
        return None
    top, bottom, left, right = _bbox(mask)
    if max(bottom - top, right - left) < MIN_EXTENT * max(ink.shape):
        return None
    return Ink(peak, mask, count, (top, bottom, left, right))


def to_mnist(ink: np.ndarray, measured: Ink | None = None) -> np.ndarray | None:
    """The MNIST normalisation of an ink map; None when it holds no digit: blank, a speck (see measure_ink),
    or a filled area (too much ink, or strokes as wide as a blob). `measured`: measure_ink(ink), if the
    caller has it already."""
    ink = np.asarray(ink, dtype=np.float32)
    found = measured or measure_ink(ink)
    if found is None:
        return None
    peak, mask, count, (top, bottom, left, right) = found
    if count > MAX_INK_FRACTION * mask.size:
        return None
    h, w = bottom - top, right - left

    # Crop to the ink, drop the faint fringe, and reduce to WORK pixels on the longer side in one
    # anti-aliased Pillow resize (fast: the big array is touched only by the threshold and the crop).
    crop = ink[top:bottom, left:right] * (255 / peak)
    crop[~mask[top:bottom, left:right]] = 0
    crop += 0.5
    img = Image.fromarray(crop.astype(np.uint8))
    scale = WORK / max(h, w)
    if scale < 1:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        img = img.resize(size, Image.Resampling.BOX, reducing_gap=None)
    else:  # small inputs (e.g. a 28x28 upload): enlarge smoothly
        img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR)

    img = _mnist_stroke(img)
    if img is None:
        return None

    # Longer side to 20 pixels, keeping the aspect ratio.
    w, h = img.size
    scale = BOX / max(w, h)
    img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
    digit = np.clip(np.asarray(img, dtype=np.float32) / 255, 0, 1)
    digit /= max(float(digit.max()), 1e-6)

    # Paste so that the centre of mass lands on pixel (14, 14), as MNIST does (integer shift, clipped).
    total = float(digit.sum())
    ys, xs = np.indices(digit.shape)
    cy, cx = (ys * digit).sum() / total, (xs * digit).sum() / total
    dh, dw = digit.shape
    y0 = int(np.clip(round(FRAME / 2 - cy), 0, FRAME - dh))
    x0 = int(np.clip(round(FRAME / 2 - cx), 0, FRAME - dw))
    out = np.zeros((FRAME, FRAME), np.float32)
    out[y0 : y0 + dh, x0 : x0 + dw] = digit
    return out


def _mnist_stroke(img: Image.Image) -> Image.Image | None:
    """A grey ink image at WORK pixels with its stroke width brought near MNIST's (thin hair-lines thickened,
    fat marker strokes thinned) and cropped to its ink; None for a dot, a blob or a filled area."""
    target = MNIST_STROKE * WORK / BOX
    width = _stroke_width(img)
    if width > MAX_BLOB * WORK:  # a dot or a blob (a disc's width is half its extent), not a digit
        return None
    if width == 0:
        return img
    steps = int(round((width - target) / 2))  # a 3x3 min/max filter changes the width by 2 pixels
    steps = max(-4, min(steps, 4))
    for _ in range(abs(steps)):
        img = img.filter(ImageFilter.MinFilter(3) if steps > 0 else ImageFilter.MaxFilter(3))
    box = img.getbbox()
    if box is None:
        return None
    img = img.crop(box)
    return None if _stroke_width(img) > MAX_STROKE * target else img


def preprocess(value) -> np.ndarray | None:
    """Any supported input -> float32 (28, 28) in [0, 1], white digit on black, or None if blank."""
    return to_mnist(ink_map(value))
