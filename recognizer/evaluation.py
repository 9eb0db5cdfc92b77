"""Measure the whole recognition path on a labelled directory of images.

Plain Python, no Django: a management command (or a throwaway script) passes
a ``classify`` function (a (N, 28, 28) float batch -> (N, K) probabilities)
and optionally a ``decide`` rule (one probability row -> digit or ``None`` for
"not a digit"), and gets per-scenario numbers back.

The labels file is a CSV with the columns ``file,label,scenario``; ``label``
is a digit, a number (two or more digits, e.g. ``2026``: scored as an exact
string), or ``none`` for an image that must be rejected (blank, noise, a
picture of something else, a word).

An image counts as *rejected* when preprocessing rejects it (no ink), the
file cannot be decoded, or ``decide`` returns ``None``. Numbers are read by
``read_number`` (bytes -> the digit string, or ``None`` when rejected); in a
folder that holds numbers, the ``none`` images go through it too (a number
reader must reject words). Without a number reader, numbers are listed but not
scored.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vision.calibration import expected_calibration_error
from vision.decode import ImageDecodeError
from vision.preprocess import Preprocessed, preprocess_bytes

__all__ = [
    "TARGETS",
    "argmax_decide",
    "evaluate_directory",
    "format_table",
    "missed_targets",
]

NON_DIGIT_LABELS = frozenset({"none", ""})
NOT_A_DIGIT = 10
#: Reads a number: image bytes -> (digit string or None when rejected, reason or None).
NumberReader = Callable[[bytes], tuple[str | None, str | None]]

#: Quality targets of the project (fractions).
TARGETS = {
    "overall_digit_accuracy": 0.98,
    "scenario_digit_accuracy": 0.95,
    "non_digit_rejection": 0.90,
    "digit_wrongly_rejected": 0.02,
    "overall_number_accuracy": 0.95,
    "scenario_number_accuracy": 0.90,
}


def argmax_decide(probs: np.ndarray) -> int | None:
    """Default rule: the most likely class; class 10 (if any) means "not a digit"."""
    k = int(np.argmax(probs))
    return None if k >= 10 else k


@dataclass
class _Item:
    file: str
    label: int | None
    scenario: str
    reason: str | None = None
    predicted: int | None = None
    #: A number's label and reading (digit strings); None for digits and non-digits.
    text: str | None = None
    predicted_text: str | None = None
    scored: bool = True

    @property
    def is_number(self) -> bool:
        return self.text is not None


def _read_labels(labels_csv: Path) -> list[_Item]:
    items = []
    with open(labels_csv, newline="") as fh:
        for row in csv.DictReader(fh):
            raw = (row.get("label") or "").strip().lower()
            item = _Item(file=row["file"], label=None, scenario=(row.get("scenario") or "").strip())
            if raw in NON_DIGIT_LABELS:
                pass
            elif len(raw) == 1:
                item.label = int(raw)
            elif raw.isdigit():
                item.text = raw
            else:
                raise ValueError(f"{labels_csv}: label {raw!r} of {item.file} is not a digit, a number or none")
            items.append(item)
    return items


def evaluate_directory(
    directory: Path,
    labels_csv: Path,
    classify: Callable[[np.ndarray], np.ndarray],
    *,
    decide: Callable[[np.ndarray], int | None] = argmax_decide,
    preprocess: Callable[[bytes], Preprocessed] = preprocess_bytes,
    read_number: NumberReader | None = None,
    batch_size: int = 256,
) -> dict:
    """Preprocess, classify and score every image listed in ``labels_csv``.

    Returns a dict with ``scenarios`` (one row per scenario, in first-seen
    order), ``overall`` (the same fields over all images) and ``items`` (one
    record per image: file, label, scenario, predicted, reason, and for numbers
    text and predicted_text). Each row has ``n``, ``n_digits``,
    ``n_non_digits``, ``digit_correct``, ``digit_accuracy`` (rejected digits
    count as wrong), ``digit_rejected``, ``digit_rejected_rate``,
    ``non_digit_rejected``, ``non_digit_rejection``, ``n_numbers``,
    ``number_correct`` and ``number_accuracy`` (every digit right, none missing
    or extra; ``None`` without a number reader); rates are ``None`` where there
    is nothing to count.
    """
    directory = Path(directory)
    items = _read_labels(Path(labels_csv))
    has_numbers = any(item.is_number for item in items)

    pending: list[tuple[_Item, np.ndarray]] = []
    seen_probs: list[np.ndarray] = []
    seen_labels: list[int] = []

    def flush() -> None:
        if not pending:
            return
        batch = np.stack([p for _, p in pending]).astype(np.float32)
        probs = np.asarray(classify(batch))
        seen_probs.append(probs)
        seen_labels.extend(NOT_A_DIGIT if item.label is None else item.label for item, _ in pending)
        for (item, _), row in zip(pending, probs, strict=True):
            item.predicted = decide(row)
            if item.predicted is None:
                item.reason = "not a digit"
        pending.clear()

    for item in items:
        if item.is_number or (has_numbers and item.label is None):
            if read_number is None:
                item.scored = not item.is_number  # a word is still rejected (or not) by the digit path
                if item.is_number:
                    item.reason = "not scored: no number reader"
                    continue
            else:
                item.predicted_text, item.reason = _read_one(read_number, directory / item.file)
                continue
        try:
            result = preprocess((directory / item.file).read_bytes())
        except ImageDecodeError as exc:
            item.reason = f"decode error: {exc}"
            continue
        if result.pixels is None:
            item.reason = result.reason
            continue
        pending.append((item, result.pixels))
        if len(pending) >= batch_size:
            flush()
    flush()

    scenarios: dict[str, list[_Item]] = {}
    for item in items:
        scenarios.setdefault(item.scenario, []).append(item)
    calibration = None
    if seen_probs and np.concatenate(seen_probs).shape[1] > NOT_A_DIGIT:
        # Over the images the model saw (11 classes; a non-digit's true class is 10).
        all_probs, all_labels = np.concatenate(seen_probs), np.asarray(seen_labels)
        calibration = {
            "images": len(all_labels),
            "ece": expected_calibration_error(all_probs, all_labels),
            "mean_confidence": float(all_probs.max(axis=1).mean()),
            "top_accuracy": float(np.mean(all_probs.argmax(axis=1) == all_labels)),
        }
    return {
        "scenarios": [_row(name, group) for name, group in scenarios.items()],
        "overall": _row("overall", items),
        "calibration": calibration,
        "items": [
            {
                "file": i.file,
                "label": i.label,
                "scenario": i.scenario,
                "predicted": i.predicted,
                "reason": i.reason,
                **({"text": i.text, "predicted_text": i.predicted_text} if i.is_number else {}),
            }
            for i in items
        ],
    }


def _read_one(read_number: NumberReader, path: Path) -> tuple[str | None, str | None]:
    try:
        return read_number(path.read_bytes())
    except ImageDecodeError as exc:
        return None, f"decode error: {exc}"


def _row(name: str, items: Iterable[_Item]) -> dict:
    items = list(items)
    digits = [i for i in items if i.label is not None]
    others = [i for i in items if i.label is None and not i.is_number]
    numbers = [i for i in items if i.is_number]
    scored = [i for i in numbers if i.scored]
    numbers_right = sum(1 for i in scored if i.predicted_text == i.text)
    correct = sum(1 for i in digits if i.predicted == i.label)
    d_rej = sum(1 for i in digits if i.predicted is None)
    o_rej = sum(1 for i in others if i.predicted is None and i.predicted_text is None)
    return {
        "scenario": name,
        "n": len(items),
        "n_digits": len(digits),
        "n_non_digits": len(others),
        "digit_correct": correct,
        "digit_accuracy": correct / len(digits) if digits else None,
        "digit_rejected": d_rej,
        "digit_rejected_rate": d_rej / len(digits) if digits else None,
        "non_digit_rejected": o_rej,
        "non_digit_rejection": o_rej / len(others) if others else None,
        "n_numbers": len(numbers),
        "number_correct": numbers_right,
        "number_accuracy": numbers_right / len(scored) if scored else None,
    }


def missed_targets(result: dict, targets: dict | None = None) -> list[str]:
    """Sentences naming each quality target the result misses (empty: all met)."""
    t = {**TARGETS, **(targets or {})}
    out = []
    overall = result["overall"]
    if overall["digit_accuracy"] is not None and overall["digit_accuracy"] < t["overall_digit_accuracy"]:
        out.append(f"overall digit accuracy {overall['digit_accuracy']:.1%} < {t['overall_digit_accuracy']:.0%}")
    for row in result["scenarios"]:
        acc = row["digit_accuracy"]
        if acc is not None and acc < t["scenario_digit_accuracy"]:
            out.append(f"{row['scenario']}: digit accuracy {acc:.1%} < {t['scenario_digit_accuracy']:.0%}")
    number = overall["number_accuracy"]
    if number is not None and number < t["overall_number_accuracy"]:
        out.append(f"numbers read exactly {number:.1%} < {t['overall_number_accuracy']:.0%}")
    for row in result["scenarios"]:
        acc = row["number_accuracy"]
        if acc is not None and acc < t["scenario_number_accuracy"]:
            out.append(f"{row['scenario']}: numbers read exactly {acc:.1%} < {t['scenario_number_accuracy']:.0%}")
    rej = overall["non_digit_rejection"]
    if rej is not None and rej < t["non_digit_rejection"]:
        out.append(f"non-digit rejection {rej:.1%} < {t['non_digit_rejection']:.0%}")
    wrong = overall["digit_rejected_rate"]
    if wrong is not None and wrong > t["digit_wrongly_rejected"]:
        out.append(f"digits wrongly rejected {wrong:.1%} > {t['digit_wrongly_rejected']:.0%}")
    return out


def format_table(result: dict, *, markdown: bool = True) -> str:
    """The per-scenario rows and the overall row as a Markdown or plain-text table; the
    numbers column appears when the labels hold numbers ("not scored" without a reader)."""
    rows = [*result["scenarios"], result["overall"]]
    numbers = result["overall"]["n_numbers"] > 0
    header = ["scenario", "n", "digit acc", "digits rejected"]
    header += ["numbers exact"] if numbers else []
    header += ["non-digits rejected"]

    def pct(value: float | None, num: int, den: int) -> str:
        return "-" if value is None else f"{value:.1%} ({num}/{den})"

    lines = []
    for row in rows:
        cells = [
            row["scenario"],
            str(row["n"]),
            pct(row["digit_accuracy"], row["digit_correct"], row["n_digits"]),
            pct(row["digit_rejected_rate"], row["digit_rejected"], row["n_digits"]),
        ]
        if numbers:
            scored = row["number_accuracy"] is not None or not row["n_numbers"]
            cells.append(
                pct(row["number_accuracy"], row["number_correct"], row["n_numbers"]) if scored else "not scored"
            )
        cells.append(pct(row["non_digit_rejection"], row["non_digit_rejected"], row["n_non_digits"]))
        lines.append(cells)
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        out += ["| " + " | ".join(cells) + " |" for cells in lines]
        return "\n".join(out)
    widths = [max(len(c) for c in col) for col in zip(header, *lines, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*cells).rstrip() for cells in [header, *lines])
