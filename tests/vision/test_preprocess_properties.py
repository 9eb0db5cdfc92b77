"""Property tests: any image Pillow can make yields a 28x28 array in [0, 1] or a rejection
with a reason, never an exception."""

import io

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from vision.decode import ImageDecodeError
from vision.preprocess import Preprocessed, preprocess_bytes, preprocess_pil

MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I", "I;16", "F", "YCbCr", "HSV"]
SAVE_FORMATS = {
    "PNG": {"1", "L", "LA", "P", "RGB", "RGBA", "I;16"},  # Pillow 13 no longer writes mode I as PNG
    "JPEG": {"L", "RGB", "CMYK"},
    "WEBP": {"RGB", "RGBA"},
    "BMP": {"1", "L", "P", "RGB"},
    "GIF": {"L", "P"},
    "TIFF": {"1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "F"},
}


@st.composite
def images(draw):
    width = draw(st.integers(1, 300))
    height = draw(st.integers(1, 300))
    kind = draw(st.sampled_from(["noise", "flat", "strokes"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "noise":
        rgba = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
        base = Image.fromarray(rgba)
    elif kind == "flat":
        base = Image.new("RGBA", (width, height), tuple(int(v) for v in rng.integers(0, 256, 4)))
    else:
        base = Image.new("RGBA", (width, height), tuple(int(v) for v in rng.integers(0, 256, 4)))
        pen = ImageDraw.Draw(base)
        for _ in range(draw(st.integers(1, 6))):
            points = [tuple(int(v) for v in rng.integers(0, max(width, height), 2)) for _ in range(3)]
            pen.line(points, fill=tuple(int(v) for v in rng.integers(0, 256, 4)), width=int(rng.integers(1, 20)))
    mode = draw(st.sampled_from(MODES))
    return base.convert(mode) if mode not in ("I;16",) else base.convert("I").convert("I;16")


def check(result: Preprocessed) -> None:
    assert isinstance(result, Preprocessed)
    if result.pixels is None:
        assert isinstance(result.reason, str) and result.reason
    else:
        assert result.reason is None
        assert result.pixels.shape == (28, 28)
        assert result.pixels.dtype == np.float32
        assert np.isfinite(result.pixels).all()
        assert result.pixels.min() >= 0.0 and result.pixels.max() <= 1.0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(images())
def test_any_pillow_image_gives_28x28_in_unit_range_or_a_reason(image):
    check(preprocess_pil(image))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(images(), st.sampled_from(sorted(SAVE_FORMATS)))
def test_any_saved_image_gives_an_answer_or_a_decode_error(image, fmt):
    if image.mode not in SAVE_FORMATS[fmt]:
        image = image.convert("RGB" if fmt in ("JPEG", "WEBP", "BMP") else "L")
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    check(preprocess_bytes(buffer.getvalue()))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_give_an_answer_or_a_decode_error(data):
    try:
        check(preprocess_bytes(data))
    except ImageDecodeError as exc:
        assert str(exc)
