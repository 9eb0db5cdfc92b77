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
    return _softmax_of_log(probs, float(temperature))


def _softmax_of_log(probs: np.ndarray, divisor) -> np.ndarray:
    """softmax(log(p) / divisor): one T for all rows, or a column of one T per row."""
    logp = np.log(np.maximum(probs.astype(np.float64), _EPS)) / divisor
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

    def loss(log_t: float) -> float:
        return nll(temperature_apply(probs, float(np.exp(log_t))), labels, weights)

    return _log_t_minimise(loss)


def _log_t_minimise(loss) -> float:
    """The T in [T_MIN, T_MAX] minimising ``loss(log T)``: a golden-section search (one minimum)."""
    lo, hi = np.log(T_MIN), np.log(T_MAX)
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
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


# --- A second temperature for inputs that look like the field ------------------------------
#
# After a finetune on reviewed uploads one T cannot serve two populations: MNIST-like uploads
# want the version's T, the field's scans a softer one, and field-train cannot tell which
# (the model trained on those very images and is surer of them than of new ones). So: a
# domain gate, a logistic regression on the 28x28 input's pixels that tells field-train
# reviews from the general calibration set, gives each input a score s in [0, 1], and the
# input's temperature moves from the version's T (s = 0) to a field T (s = 1), linearly in
# 1/T. The field T is fitted, under the gate, on reviews the version never trained on.

DOMAIN_L2 = 1e-3  # ridge on the gate's weights (pixels in [0, 1], class-balanced mean loss)
FIELD_FIT_MINIMUM = 100  # fresh reviews needed before a field T is fitted (50 swung T 0.45-0.99)
# Beside each exported model: its general calibration images (uint8 (N, 28, 28) "x"), the gate's other side.
CALIBRATION_SET_FILE = "calibration-set.npz"


def domain_features(images: np.ndarray) -> np.ndarray:
    """The gate's input: each 28x28 image's pixels in [0, 1], flattened ((N, 784) float64).
    uint8 images are scaled by 1/255."""
    images = np.asarray(images)
    x = images.reshape(len(images), -1).astype(np.float64)
    return x / 255.0 if images.dtype == np.uint8 else x


def domain_gate_fit(*, field_images: np.ndarray, general_images: np.ndarray, l2: float = DOMAIN_L2) -> dict:
    """A logistic regression telling ``field_images`` (label 1) from ``general_images`` (0),
    each side weighted to count half: {"weights": [784 floats], "bias": float}."""
    from scipy.optimize import minimize

    x = np.vstack([domain_features(field_images), domain_features(general_images)])
    y = np.r_[np.ones(len(field_images)), np.zeros(len(general_images))]
    w = np.where(y == 1, 0.5 / max(1, len(field_images)), 0.5 / max(1, len(general_images)))

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ theta[:-1] + theta[-1]
        # log(1 + e^z) - y z, stably; its gradient is sigmoid(z) - y
        value = float(np.sum(w * (np.logaddexp(0.0, z) - y * z))) + 0.5 * l2 * float(theta[:-1] @ theta[:-1])
        g = w * (_sigmoid(z) - y)
        grad = np.r_[x.T @ g + l2 * theta[:-1], g.sum()]
        return value, grad

    theta = minimize(loss, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B", options={"maxiter": 500}).x
    return {"weights": [float(v) for v in theta[:-1]], "bias": float(theta[-1])}


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def domain_score(gate: dict, images: np.ndarray) -> np.ndarray:
    """How much each image looks like the field (0: the general set, 1: the field), (N,)."""
    if not len(images):
        return np.zeros(0)
    return _sigmoid(domain_features(images) @ np.asarray(gate["weights"], np.float64) + float(gate["bias"]))


def row_temperatures(scores: np.ndarray, *, t_general: float, t_field: float) -> np.ndarray:
    """Each input's T: from ``t_general`` (score 0) to ``t_field`` (score 1), linear in 1/T."""
    scores = np.asarray(scores, dtype=np.float64)
    return 1.0 / ((1.0 - scores) / float(t_general) + scores / float(t_field))


def temperature_apply_rows(probs: np.ndarray, temperatures: np.ndarray) -> np.ndarray:
    """temperature_apply with one T per row of ``probs`` (N, K)."""
    return _softmax_of_log(np.asarray(probs), np.asarray(temperatures, np.float64)[:, None])


def field_temperature_fit(probs: np.ndarray, labels: np.ndarray, *, scores: np.ndarray, t_general: float) -> float:
    """The field T minimising the NLL of ``labels`` when each row gets row_temperatures(its score)."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if not len(labels):
        return float(t_general)

    def loss(log_t: float) -> float:
        temps = row_temperatures(scores, t_general=t_general, t_field=float(np.exp(log_t)))
        return nll(temperature_apply_rows(probs, temps), labels)

    return _log_t_minimise(loss)


def field_calibration_active(field: dict | None) -> bool:
    """Whether a version's field calibration holds a fitted field T and gate (else: its T alone)."""
    return bool(field) and "t_field" in field and "gate" in field


def calibrated_probabilities(
    probs: np.ndarray, images: np.ndarray, *, temperature: float, field: dict | None = None
) -> np.ndarray:
    """What serving returns: the version's T on every row, or, with an active field
    calibration, each row's own T from its image's domain score."""
    if not field_calibration_active(field) or not len(probs):
        return temperature_apply(probs, temperature)
    return temperature_apply_rows(probs, input_temperatures(images, temperature=temperature, field=field))


def input_temperatures(images: np.ndarray, *, temperature: float, field: dict | None = None) -> np.ndarray:
    """Each image's T: the version's, or the domain-gated one with an active field calibration."""
    if not field_calibration_active(field):
        return np.full(len(images), float(temperature))
    return row_temperatures(domain_score(field["gate"], images), t_general=temperature, t_field=field["t_field"])


def field_calibration_fit(
    *,
    probs: np.ndarray,
    labels: np.ndarray,
    images: np.ndarray,
    field_images: np.ndarray,
    general_images: np.ndarray,
    t_general: float,
) -> dict:
    """Fit the gate (``field_images``: every field-train review, ``general_images``: the
    version's general calibration set) and the field T on (``probs``, ``labels``, ``images``):
    the model's uncalibrated probabilities on reviews it never trained on. Returns what the
    version stores: t_general, t_field, gate, fit_size, the ECE of the fit set before and
    after, and the gate's mean score on each side."""
    gate = domain_gate_fit(field_images=field_images, general_images=general_images)
    scores = domain_score(gate, images)
    t_field = field_temperature_fit(probs, labels, scores=scores, t_general=t_general)
    field = {"t_general": float(t_general), "t_field": float(t_field), "gate": gate}
    after = calibrated_probabilities(probs, images, temperature=t_general, field=field)
    return {
        **field,
        "fit_size": int(len(labels)),
        "ece_before": expected_calibration_error(temperature_apply(probs, t_general), labels),
        "ece": expected_calibration_error(after, labels),
        "score_field": float(domain_score(gate, field_images).mean()) if len(field_images) else None,
        "score_general": float(domain_score(gate, general_images).mean()) if len(general_images) else None,
        "domain_images": {"field": int(len(field_images)), "general": int(len(general_images))},
    }
