"""Peak memory of one image file through load_image and the reading (LoadedModel.read), each in a fresh process.

    python -m bench.image_memory [--against REV]     # REV: a git revision whose src/data/preprocess.py to compare

It writes big drawings and photo-like images (PNG in several modes, JPEG baseline and progressive, WebP) into a
temporary folder, then reads each in a process of its own: the rise is VmHWM after the read (the peak reset
through /proc/self/clear_refs after a warm-up) minus VmRSS before. Linux only.
"""

import gc
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make(files: Path):
    import numpy as np
    from PIL import Image

    from src.data.digits import render_mask
    from src.data.strokes import stylize

    rng = np.random.default_rng(0)

    def drawing(side, digit=6):
        return render_mask(digit, np.random.default_rng(6), canvas=side, supersample=1, height_frac=(0.6, 0.6))

    def photo(w, h, digit=6):
        """Photo-like: a lit sheet of paper (gradient), sensor noise, a dark digit."""
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        base = 200 + 30 * (x / w) - 20 * (y / h)
        ink = (
            np.asarray(
                render_mask(digit, np.random.default_rng(7), canvas=min(w, h), supersample=1, height_frac=(0.5, 0.5)),
                np.float32,
            )
            / 255
        )
        canvas = np.zeros((h, w), np.float32)
        oy, ox = (h - ink.shape[0]) // 2, (w - ink.shape[1]) // 2
        canvas[oy : oy + ink.shape[0], ox : ox + ink.shape[1]] = ink
        grey = base * (1 - 0.8 * canvas)
        rgb = np.stack([grey * 1.0, grey * 0.97, grey * 0.9], -1) + rng.normal(0, 3, (h, w, 3)).astype(np.float32)
        return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))

    def save(name, img, fmt="PNG", **kw):
        img.save(files / name, fmt, **kw)
        print(f"{name}: {img.mode} {img.size[0]}x{img.size[1]}, {(files / name).stat().st_size / 1e6:.1f} MB")

    save("rgba_4000_noise.png", Image.fromarray(rng.integers(0, 256, (4000, 4000, 4), np.uint8)), compress_level=1)
    save("rgba_4000_drawing.png", stylize(drawing(4000), "transparent"))
    grey = np.asarray(stylize(drawing(4000), "composite").convert("L")).astype(np.uint16) * 257
    save("grey16_4000_drawing.png", Image.fromarray(grey))
    save(
        "palette_4000_drawing.png",
        stylize(drawing(4000), "composite").convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE),
    )
    save("palette_4000_noise.png", Image.fromarray(rng.integers(0, 256, (4000, 4000), np.uint8), "P"))
    save("bilevel_4000_drawing.png", stylize(drawing(4000), "composite").convert("1"))
    big = photo(6000, 6000)
    save("photo_6000.jpg", big, "JPEG", quality=85)
    save("photo_6000_progressive.jpg", big, "JPEG", quality=85, progressive=True)
    save("photo_4032x3024.jpg", photo(4032, 3024), "JPEG", quality=90)
    save("photo_4000_444_progressive.jpg", photo(4000, 4000), "JPEG", quality=85, subsampling=0, progressive=True)
    save("photo_8000.jpg", photo(8000, 8000), "JPEG", quality=75)
    save("rgba_4000_drawing.webp", stylize(drawing(4000), "transparent"), "WEBP", lossless=True)
    save("photo_4000.webp", photo(4000, 4000), "WEBP", quality=85)
    save("drawing_6000.png", stylize(drawing(6000), "composite").convert("RGB"))


def one(path: str, against: str | None):
    import numpy as np

    if against:  # that revision's preprocess.py, loaded beside today's package
        import importlib.util

        old = Path(path).parent.parent / "preprocess_then.py"
        old.write_text(
            subprocess.run(
                ["git", "-C", str(ROOT), "show", f"{against}:src/data/preprocess.py"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        spec = importlib.util.spec_from_file_location("preprocess_then", old)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        load_image, InvalidImage = mod.load_image, mod.InvalidImage
    else:
        from src.data.preprocess import InvalidImage, load_image
    from src.reading.inference import ModelStore

    model = ModelStore(ROOT / "checkpoints", "default.safetensors").load("default.safetensors")
    from src.data.digits import render_digit
    from src.data.strokes import png_bytes

    warm = render_digit(3, np.random.default_rng(0), canvas=400).convert("RGB")
    model.read(load_image(png_bytes(warm)))  # warm-up: torch's and Pillow's first allocations
    gc.collect()

    def status(key):
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))

    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to VmRSS
    before = status("VmRSS")
    t = time.perf_counter()
    try:
        img = load_image(path)
        size, mode = img.size, img.mode
        reading = model.read(img)
        outcome = f"read {reading.number if reading else None} from {mode} {size[0]}x{size[1]}"
    except InvalidImage as e:
        outcome = f"refused: {str(e)[:60]}"
    seconds = time.perf_counter() - t
    print(f"{Path(path).name:34s} +{(status('VmHWM') - before) / 1e6:6.1f} MB  {seconds:5.2f} s  {outcome}")


def main():
    if sys.argv[1:2] == ["one"]:  # in the subprocess: python -m bench.image_memory one PATH [REV]
        return one(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    against = sys.argv[sys.argv.index("--against") + 1] if "--against" in sys.argv else None
    with tempfile.TemporaryDirectory(prefix="image-memory-") as tmp:
        files = Path(tmp) / "files"
        files.mkdir()
        make(files)
        print(f"\none file through load_image and the reading{f' (preprocess.py of {against})' if against else ''}:")
        for path in sorted(files.iterdir()):
            subprocess.run(
                [sys.executable, "-m", "bench.image_memory", "one", str(path), *([against] if against else [])],
                check=True,
                cwd=ROOT,
            )


if __name__ == "__main__":
    main()
