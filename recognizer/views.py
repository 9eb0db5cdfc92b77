"""HTML pages and the image views. Thin: the work is in services."""

import io

from django.conf import settings
from django.core.paginator import Paginator
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_http_methods
from PIL import Image

from recognizer import access
from recognizer.models import Kind, Prediction
from recognizer.services import prediction_create
from recognizer.serving import NoModelAvailable
from vision.decode import ImageDecodeError, decode_image

PREVIEW_SIDE = 256


def png_response(image: Image.Image) -> HttpResponse:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    response = HttpResponse(buffer.getvalue(), content_type="image/png")
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    return response


def preview_size(requested: str) -> int:
    """?size=N of the model-input preview, 28 to 280; anything that is not ASCII digits
    ("²", "-5", "1e3") is ignored."""
    if not (requested.isascii() and requested.isdigit()) or len(requested) > 6:
        return 28
    return min(max(int(requested), 28), 280)


def result_context(prediction: Prediction | None) -> dict:
    """What templates/recognizer/_result.html needs: ten bar-chart rows (empty ones before any result)."""
    probs = list(prediction.probs) if prediction is not None and prediction.probs else [0.0] * 10
    probs = (probs + [0.0] * 10)[:10]
    top = None if prediction is None or prediction.rejected else prediction.prediction
    rows = [
        {"digit": digit, "percent": 100.0 * p, "width": f"{100.0 * p:.1f}", "top": digit == top}
        for digit, p in enumerate(probs)
    ]
    confidence = 100.0 * prediction.confidence if prediction is not None else 0.0
    return {"prediction": prediction, "prob_rows": rows, "confidence_percent": confidence}


def number_context(prediction: Prediction | None) -> dict:
    """What templates/recognizer/_number_result.html needs: the number, and each digit's box
    as percentages of the image (the boxes are drawn over the image at any size)."""
    if prediction is None:
        return {"number": None, "number_boxes": []}
    width = height = 0
    if prediction.original:
        try:
            with prediction.original.open("rb") as handle, Image.open(handle) as image:
                width, height = image.size  # the header only
        except (OSError, ValueError):
            pass
    boxes = []
    for digit in prediction.digits if width and height else []:
        x, y, w, h = digit["box"]
        boxes.append(
            {
                "digit": digit["digit"],
                "percent": 100.0 * digit["confidence"],
                "left": f"{100.0 * x / width:.2f}",
                "top": f"{100.0 * y / height:.2f}",
                "width": f"{100.0 * w / width:.2f}",
                "height": f"{100.0 * h / height:.2f}",
            }
        )
    return {"number": prediction, "number_boxes": boxes}


@require_http_methods(["GET", "POST"])
def index(request):
    """Upload or draw a digit, or a number (mode "number"). A plain form POST works without
    JavaScript."""
    mode = request.POST.get("mode") if request.method == "POST" else request.GET.get("mode")
    mode = Kind.NUMBER if mode == Kind.NUMBER else Kind.DIGIT
    context = {
        "max_upload_bytes": settings.MAX_UPLOAD_BYTES,
        "mode": mode.value,
        **result_context(None),
        **number_context(None),
    }
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            context["error"] = "Choose an image file first."
        elif upload.size > settings.MAX_UPLOAD_BYTES:
            context["error"] = f"The file is larger than {settings.MAX_UPLOAD_BYTES // (1024 * 1024)} MB."
        else:
            try:
                prediction = prediction_create(
                    data=upload.read(), filename=upload.name, source="upload", owner=request.user, kind=mode
                )
            except ImageDecodeError as exc:
                context["error"] = str(exc)
            except NoModelAvailable as exc:
                context["error"] = f"No model can be served right now: {exc}"
                context["status_code"] = 503
            else:
                access.session_remember(request, prediction)
                context.update(number_context(prediction) if mode == Kind.NUMBER else result_context(prediction))
        status_code = context.pop("status_code", 400) if context.get("error") else 200
        return render(request, "recognizer/index.html", context, status=status_code)
    return render(request, "recognizer/index.html", context)


@require_GET
def history(request):
    # model_input is 784 bytes a row: leave it out and ask the database only whether it is there.
    has_input = ExpressionWrapper(Q(model_input__isnull=False), output_field=BooleanField())
    predictions = access.predictions_visible(request).defer("model_input").annotate(has_input=has_input)
    page = Paginator(predictions, 24).get_page(request.GET.get("page"))
    return render(request, "recognizer/history.html", {"page": page})


@require_GET
def prediction_input_png(request, pk: int, token: str | None = None):
    """The 28x28 image the model saw, scaled up for display (?size=N, at most 280). With a token:
    the signed URL of an API answer, which needs no session."""
    visible = access.predictions_image_visible(request, prediction_id=pk, kind="input", token=token)
    prediction = get_object_or_404(visible, pk=pk)
    if prediction.model_input is None:
        raise Http404("no model input stored for this prediction")
    image = Image.frombytes("L", (28, 28), bytes(prediction.model_input))
    size = preview_size(request.GET.get("size", ""))
    if size != 28:
        image = image.resize((size, size), Image.Resampling.NEAREST)
    return png_response(image)


@require_GET
def prediction_original(request, pk: int, token: str | None = None):
    """A PNG preview of the upload: re-encoded, so an uploaded file is never served as is."""
    visible = access.predictions_image_visible(request, prediction_id=pk, kind="original", token=token)
    prediction = get_object_or_404(visible, pk=pk)
    if not prediction.original:
        raise Http404("no original stored")
    try:
        with prediction.original.open("rb") as handle:
            image = decode_image(handle.read())
    except (ImageDecodeError, OSError) as exc:
        raise Http404("the original cannot be shown") from exc
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA")
    image.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    return png_response(image)
