"""Who may see which prediction: staff see all; a user their own; a browser session the
predictions it made (so the history page works without an account); and whoever holds a
signed image URL from an API answer, that one image, for IMAGE_URL_MAX_AGE."""

from django.conf import settings
from django.core import signing
from django.db.models import Q, QuerySet
from django.urls import reverse

from recognizer.models import Prediction

SESSION_KEY = "prediction_ids"
SESSION_LIMIT = 500

# An API client has no session, so the image URLs in its answers carry a signature instead. An
# hour is long enough to fetch them after the answer, short enough that a copied link soon stops.
IMAGE_URL_MAX_AGE = 3600
IMAGE_URL_NAMES = {"input": "prediction-input-png-signed", "original": "prediction-original-signed"}


def predictions_visible(request) -> QuerySet[Prediction]:
    queryset = Prediction.objects.select_related("model_version", "reviewed_by")
    user = request.user
    if user.is_authenticated and user.is_staff:
        return queryset
    session_ids = request.session.get(SESSION_KEY, []) if hasattr(request, "session") else []
    condition = Q(pk__in=session_ids)
    if user.is_authenticated:
        condition |= Q(owner=user)
    return queryset.filter(condition)


def session_remember(request, prediction: Prediction) -> None:
    """Remember the prediction in the browser's session, for /history."""
    if not hasattr(request, "session"):
        return
    ids = request.session.get(SESSION_KEY, [])
    request.session[SESSION_KEY] = ([prediction.pk] + ids)[:SESSION_LIMIT]


def session_remember_for_browser(request, prediction: Prediction) -> None:
    """session_remember for an API call, when it comes from a browser on our pages: a client
    that holds our cookies already (a session, or the CSRF cookie every page sets). A
    cookie-less client would get a new session row per call, and never send its cookie back."""
    cookies = request.COOKIES
    if settings.SESSION_COOKIE_NAME in cookies or settings.CSRF_COOKIE_NAME in cookies:
        session_remember(request, prediction)


def _image_signer(kind: str) -> signing.TimestampSigner:
    # One salt per kind: the signature of a prediction's input does not open its original.
    return signing.TimestampSigner(salt=f"recognizer.prediction-image.{kind}")


def prediction_image_url(*, prediction_id: int, kind: str) -> str:
    """The signed URL of a prediction's image ("input" or "original"): it works without a session."""
    signed = _image_signer(kind).sign(str(prediction_id))  # "<id>:<timestamp>:<signature>"
    token = signed.split(":", 1)[1]
    return reverse(IMAGE_URL_NAMES[kind], args=[prediction_id, token])


def prediction_image_token_valid(*, prediction_id: int, kind: str, token: str) -> bool:
    try:
        value = _image_signer(kind).unsign(f"{prediction_id}:{token}", max_age=IMAGE_URL_MAX_AGE)
    except signing.BadSignature:  # SignatureExpired included
        return False
    return value == str(prediction_id)


def predictions_image_visible(request, *, prediction_id: int, kind: str, token: str | None) -> QuerySet[Prediction]:
    """The predictions whose `kind` image this request may see: with a token, the one it signs
    (or none); without, those predictions_visible allows."""
    if token is None:
        return predictions_visible(request)
    if prediction_image_token_valid(prediction_id=prediction_id, kind=kind, token=token):
        return Prediction.objects.filter(pk=prediction_id)
    return Prediction.objects.none()
