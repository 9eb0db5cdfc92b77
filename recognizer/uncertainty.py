"""How much a person's review of a prediction would teach us: the review queue's order.

Plain Python (no Django): the row builder (recognizer.services.prediction_answer_fields) computes
it once when a row is written, for the API's rows and the batch's alike, and the queue sorts on
the stored number through an index (recognizer.selectors.predictions_review_queue).
"""

from collections.abc import Sequence


def uncertainty_score(*, digit_probs: Sequence[float], no_digit_prob: float, rejected: bool) -> float:
    """A number in [0, 2]; higher is reviewed first.

    The doubt in [0, 1] is the largest of: 1 - the margin between the two most likely digits
    (a 4 that could be a 9), the "not a digit" probability (a scribble, a letter), and 1 - the
    confidence (no digit stands out; 1 - margin already covers it, kept so the rule reads whole).
    A rejected prediction adds 1, so every rejection comes before every accepted answer: a
    rejection is either a digit the model failed to read or a correct refusal that the field
    set needs as "not a digit". An image the model never saw (no ink found) has no
    probabilities: doubt 1."""
    ranked = sorted((float(p) for p in digit_probs), reverse=True)
    top = ranked[0] if ranked else 0.0
    second = ranked[1] if len(ranked) > 1 else 0.0
    doubt = max(1.0 - (top - second), float(no_digit_prob), 1.0 - top)
    doubt = min(max(doubt, 0.0), 1.0)
    return round(doubt + (1.0 if rejected else 0.0), 6)
