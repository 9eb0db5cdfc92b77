import pytest
from django.core.management import call_command

from recognizer.evaluation import evaluate_directory, format_table, missed_targets
from tests.images import blank_png, encode, mnist_sample, render
from vision.infer import DigitClassifier, decide


@pytest.fixture
def upload_folder(tmp_path):
    """Six digits in two styles and two blanks, with labels.csv as the evaluation expects."""
    images, labels = mnist_sample()
    rows = ["file,label,scenario"]
    for index in range(6):
        style = "paper" if index % 2 else "transparent"
        name = f"{index}.png"
        (tmp_path / name).write_bytes(encode(render(images[index], style=style)))
        rows.append(f"{name},{labels[index]},{style}")
    for index in range(2):
        (tmp_path / f"blank{index}.png").write_bytes(blank_png())
        rows.append(f"blank{index}.png,none,blank")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    return tmp_path


def test_evaluation_scores_each_scenario(upload_folder, settings):
    classifier = DigitClassifier(settings.DEFAULT_MODEL_DIR / "model.tflite")
    result = evaluate_directory(
        upload_folder, upload_folder / "labels.csv", classifier.classify, decide=lambda row: decide(row).digit
    )
    by_name = {row["scenario"]: row for row in result["scenarios"]}
    assert by_name["paper"]["n_digits"] == by_name["transparent"]["n_digits"] == 3
    assert by_name["blank"]["non_digit_rejection"] == 1.0
    assert result["overall"]["digit_accuracy"] == 1.0
    assert missed_targets(result) == []
    table = format_table(result)
    assert "| overall | 8 |" in table


@pytest.mark.django_db
def test_evaluate_uploads_command_prints_the_table(upload_folder, served_default_model, capsys):
    call_command("evaluate_uploads", str(upload_folder))
    out = capsys.readouterr().out
    assert "| paper | 3 | 100.0% (3/3)" in out
    assert "targets: all met" in out
