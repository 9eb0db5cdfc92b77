"""The activation gate: whether a new version replaces the active one without a person.

A plain function of the scores, so that its table of decisions is tested directly.
"""

from __future__ import annotations

from dataclasses import dataclass

# A new version may be this much below the active one on MNIST (0.05 points): the test
# set's own noise, which a better field score is worth.
MNIST_TOLERANCE = 0.0005


@dataclass(frozen=True)
class GateDecision:
    activate: bool
    reason: str


def activation_decide(
    *,
    candidate_mnist: float,
    active_mnist: float | None,
    candidate_field: float | None = None,
    active_field: float | None = None,
    field_test_size: int = 0,
) -> GateDecision:
    """Activate when there is no active version, or when the candidate's MNIST test accuracy
    is at most MNIST_TOLERANCE below the active one's AND, when there is a field-test set,
    its field-test accuracy (both scored on the same set) is not lower."""
    if active_mnist is None:
        return GateDecision(True, "no version was active")
    mnist = f"MNIST {candidate_mnist:.4f} vs {active_mnist:.4f}"
    if candidate_mnist < active_mnist - MNIST_TOLERANCE - 1e-9:  # 0.9970 vs 0.9975 is within, in floats too
        return GateDecision(False, f"{mnist}: more than {MNIST_TOLERANCE * 100:.2f} points below the active version")
    if field_test_size <= 0:
        return GateDecision(True, f"{mnist} (within {MNIST_TOLERANCE * 100:.2f} points); no field-test set yet")
    if candidate_field is None or active_field is None:
        return GateDecision(False, f"{mnist}; not both versions are scored on the field-test set ({field_test_size})")
    field = f"field-test {candidate_field:.4f} vs {active_field:.4f} ({field_test_size} reviewed)"
    if candidate_field < active_field:
        return GateDecision(False, f"{mnist}; {field}: lower on the field")
    return GateDecision(True, f"{mnist}; {field}")
