"""The API fuzzed from its own OpenAPI schema by Schemathesis, against a live gunicorn.

Every operation of /api/schema/ gets generated requests, valid and invalid (bad types, absurd
values, missing fields, multipart uploads of generated files), anonymously, as a user (a DRF token)
and as staff. No answer may be a 5xx, and every answer must be one the schema documents: its
status code, its content type and its body. Bounded for CI: a fixed seed (derandomize), a few
examples per operation, no Hypothesis database, no stateful phase.

Run it alone: `pytest tests/mnistsite/test_fuzz_api.py -q` (about 90 s for the three).
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# Schemathesis's own configuration (what schemathesis.toml would say): examples from the schema,
# the coverage phase (boundary and negative values of every parameter) and the fuzzing phase;
# the stateful phase would chain creations into thousands of rows, so it is off.
CONFIG = {
    "seed": 14,
    "generation": {"mode": "all", "deterministic": True, "database": "none"},
    "phases": {"stateful": {"enabled": False}},
}

MAX_EXAMPLES = 25


def token_for(*, username: str, is_staff: bool) -> str:
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    user = get_user_model().objects.create_user(username=username, password="fuzz-password", is_staff=is_staff)
    return Token.objects.create(user=user).key


def fuzz_data_create() -> None:
    """A few rows of each kind, so that lists and details have something to answer with."""
    from django.contrib.auth import get_user_model

    from recognizer.models import BatchJob, Prediction
    from training.models import TrainingJob

    owner = get_user_model().objects.get(username="fuzz-user")
    for digit in range(3):
        Prediction.objects.create(
            prediction=digit,
            confidence=0.9,
            probs=[0.01] * 10,
            source=Prediction.Source.API,
            owner=owner,
        )
    BatchJob.objects.create(owner=owner, source="fuzz.zip", total=0)
    TrainingJob.objects.create(preset="quick")


@pytest.fixture(params=["anonymous", "user", "staff"])
def fuzz_headers(request, transactional_db) -> dict[str, str]:
    """The headers of each way of calling the API: none, a user's token, a staff member's token."""
    tokens = {
        "user": token_for(username="fuzz-user", is_staff=False),
        "staff": token_for(username="fuzz-staff", is_staff=True),
    }
    fuzz_data_create()
    if request.param == "anonymous":
        return {}
    return {"Authorization": f"Token {tokens[request.param]}"}


@pytest.fixture
def api_schema(gunicorn_server, fuzz_headers):
    config = SchemathesisConfig.from_dict({**CONFIG, "headers": fuzz_headers})
    return schemathesis.openapi.from_url(f"{gunicorn_server}/api/schema/", config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_without_server_error_and_as_documented(case, fuzz_headers):
    case.call_and_validate(headers=fuzz_headers, checks=CHECKS, timeout=30)
