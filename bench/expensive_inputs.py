"""What the most expensive accepted (or refused) uploads cost one web worker: CPU time and
peak memory of decode + preprocessing (vision.preprocess.preprocess_bytes), each input
in a fresh process.

    .venv/bin/python bench/expensive_inputs.py [--only NAME ...] [--list]

Each input is a small file (a few KB to a few MB) that decodes to many pixels, or that a
decoder works hard on: the worst cases per format, at and above the limits of
vision.decode. The inputs are built on the fly (tests/images.py), written to a
temporary folder, and each is measured by a child process that has imported the
preprocessing and warmed it up on a small digit:

- cpu ms: time.process_time() around the call (the worker's own CPU, all threads);
- rss MB: peak resident memory during the call above the resident memory before it
  (VmHWM, reset before the call, or else resource.getrusage's ru_maxrss), Pillow's and
  libjpeg's buffers included;
- traced MB: tracemalloc's peak over a second call (Python and numpy allocations only).

Inference (one model call, about 1 ms and constant) and storing the file are left out.
"""

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def cases() -> dict:
    """name -> (builder of the file's bytes, what it is)."""
    from PIL import Image

    from tests.images import big_digit_canvas, bmp_rle8, encode, tiff_many_pages

    def png_text_bomb() -> bytes:
        # zTXt chunks of 1 MB of zeros each, a few KB compressed; Pillow keeps up to 64 MB.
        from PIL import PngImagePlugin

        meta = PngImagePlugin.PngInfo()
        for i in range(60):
            meta.add_text(f"k{i}", "\0" * 1_000_000, zip=True)
        return encode(big_digit_canvas((280, 280)), "PNG", pnginfo=meta)

    def tiff16(size):
        import numpy as np

        grey = np.asarray(big_digit_canvas(size), dtype=np.uint16) * 257
        return encode(Image.fromarray(grey), "TIFF", compression="tiff_adobe_deflate")

    def tiff_float(size):
        import numpy as np

        grey = np.asarray(big_digit_canvas(size), dtype=np.float32) / 255.0
        return encode(Image.fromarray(grey), "TIFF", compression="tiff_adobe_deflate")

    def jpeg(size, **options):
        return encode(big_digit_canvas(size).convert("RGB"), "JPEG", quality=90, **options)

    def noisy_jpeg(size, quality):
        # Paper grain all over: the entropy decoder works on every byte (about 9 MB).
        import numpy as np

        grey = np.asarray(big_digit_canvas(size), dtype=np.int16) * 3 // 4 + 32
        grain = np.random.default_rng(0).integers(-24, 25, size=grey.shape, dtype=np.int16)
        return encode(Image.fromarray(np.clip(grey + grain, 0, 255).astype(np.uint8)), "JPEG", quality=quality)

    def png16_rgba(size):
        import numpy as np

        rgba = np.asarray(big_digit_canvas(size, style="transparent"), dtype=np.uint16) * 257
        return _png16_rgba(rgba)

    return {
        # Refused from the header, above the limits of vision.decode:
        "png-rgba-40mp": (lambda: encode(big_digit_canvas((8000, 5000), style="transparent")), "8000x5000 RGBA PNG"),
        "jpeg-8000x8000": (lambda: jpeg((8000, 8000)), "64 MP baseline JPEG"),
        "jpeg-40mp-progressive": (lambda: jpeg((8000, 5000), progressive=True), "8000x5000 progressive JPEG"),
        "webp-lossless-40mp": (
            lambda: encode(big_digit_canvas((6324, 6324)), "WEBP", lossless=True),
            "6324x6324 lossless WebP",
        ),
        "bmp-rle8-eol-40mp": (lambda: bmp_rle8(8000, 5000, run=1, eol_after=1), "8000x5000 RLE8 BMP, rows cut"),
        # Accepted, at the limits:
        "png-rgba-10mp": (lambda: encode(big_digit_canvas((3162, 3162), style="transparent")), "3162x3162 RGBA PNG"),
        "png-rgba16-5mp": (lambda: png16_rgba((2236, 2236)), "2236x2236 16-bit RGBA PNG"),
        "png-grey-40mp": (lambda: encode(big_digit_canvas((8000, 5000))), "8000x5000 grey PNG"),
        "png-ztxt-bomb": (png_text_bomb, "280x280 PNG + 60 zTXt chunks of 1 MB"),
        "jpeg-40mp": (lambda: jpeg((8000, 5000)), "8000x5000 baseline JPEG"),
        "jpeg-40mp-noisy": (lambda: noisy_jpeg((8000, 5000), 60), "8000x5000 JPEG, grain all over"),
        "jpeg-21mp-progressive": (lambda: jpeg((4580, 4580), progressive=True), "4580x4580 progressive JPEG"),
        "gif-palette-40mp": (lambda: encode(big_digit_canvas((8000, 5000)).convert("P"), "GIF"), "8000x5000 GIF"),
        "tiff-16bit-20mp": (lambda: tiff16((5000, 4000)), "5000x4000 16-bit TIFF (deflate)"),
        "tiff-float-10mp": (lambda: tiff_float((3162, 3162)), "3162x3162 32-bit float TIFF"),
        "tiff-90k-pages": (lambda: tiff_many_pages(90_000), "TIFF chaining 90,000 pages"),
        "webp-lossless-2.5mp": (
            lambda: encode(big_digit_canvas((1581, 1581)), "WEBP", lossless=True),
            "1581x1581 lossless WebP",
        ),
        "bmp-rle8-eol-1mp": (lambda: bmp_rle8(1000, 1000, run=1, eol_after=1), "1000x1000 RLE8 BMP, rows cut"),
    }


