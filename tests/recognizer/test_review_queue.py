"""The review queue: the uncertainty score, the order it gives, the filters, and that every row
gets its score once, when it is written (API rows, batch rows, and the backfill of old rows)."""

import datetime
import importlib

import pytest
from django.apps import apps
from django.db import connection
from django.utils import timezone

from recognizer import batch
from recognizer.models import LabelSource, Prediction
from recognizer.selectors import predictions_review_queue
from recognizer.services import prediction_create
from recognizer.uncertainty import uncertainty_score
from tests.factories import ModelVersionFactory, PredictionFactory
from tests.images import blank_png, digit_png
from tests.recognizer.batch_helpers import upload, zip_bytes

pytestmark = pytest.mark.django_db


def probs_with(top: float, second: float) -> list[float]:
    rest = (1.0 - top - second) / 8
    return [top, second] + [rest] * 8


@pytest.mark.parametrize(
    ("probs", "no_digit", "rejected", "expected"),
    [
        (probs_with(1.0, 0.0), 0.0, False, 0.0),  # certain: last
        (probs_with(0.9, 0.1), 0.0, False, 0.2),  # margin 0.8
        (probs_with(0.5, 0.45), 0.0, False, 0.95),  # a close call between two digits
        (probs_with(0.98, 0.01), 0.6, False, 0.6),  # sure of the digit, not sure it is one
        (probs_with(0.4, 0.1), 0.0, False, 0.7),  # low confidence: 1 - margin (0.7) over 1 - top (0.6)
        (probs_with(0.98, 0.01), 0.9, True, 1.9),  # rejected as not a digit
        (probs_with(0.99, 0.01), 0.1, True, 1.1),  # a rejection always outranks an answer
        ([0.0] * 10, 0.0, True, 2.0),  # no ink found: nothing the model could say
        ([], 0.0, True, 2.0),
    ],
)
def test_uncertainty_score(probs, no_digit, rejected, expected):
    assert uncertainty_score(digit_probs=probs, no_digit_prob=no_digit, rejected=rejected) == pytest.approx(expected)


# Each row: (name, digit probabilities, not-a-digit probability, rejected). The queue's order is
# the table's order: rejections first, then the smallest margin or the likeliest non-digit.
QUEUE_ORDER = [
    ("blank page", [0.0] * 10, 0.0, True),  # 2.0
    ("unsure", probs_with(0.45, 0.40), 0.05, True),  # 1.95: a digit the model could not tell
    ("scribble", probs_with(0.95, 0.02), 0.92, True),  # 1.92: a confident refusal
    ("4 or 9", probs_with(0.52, 0.47), 0.0, False),
    ("maybe a letter", probs_with(0.97, 0.02), 0.70, False),
    ("low confidence", probs_with(0.60, 0.15), 0.0, False),
    ("clear 7", probs_with(0.99, 0.005), 0.0, False),
]


def test_queue_is_most_uncertain_first():
    names = {}
    for name, probs, no_digit, rejected in reversed(QUEUE_ORDER):  # written in the wrong order
        row = PredictionFactory(
            probs=probs, no_digit_prob=no_digit, rejected=rejected, prediction=None if rejected else 3
        )
        names[row.pk] = name
    assert [names[p.pk] for p in predictions_review_queue()] == [name for name, *_ in QUEUE_ORDER]


def test_equal_scores_are_reviewed_oldest_first():
    rows = [PredictionFactory() for _ in range(3)]
    assert list(predictions_review_queue()) == rows


@pytest.mark.parametrize(
    ("label_source", "uncertainty", "queued"),
    [
        (LabelSource.NONE, 0.5, True),
        (LabelSource.REVIEW, 0.5, False),  # reviewed already
        (LabelSource.BATCH, 0.5, False),  # its batch's label: audited in the admin, not queued
        (LabelSource.NONE, None, False),  # nothing to show a reviewer
    ],
)
def test_queue_holds_unlabelled_rows_with_something_to_show(label_source, uncertainty, queued):
    row = PredictionFactory(
        label_source=label_source, true_label=None if label_source == LabelSource.NONE else 3, uncertainty=uncertainty
    )
    assert (row in predictions_review_queue()) is queued


