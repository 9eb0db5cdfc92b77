from django.db import migrations

from recognizer.uncertainty import uncertainty_score

CHUNK = 2000


def uncertainty_fill(apps, schema_editor):
    """Existing rows get the score new rows get when written (recognizer.services.prediction_answer_fields):
    in chunks by id, so that a table of millions never sits in memory. Rows with nothing to show a
    reviewer (no model input, no original) and numbers keep none."""
    Prediction = apps.get_model("recognizer", "Prediction")
    rows = Prediction.objects.filter(uncertainty__isnull=True, kind="digit").exclude(
        model_input__isnull=True, original=""
    )
    last = 0
    while True:
        chunk = list(rows.filter(pk__gt=last).order_by("pk").only("pk", "probs", "no_digit_prob", "rejected")[:CHUNK])
        if not chunk:
            return
        for row in chunk:
            row.uncertainty = uncertainty_score(
                digit_probs=row.probs or [], no_digit_prob=row.no_digit_prob, rejected=row.rejected
            )
        Prediction.objects.bulk_update(chunk, ["uncertainty"], batch_size=500)
        last = chunk[-1].pk


class Migration(migrations.Migration):
    dependencies = [
        ("recognizer", "0008_prediction_uncertainty"),
    ]

    operations = [migrations.RunPython(uncertainty_fill, migrations.RunPython.noop)]
