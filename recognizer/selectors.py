"""Reads of predictions that more than one interface needs: the review queue, reviewed rows,
accuracy summaries. Plain functions returning querysets or dicts; tests call them directly."""

import datetime

from django.db.models import Count, F, Q, QuerySet

from recognizer.models import NOT_A_DIGIT, Kind, LabelSource, Prediction

#: A labelled prediction the model got right: its digit is the true one, or it refused an image
#: that is not a digit.
CORRECT = Q(rejected=False, true_label=F("prediction")) | Q(rejected=True, true_label=NOT_A_DIGIT)


def predictions_review_queue(
    *,
    source: str | None = None,
    model_version: str | None = None,
    created_after: datetime.datetime | None = None,
    created_before: datetime.datetime | None = None,
    exclude_ids: list[int] | tuple[int, ...] = (),
) -> QuerySet[Prediction]:
    """Predictions waiting for a person's label, most uncertain first (then oldest id first).

    Only rows with no label at all: a label that came with a batch (its label folders) is the
    job's ground truth, audited in the admin, not queued. Rows with nothing to show (unreadable
    batch items, no ink found in a batch item) have no uncertainty and are never queued. The
    filter and the order match the partial index prediction_review_queue, so the next items are
    read in index order without a sort, however many rows the table holds."""
    # Numbers get no uncertainty (recognizer.services.number_fields): only digits are queued.
    queryset = Prediction.objects.filter(label_source=LabelSource.NONE, uncertainty__isnull=False)
    if source:
        queryset = queryset.filter(source=source)
    if model_version:
        queryset = queryset.filter(model_version__version=model_version)
    if created_after is not None:
        queryset = queryset.filter(created__gte=created_after)
    if created_before is not None:
        queryset = queryset.filter(created__lt=created_before)
    if exclude_ids:
        queryset = queryset.exclude(pk__in=list(exclude_ids))
    return queryset.order_by("-uncertainty", "id")


def predictions_reviewed() -> QuerySet[Prediction]:
    """Digit predictions a person labelled (batch labels are not reviews; numbers have a true
    text instead), oldest first."""
    return Prediction.objects.filter(
        label_source=LabelSource.REVIEW, kind=Kind.DIGIT, true_label__isnull=False
    ).order_by("id")


def predictions_accuracy_summary(*, queryset: QuerySet[Prediction], label_source: str) -> dict:
    """Accuracy of the labelled predictions of `queryset` whose label came from `label_source`
    (human reviews, or batch labels), by source and by model version, from one aggregate query."""
    groups = (
        queryset.order_by()
        .filter(label_source=label_source, true_label__isnull=False)
        .values("source", "model_version__version")
        .annotate(labelled=Count("id"), correct=Count("id", filter=CORRECT))
    )
    by_source: dict[str, list[int]] = {}
    by_version: dict[str, list[int]] = {}
    total = [0, 0]
    for group in groups:
        for table, key in ((by_source, group["source"]), (by_version, group["model_version__version"] or "–")):
            counts = table.setdefault(key, [0, 0])
            counts[0] += group["labelled"]
            counts[1] += group["correct"]
        total[0] += group["labelled"]
        total[1] += group["correct"]
    labels = dict(Prediction.Source.choices)

    def rows(table, label=lambda k: k):
        return [
            {"key": label(key), "reviewed": n, "correct": c, "accuracy": 100.0 * c / n if n else None}
            for key, (n, c) in sorted(table.items(), key=lambda item: str(item[0]))
        ]

    return {
        "by_source": rows(by_source, lambda k: labels.get(k, k)),
        "by_version": rows(by_version),
        "total": {
            "reviewed": total[0],
            "correct": total[1],
            "accuracy": 100.0 * total[1] / total[0] if total[0] else None,
        },
    }