def _png16_rgba(rgba) -> bytes:
    """A 16-bit RGBA PNG from a (h, w, 4) uint16 array (Pillow writes no 16-bit colour PNG)."""
    import struct
    import zlib

    h, w, _ = rgba.shape
    rows = rgba.astype(">u2").reshape(h, w * 8 // 2).view("u1").reshape(h, w * 8)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def measure(path: Path) -> dict:
    """In this (fresh) process: the cost of preprocess_bytes on the file at `path`."""
    from tests.images import digit_png
    from vision.decode import ImageDecodeError
    from vision.preprocess import preprocess_bytes

    preprocess_bytes(digit_png()[0])  # imports and first-call costs out of the way
    data = path.read_bytes()
    rss_before = _rss()
    _reset_peak()
    started = time.process_time()
    try:
        result = preprocess_bytes(data)
        outcome = f"rejected: {result.reason}" if result.rejected else "accepted"
    except ImageDecodeError as exc:
        outcome = f"refused: {exc}"
    cpu_ms = (time.process_time() - started) * 1000.0
    peak = _peak_rss()
    tracemalloc.start()
    with contextlib.suppress(ImageDecodeError):
        preprocess_bytes(data)
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "cpu_ms": cpu_ms,
        "rss_mb": max(0, peak - rss_before) / 1e6,
        "traced_mb": traced / 1e6,
        "outcome": outcome,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="Names of the inputs to measure (default: all).")
    parser.add_argument("--list", action="store_true", help="List the inputs and stop.")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child's entry point
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    table = cases()
    if args.list:
        for name, (_, what) in table.items():
            print(f"{name}: {what}")
        return
    names = args.only or list(table)
    print("| input | file | cpu ms | rss MB | traced MB | outcome |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            build, what = table[name]
            data = build()
            path = Path(tmp) / name
            path.write_bytes(data)
            child = subprocess.run(
                [sys.executable, __file__, "--measure", str(path)], capture_output=True, text=True, check=False
            )
            if child.returncode != 0:
                print(f"| {name} ({what}) | {_size(len(data))} | - | - | - | crashed: {child.stderr[-300:]!r} |")
                continue
            row = json.loads(child.stdout.strip().splitlines()[-1])
            outcome = row["outcome"] if len(row["outcome"]) < 90 else row["outcome"][:87] + "..."
            print(
                f"| {name} ({what}) | {_size(len(data))} | {row['cpu_ms']:.0f} | {row['rss_mb']:.0f} "
                f"| {row['traced_mb']:.0f} | {outcome} |",
                flush=True,
            )


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak() -> None:
    """Start the peak over from the current RSS (Linux: writing 5 to clear_refs resets VmHWM).
    Without it ru_maxrss also holds the warm-up's peak, and a forked child's maxrss starts at
    its parent's."""
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def _peak_rss() -> int:
    """Peak RSS since _reset_peak: VmHWM where Linux has it, else getrusage's ru_maxrss."""
    with contextlib.suppress(OSError), open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} KB"


if __name__ == "__main__":
    main()
