"""Model factories the tests share (factory_boy)."""

import factory

from recognizer.models import Prediction
from recognizer.uncertainty import uncertainty_score
from training.models import ModelVersion


class ModelVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelVersion

    version = factory.Sequence(lambda n: f"v{n}")
    architecture = "cnn"
    accuracy = 0.99
    directory = "/nonexistent"
    tflite_path = "/nonexistent/model.tflite"


class PredictionFactory(factory.django.DjangoModelFactory):
    """A stored prediction with a 28x28 input and no original; its uncertainty is computed the way
    the row builder computes it (recognizer.services.prediction_answer_fields)."""

    class Meta:
        model = Prediction

    source = Prediction.Source.UPLOAD
    prediction = 3
    rejected = factory.LazyAttribute(lambda o: o.prediction is None)
    confidence = 0.9
    probs = factory.LazyAttribute(lambda o: [0.9 if d == o.prediction else 0.0111 for d in range(10)])
    no_digit_prob = 0.0
    model_input = bytes(784)
    uncertainty = factory.LazyAttribute(
        lambda o: uncertainty_score(digit_probs=o.probs, no_digit_prob=o.no_digit_prob, rejected=o.rejected)
    )
