"""The HTML pages: navigation, the no-JavaScript upload form, and the history page."""

import io

import factory
import pytest
from django.contrib.staticfiles import finders
from PIL import Image, ImageDraw

from recognizer.access import SESSION_KEY
from recognizer.models import Prediction
from tests import factories

NAV_LINKS = ['href="/"', 'href="/history"', 'href="/models"', 'href="/api/docs/"']


class PredictionFactory(factories.PredictionFactory):
    prediction = factory.Sequence(lambda n: n % 10)
    original_name = factory.Sequence(lambda n: f"digit-{n}.png")


def digit_png() -> bytes:
    """A hand-drawn-looking 7: black strokes on white paper."""
    image = Image.new("L", (200, 200), 255)
    draw = ImageDraw.Draw(image)
    draw.line([(50, 40), (150, 40), (90, 170)], fill=0, width=16, joint="curve")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def upload(name: str, data: bytes, content_type: str = "image/png"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type=content_type)


def remember(client, *predictions) -> None:
    session = client.session
    session[SESSION_KEY] = [p.pk for p in predictions]
    session.save()


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/", "/history", "/models"])
def test_page_renders_with_navigation(client, url):
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    for link in NAV_LINKS:
        assert link in html
    assert 'aria-current="page"' in html
    assert 'href="/admin/"' not in html  # staff only


@pytest.mark.django_db
def test_navigation_shows_admin_link_to_staff(admin_client):
    assert 'href="/admin/"' in admin_client.get("/").content.decode()


def test_page_assets_exist():
    for name in ("css/site.css", "js/app.js", "js/models.js"):
        assert finders.find(name), name


@pytest.mark.django_db
def test_index_has_the_stable_ids_and_no_result_yet(client):
    html = client.get("/").content.decode()
    for element_id in ("canvas", "clear", "recognise", "file-input", "drop-zone", "prob-chart", "model-input"):
        assert f'id="{element_id}"' in html
    assert 'id="result" class="card result" data-testid="result"' in html
    assert 'aria-labelledby="result-heading" hidden' in html
    assert 'enctype="multipart/form-data"' in html
    assert "csrfmiddlewaretoken" in html


def test_upload_form_shows_result_without_javascript(client, served_default_model):
    response = client.post("/", {"file": upload("seven.png", digit_png())})
    assert response.status_code == 200
    prediction = Prediction.objects.get()
    html = response.content.decode()
    assert 'aria-labelledby="result-heading" hidden' not in html
    assert f"/predictions/{prediction.pk}/input.png?size=140" in html
    assert html.count('class="prob-row') == 10
    if prediction.rejected:
        assert f"Rejected: {prediction.reason}" in html
    else:
        assert f'data-testid="result-digit">{prediction.prediction}</p>' in html
    assert prediction.source == Prediction.Source.UPLOAD
    assert client.session[SESSION_KEY] == [prediction.pk]


@pytest.mark.django_db
def test_upload_of_a_non_image_shows_the_error_and_stores_nothing(client, media_root):
    response = client.post("/", {"file": upload("notes.txt", b"this is not an image", "text/plain")})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="error" class="error-box" role="alert" data-testid="error">' in html
    assert response.context["error"]
    assert response.context["error"] in html
    assert not Prediction.objects.exists()
    assert not any(path.is_file() for path in media_root.rglob("*"))


@pytest.mark.django_db
def test_upload_without_a_file_asks_for_one(client):
    response = client.post("/", {})
    assert response.status_code == 400
    assert "Choose an image file first." in response.content.decode()


@pytest.mark.django_db
def test_history_shows_only_this_sessions_predictions_to_anonymous_users(client):
    mine = PredictionFactory.create_batch(2)
    other = PredictionFactory()
    remember(client, *mine)
    response = client.get("/history")
    shown = {p.pk for p in response.context["page"].object_list}
    assert shown == {p.pk for p in mine}
    html = response.content.decode()
    assert f'id="prediction-{other.pk}"' not in html
    assert f"/predictions/{mine[0].pk}/input.png?size=56" in html


@pytest.mark.django_db
def test_history_is_empty_with_a_friendly_note_for_a_new_session(client):
    PredictionFactory()
    response = client.get("/history")
    assert 'id="history-empty"' in response.content.decode()


@pytest.mark.django_db
def test_history_shows_every_prediction_to_staff(admin_client):
    predictions = PredictionFactory.create_batch(3)
    response = admin_client.get("/history")
    assert {p.pk for p in response.context["page"].object_list} == {p.pk for p in predictions}


@pytest.mark.django_db
def test_history_shows_rejections_with_their_reason(client):
    rejected = PredictionFactory(prediction=None, rejected=True, reason="not sure: no digit stands out clearly")
    remember(client, rejected)
    html = client.get("/history").content.decode()
    assert 'rejected: <span class="reason-text">not sure: no digit stands out clearly</span>' in html


@pytest.mark.django_db
def test_history_paginates_24_a_page_in_few_queries(admin_client, django_assert_max_num_queries):
    PredictionFactory.create_batch(30)
    with django_assert_max_num_queries(5):  # session, user, count, page
        response = admin_client.get("/history")
    assert len(response.context["page"].object_list) == 24
    assert 'rel="next"' in response.content.decode()
    second = admin_client.get("/history?page=2")
    assert len(second.context["page"].object_list) == 6