def test_queue_filters_by_source_model_version_and_date_and_leaves_out_skipped_ones():
    old, new = ModelVersionFactory(version="old"), ModelVersionFactory(version="new")
    canvas = PredictionFactory(source="canvas", model_version=new)
    upload_row = PredictionFactory(source="upload", model_version=old)
    earlier = PredictionFactory(source="upload", model_version=new)
    Prediction.objects.filter(pk=earlier.pk).update(created=timezone.now() - datetime.timedelta(days=3))
    since = timezone.now() - datetime.timedelta(days=1)

    assert set(predictions_review_queue(source="canvas")) == {canvas}
    assert set(predictions_review_queue(model_version="old")) == {upload_row}
    assert set(predictions_review_queue(created_after=since)) == {canvas, upload_row}
    assert set(predictions_review_queue(created_before=since)) == {earlier}
    assert set(predictions_review_queue(source="upload", model_version="new")) == {earlier}
    assert set(predictions_review_queue(exclude_ids=[canvas.pk, earlier.pk])) == {upload_row}


def test_the_next_item_is_read_through_the_queue_index():
    PredictionFactory.create_batch(5)
    queryset = predictions_review_queue(source="upload")[:10]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Five rows: on cost, any scan and a sort would do. Ruling out the alternatives asks only
            # whether the index can serve the filter and the order, which is what this test is about.
            for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
                cursor.execute(f"SET LOCAL {setting} = off")
    plan = queryset.explain()
    assert "prediction_review_queue" in plan
    assert "TEMP B-TREE" not in plan.upper() and "Sort" not in plan  # no sort: read in index order


def test_an_uploaded_prediction_gets_its_uncertainty_when_written(served_default_model):
    clear = prediction_create(data=digit_png(0)[0], filename="seven.png", source="upload")
    blank = prediction_create(data=blank_png(), filename="blank.png", source="upload")
    assert clear.uncertainty == pytest.approx(
        uncertainty_score(digit_probs=clear.probs, no_digit_prob=clear.no_digit_prob, rejected=False)
    )
    assert clear.uncertainty < 1.0
    assert blank.rejected and blank.uncertainty == 2.0
    assert list(predictions_review_queue()) == [blank, clear]


def test_batch_rows_get_their_uncertainty_from_the_same_row_builder(served_default_model):
    members = [("a.png", digit_png(0)[0]), ("blank.png", blank_png(28)), ("broken.png", b"not an image")]
    job = batch.batch_job_create(archive=upload(zip_bytes(members)), queue=False)
    job = batch.batch_job_run_sync(job_id=job.pk)
    rows = {p.original_name: p for p in Prediction.objects.filter(batch_job=job)}
    digit = rows["a.png"]
    assert digit.uncertainty == pytest.approx(
        uncertainty_score(digit_probs=digit.probs, no_digit_prob=digit.no_digit_prob, rejected=digit.rejected)
    )
    # A batch item keeps no original: without a model input there is nothing to review.
    assert rows["blank.png"].rejected and rows["blank.png"].uncertainty is None
    assert rows["broken.png"].error and rows["broken.png"].uncertainty is None
    assert list(predictions_review_queue()) == [digit]


def test_the_backfill_scores_existing_rows_like_new_ones():
    backfill = importlib.import_module("recognizer.migrations.0009_prediction_uncertainty_backfill")
    scored = [
        PredictionFactory(probs=probs, no_digit_prob=no_digit, rejected=rejected, uncertainty=None)
        for _, probs, no_digit, rejected in QUEUE_ORDER
    ]
    nothing_to_show = PredictionFactory(model_input=None, uncertainty=None)
    backfill.uncertainty_fill(apps, connection.schema_editor())
    for row in scored:
        row_after = Prediction.objects.get(pk=row.pk)
        expected = uncertainty_score(digit_probs=row.probs, no_digit_prob=row.no_digit_prob, rejected=row.rejected)
        assert row_after.uncertainty == pytest.approx(expected)
    assert Prediction.objects.get(pk=nothing_to_show.pk).uncertainty is None


@pytest.mark.parametrize("label", [-1, 11, True, None, "3"])
def test_the_review_service_refuses_a_label_that_is_not_0_to_10(label):
    from recognizer.services import InvalidReviewLabel, prediction_review

    row = PredictionFactory()
    with pytest.raises(InvalidReviewLabel):
        prediction_review(prediction=row, true_label=label, reviewer=None)
    row.refresh_from_db()
    assert row.true_label is None
