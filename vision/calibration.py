"""Confidence that means what it says: temperature scaling and its measures.

The exported model ends in a softmax, so there are no logits to divide; but
``softmax(log(p) / T)`` equals ``softmax(z / T)`` for the logits ``z`` behind ``p``
(the log of a softmax is the logits minus a constant per row). One number ``T``
per model, fitted on held-out data by minimising the negative log-likelihood,
keeps the ranking (the argmax never changes) and moves the confidence towards
how often the model is right. Plain numpy: serving applies it, training fits it.
"""

from __future__ import annotations

import numpy as np

ECE_BINS = 15
# T outside this range means a broken fit or a broken model, not calibration.
T_MIN, T_MAX = 0.05, 5.0
_EPS = 1e-12


def temperature_apply(probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log(p) / T) for each row of ``probs`` ((N, K) or (K,)); T == 1 returns p as it is."""
    probs = np.asarray(probs)
    if temperature == 1.0:
        return probs
    logp = np.log(np.maximum(probs.astype(np.float64), _EPS)) / float(temperature)
    logp -= logp.max(axis=-1, keepdims=True)
    out = np.exp(logp)
    out /= out.sum(axis=-1, keepdims=True)
    return out.astype(probs.dtype if probs.dtype.kind == "f" else np.float64)


def nll(probs: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Mean negative log-likelihood of the true classes (weighted by ``weights`` when given)."""
    labels = np.asarray(labels, dtype=np.int64)
    picked = np.asarray(probs, dtype=np.float64)[np.arange(len(labels)), labels]
    return float(-np.average(np.log(np.maximum(picked, _EPS)), weights=weights))


def temperature_fit(probs: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The T that minimises the NLL of ``labels`` under ``temperature_apply(probs, T)``,
    each row weighted by ``weights`` when given (so a small population can count as much as a
    large one).

    A golden-section search on log T: the NLL is convex in 1/T, so one minimum.
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        return 1.0
    lo, hi = np.log(T_MIN), np.log(T_MAX)
    ratio = (np.sqrt(5.0) - 1.0) / 2.0

    def loss(log_t: float) -> float:
        return nll(temperature_apply(probs, float(np.exp(log_t))), labels, weights)

    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = loss(a), loss(b)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = loss(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = loss(b)
    return float(np.exp((lo + hi) / 2.0))


def reliability_bins(probs: np.ndarray, labels: np.ndarray, *, bins: int = ECE_BINS) -> list[dict]:
    """Top-class confidence against how often the top class is right, in ``bins`` equal-width
    bins of confidence: [{"low", "high", "count", "confidence", "accuracy"}] (empty bins kept, count 0)."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    confidence = probs.max(axis=1) if len(probs) else np.zeros(0)
    right = (probs.argmax(axis=1) == labels) if len(probs) else np.zeros(0, bool)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # A confidence of exactly 1.0 belongs to the last bin.
    index = np.minimum(np.searchsorted(edges, confidence, side="right") - 1, bins - 1)
    out = []
    for b in range(bins):
        mask = index == b
        n = int(mask.sum())
        out.append(
            {
                "low": round(float(edges[b]), 4),
                "high": round(float(edges[b + 1]), 4),
                "count": n,
                "confidence": float(confidence[mask].mean()) if n else None,
                "accuracy": float(right[mask].mean()) if n else None,
            }
        )
    return out


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, *, bins: int = ECE_BINS) -> float:
    """ECE: the count-weighted mean gap between confidence and accuracy over the bins."""
    table = reliability_bins(probs, labels, bins=bins)
    total = sum(row["count"] for row in table)
    if not total:
        return 0.0
    return float(sum(row["count"] * abs(row["confidence"] - row["accuracy"]) for row in table if row["count"]) / total)


def calibration_report(probs: np.ndarray, labels: np.ndarray, *, temperature: float, bins: int = ECE_BINS) -> dict:
    """ECE before and after T, and the calibrated reliability table: what metrics.json keeps."""
    calibrated = temperature_apply(np.asarray(probs, dtype=np.float64), temperature)
    return {
        "temperature": float(temperature),
        "images": int(len(labels)),
        "ece_before": expected_calibration_error(probs, labels, bins=bins),
        "ece": expected_calibration_error(calibrated, labels, bins=bins),
        "nll_before": nll(probs, labels),
        "nll": nll(calibrated, labels),
        "reliability": reliability_bins(calibrated, labels, bins=bins),
    }


def ece_of_calibrated(
    confidences: np.ndarray, *, draws: int = 2000, seed: int = 0, bins: int = ECE_BINS
) -> dict[str, float]:
    """The ECE that a perfectly calibrated model shows on this many images, by chance alone.

    Each image's top answer is drawn right with probability its confidence (what "calibrated"
    means), ``draws`` times; returns the mean and the 90th percentile of the ECE over the
    draws. On a hundred images it is far from 0: an ECE target below it cannot be judged there.
    """
    confidence = np.clip(np.asarray(confidences, dtype=np.float64), 0.0, 1.0)
    n = len(confidence)
    if not n:
        return {"mean": 0.0, "p90": 0.0}
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.minimum(np.searchsorted(edges, confidence, side="right") - 1, bins - 1)
    member = np.zeros((n, bins))
    member[np.arange(n), index] = 1.0
    right = np.random.default_rng(seed).random((draws, n)) < confidence  # (draws, n)
    gaps = np.abs((confidence[None, :] - right) @ member).sum(axis=1) / n  # per draw: sum over bins of |sum(c - r)|
    return {"mean": float(gaps.mean()), "p90": float(np.quantile(gaps, 0.9))}
