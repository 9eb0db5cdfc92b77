import pytest

from training.gate import activation_decide

# (candidate MNIST, active MNIST, candidate field, active field, field-test size) -> activate?
CASES = [
    ("no active version", (0.99, None, None, None, 0), True),
    ("better on MNIST, no field set", (0.9980, 0.9975, None, None, 0), True),
    ("0.05 points lower on MNIST, no field set", (0.9970, 0.9975, None, None, 0), True),
    ("0.06 points lower on MNIST", (0.9969, 0.9975, 0.99, 0.80, 100), False),
    ("same MNIST, better field", (0.9975, 0.9975, 0.95, 0.88, 96), True),
    ("same field", (0.9972, 0.9975, 0.90, 0.90, 96), True),
    ("better MNIST, lower field", (0.9990, 0.9975, 0.87, 0.88, 96), False),
    ("field set exists, candidate not scored", (0.9980, 0.9975, None, 0.88, 96), False),
    ("field set exists, active not scored", (0.9980, 0.9975, 0.90, None, 96), False),
]


@pytest.mark.parametrize("args, activate", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_gate_decisions(args, activate):
    candidate_mnist, active_mnist, candidate_field, active_field, size = args
    decision = activation_decide(
        candidate_mnist=candidate_mnist,
        active_mnist=active_mnist,
        candidate_field=candidate_field,
        active_field=active_field,
        field_test_size=size,
    )
    assert decision.activate is activate
    assert decision.reason  # recorded either way


def test_the_reason_names_both_scores():
    decision = activation_decide(
        candidate_mnist=0.9990, active_mnist=0.9975, candidate_field=0.87, active_field=0.88, field_test_size=96
    )
    assert "0.8700" in decision.reason and "0.8800" in decision.reason and "lower on the field" in decision.reason
