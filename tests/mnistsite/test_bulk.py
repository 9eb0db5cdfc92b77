import pytest

from mnistsite.bulk import bulk_insert
from recognizer.models import BatchJob, Prediction


def test_bulk_insert_stores_every_field_as_save_would(db):
    job = BatchJob.objects.create(total=3)
    rows = [
        {
            "source": Prediction.Source.BATCH,
            "batch_job_id": job.pk,
            "batch_index": i,
            "original_name": f"{i}.png",
            "model_input": bytes(range(256)) * 3 + bytes(16),
            "prediction": i,
            "confidence": 0.5 + i / 10,
            "probs": [0.1] * 10,
            "true_label": i,
            "error": "" if i else "not an image: broken",
        }
        for i in range(3)
    ]
    bulk_insert(Prediction, rows)
    stored = list(Prediction.objects.filter(batch_job=job).order_by("batch_index"))
    assert [p.batch_index for p in stored] == [0, 1, 2]
    assert all(p.created is not None for p in stored)  # auto_now_add filled
    assert stored[0].source == Prediction.Source.BATCH
    assert bytes(stored[1].model_input) == bytes(range(256)) * 3 + bytes(16)
    assert stored[2].probs == [0.1] * 10 and stored[2].confidence == 0.7
    assert stored[0].error == "not an image: broken" and stored[1].error == ""
    # Fields the rows leave out get their defaults.
    assert stored[0].rejected is False and stored[0].owner is None and stored[0].reason == ""
    assert stored[0].original.name == "" and stored[0].no_digit_prob == 0.0


def test_bulk_insert_refuses_a_field_the_model_lacks(db):
    with pytest.raises(ValueError, match="no fields \\['colour'\\]"):
        bulk_insert(Prediction, [{"source": "batch", "colour": "red"}])
    assert not Prediction.objects.exists()


def test_bulk_insert_of_nothing_does_nothing(db, django_assert_num_queries):
    with django_assert_num_queries(0):
        bulk_insert(Prediction, [])


def test_bulk_insert_keeps_a_given_time_exactly(db):
    from datetime import UTC, datetime

    when = datetime(2026, 11, 30, 12, 34, 56, 789012, tzinfo=UTC)
    bulk_insert(Prediction, [{"source": "batch", "created": when, "rejected": True, "reason": "blank"}])
    stored = Prediction.objects.get()
    assert stored.created == when
    assert stored.rejected is True and stored.reason == "blank"
    assert Prediction.objects.filter(created__gte=when, created__lte=when).count() == 1
