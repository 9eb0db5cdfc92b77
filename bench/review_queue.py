"""The review queue on a large table: how long the next items and the counter take.

    DATABASE_URL=postgres://.../some_scratch_db .venv/bin/python bench/review_queue.py [--rows 1000000] [--runs 20]
    .venv/bin/python bench/review_queue.py --config embedded [--rows 1000000]

Migrates the database, fills recognizer_prediction with `rows` synthetic predictions in one SQL
statement (a fifth of them reviewed, random uncertainties; no images), then times, median of
`runs`: the queue's next 10 items (recognizer.selectors.predictions_review_queue, unfiltered and
filtered by source), the counter (what is left, counted up to the API's cap of 10,000, and all
of it), and, for comparison, the same next
10 ordered by an expression no index serves (a sort of every unlabelled row). Prints the query
plan of the next items. The table keeps the rows: point it at a scratch database.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mnistsite.settings")

from bench.configs import CONFIGS, config_env, config_from_argv  # noqa: E402

os.environ.update(config_env(config_from_argv()))

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import F  # noqa: E402

from recognizer.api_review import REMAINING_MAX  # noqa: E402
from recognizer.models import Prediction  # noqa: E402
from recognizer.selectors import predictions_review_queue  # noqa: E402

FILL = {
    "postgresql": """
        INSERT INTO recognizer_prediction (created, source, original, original_name, prediction, confidence, probs,
            no_digit_prob, rejected, reason, preprocess_ms, inference_ms, true_label, label_source, error, uncertainty)
        SELECT now() - i * interval '1 second', (ARRAY['api','upload','canvas','batch'])[1 + i %% 4], '', '',
            i %% 10, random(), '[]', random(), i %% 7 = 0, '', 0, 0,
            CASE WHEN i %% 5 = 0 THEN i %% 10 END, CASE WHEN i %% 5 = 0 THEN 'review' ELSE '' END, '', random() * 2
        FROM generate_series(1, %s) AS i
    """,
    "sqlite": """
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %s)
        INSERT INTO recognizer_prediction (created, source, original, original_name, prediction, confidence, probs,
            no_digit_prob, rejected, reason, preprocess_ms, inference_ms, true_label, label_source, error, uncertainty)
        SELECT datetime('now', '-' || i || ' seconds'), CASE i %% 4 WHEN 0 THEN 'api' WHEN 1 THEN 'upload'
            WHEN 2 THEN 'canvas' ELSE 'batch' END, '', '', i %% 10, abs(random() %% 1000000) / 1e6, '[]',
            abs(random() %% 1000000) / 1e6, i %% 7 = 0, '', 0, 0, CASE WHEN i %% 5 = 0 THEN i %% 10 END,
            CASE WHEN i %% 5 = 0 THEN 'review' ELSE '' END, '', abs(random() %% 2000000) / 1e6
        FROM n
    """,
}


def median_ms(work, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows the table holds before measuring")
    parser.add_argument("--runs", type=int, default=20, help="repetitions per query (the median is printed)")
    parser.add_argument("--config", choices=CONFIGS, default="env", help="the configuration (bench/configs.py)")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    have = Prediction.objects.count()
    if have < args.rows:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(FILL[connection.vendor], [int(args.rows - have)])
            if connection.vendor == "postgresql":
                cursor.execute("ANALYZE recognizer_prediction")
            else:
                cursor.execute("ANALYZE")
        print(f"filled {args.rows - have} rows in {time.perf_counter() - started:.1f} s")
    total = Prediction.objects.count()
    queue = predictions_review_queue()
    print(f"{connection.vendor}: {total} predictions, {queue.count()} unlabelled")
    print("plan of the next 10:", queue[:10].explain().replace("\n", " | "))
    figures = {
        "next 10": median_ms(lambda: list(queue.values_list("id", flat=True)[:10]), args.runs),
        "next 10, source=canvas": median_ms(
            lambda: list(predictions_review_queue(source="canvas").values_list("id", flat=True)[:10]), args.runs
        ),
        "count left, capped (what /api/review/queue does)": median_ms(
            lambda: queue[: REMAINING_MAX + 1].count(), args.runs
        ),
        "count left, all of them": median_ms(queue.count, max(3, args.runs // 5)),
        "next 10 with a sort (no index)": median_ms(
            lambda: list(queue.order_by(-F("uncertainty") * 1, "id").values_list("id", flat=True)[:10]),
            max(3, args.runs // 5),
        ),
    }
    for name, ms in figures.items():
        print(f"{name}: {ms:.2f} ms (median)")
    print(f"sorting instead of the index: {figures['next 10 with a sort (no index)'] / figures['next 10']:.0f}x slower")


if __name__ == "__main__":
    main()
