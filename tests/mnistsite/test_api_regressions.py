"""What the Schemathesis fuzz run (test_fuzz_api.py) found, each pinned by a quick test:
absurd query values answer 400 JSON, unknown /api/ addresses a JSON 404, and the schema
documents every answer the API gives."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

LISTS = ["/api/predictions", "/api/batches", "/api/training-jobs", "/api/model-versions"]


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("fuzz-staff", password="pw", is_staff=True))
    return client


def assert_json_error(response, status_code: int) -> dict:
    assert response.status_code == status_code, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "detail"} and body["error"]
    return body


@pytest.mark.parametrize(
    "query",
    [
        "created_after=9999-12-31T23:59:59-23:00",  # past year 9999 in UTC: PostgreSQL DataError, was a 500
        "created_before=0001-01-01T00:00:00%2B05:00",  # before year 1 in UTC
        "created_after=yesterday",
        "date=2024-02-30",
        "digit=1e400",
        "digit=-1.9245516926881284e%2B16",  # was 200 with an empty list
        "digit=10",
        "digit=1.5",
        "rejected=maybe",
        "source=fax",
    ],
)
def test_absurd_prediction_filters_answer_400_json(staff_client, query):
    assert_json_error(staff_client.get(f"/api/predictions?{query}"), 400)


@pytest.mark.parametrize("offset", ["%2B16:14", "-23:00", "%2B15:59"])
def test_a_utc_offset_postgresql_refuses_is_read_as_its_utc_moment(staff_client, offset):
    # PostgreSQL refuses offsets past 15:59 ("time zone displacement out of range"): was a 500.
    response = staff_client.get(f"/api/predictions?created_before=2020-06-01T12:00:00{offset}")
    assert response.status_code == 200, response.content[:300]
    assert response.json()["results"] == []


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize("page", ["null", "0", "-1", "1.5", "²", "9" * 5000])
def test_a_page_that_is_not_a_whole_number_of_1_or_more_is_a_400(staff_client, url, page):
    body = assert_json_error(staff_client.get(url, {"page": page}), 400)
    assert body["detail"] == {"parameter": "page"}


@pytest.mark.parametrize("url", LISTS)
def test_a_page_past_the_last_one_stays_a_json_404(staff_client, url):
    assert_json_error(staff_client.get(url, {"page": "11742"}), 404)


@pytest.mark.parametrize("url", LISTS)
def test_the_first_and_the_last_page_are_served(staff_client, url):
    for page in ("1", "last", ""):
        assert staff_client.get(url, {"page": page}).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/api/batches/null,null",
        "/api/batches/abc/results.csv",
        "/api/predictions/1.5",
        "/api/training-jobs/-1",
        "/api/nothing-here",
    ],
)
def test_an_api_address_that_names_nothing_is_a_json_404(staff_client, url):
    body = assert_json_error(staff_client.get(url), 404)
    assert body["detail"] == {"path": url}


def test_a_post_to_an_api_address_that_names_nothing_is_a_json_404_not_the_csrf_page(django_user_model):
    # A session cookie without a CSRF token: was Django's HTML "CSRF verification failed" 403.
    client = Client(enforce_csrf_checks=True)
    client.force_login(django_user_model.objects.create_user("someone", password="pw"))
    assert_json_error(client.post("/api/batches/null,null/cancel"), 404)


def test_the_schema_address_without_its_slash_still_redirects(client):
    response = client.get("/api/schema")
    assert response.status_code == 301 and response["Location"] == "/api/schema/"


@pytest.fixture
def schema(client) -> dict:
    return client.get("/api/schema/", HTTP_ACCEPT="application/json").json()


def operations(schema: dict):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def test_every_operation_that_authenticates_documents_403(schema):
    # A bad token or session is a 403 even where anonymous calls are allowed (/api/predict).
    for name, operation in operations(schema):
        if any(requirement for requirement in operation.get("security", [])):
            assert "403" in operation["responses"], name


def test_every_list_documents_400_for_bad_queries_and_404_for_pages_past_the_end(schema):
    for name, operation in operations(schema):
        if any(parameter["name"] == "page" for parameter in operation.get("parameters", [])):
            assert {"400", "403", "404"} <= set(operation["responses"]), name


def test_every_operation_on_one_object_documents_404(schema):
    for name, operation in operations(schema):
        if "{id}" in name:
            assert "404" in operation["responses"], name


def test_query_parameters_declare_their_types_and_bounds(schema):
    parameters = {p["name"]: p["schema"] for p in schema["paths"]["/api/predictions"]["get"]["parameters"]}
    assert parameters["digit"] == {"type": "integer", "minimum": 0, "maximum": 9}
    assert parameters["page"]["minimum"] == 1
    assert parameters["created_after"]["format"] == "date-time"


def test_uploads_are_described_as_binary_files(schema):
    components = schema["components"]["schemas"]
    assert components["PredictInput"]["properties"]["file"]["format"] == "binary"
    assert components["BatchCreateInput"]["properties"]["file"]["format"] == "binary"
    assert components["BatchCreateInput"]["properties"]["files"]["items"]["format"] == "binary"
