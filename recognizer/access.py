"""Who may see which prediction: staff see all; a user their own; a browser session the
predictions it made (so the history page works without an account)."""

from django.db.models import Q, QuerySet

from recognizer.models import Prediction

SESSION_KEY = "prediction_ids"
SESSION_LIMIT = 500


def predictions_visible(request) -> QuerySet[Prediction]:
    queryset = Prediction.objects.select_related("model_version")
    user = request.user
    if user.is_authenticated and user.is_staff:
        return queryset
    session_ids = request.session.get(SESSION_KEY, []) if hasattr(request, "session") else []
    condition = Q(pk__in=session_ids)
    if user.is_authenticated:
        condition |= Q(owner=user)
    return queryset.filter(condition)


def session_remember(request, prediction: Prediction) -> None:
    if not hasattr(request, "session"):
        return
    ids = request.session.get(SESSION_KEY, [])
    request.session[SESSION_KEY] = ([prediction.pk] + ids)[:SESSION_LIMIT]
