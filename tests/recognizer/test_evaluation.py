import sys
from types import SimpleNamespace

import pytest
from django.core.management import call_command

from recognizer.evaluation import evaluate_directory, format_table, missed_targets
from tests.images import blank_png, encode, font_text, mnist_number, mnist_sample, render
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


@pytest.fixture
def numbers_folder(upload_folder):
    """upload_folder plus three numbers and a word, as in a numbers set."""
    _, labels = mnist_sample()
    rows = []
    for name, indexes in (("n41.png", [4, 1]), ("n012.png", [0, 1, 2]), ("n72.png", [7, 2])):
        (upload_folder / name).write_bytes(encode(mnist_number(indexes)))
        rows.append(f"{name},{''.join(str(labels[i]) for i in indexes)},num_canvas")
    (upload_folder / "word.png").write_bytes(encode(font_text("hello")))
    rows.append("word.png,none,word")
    with open(upload_folder / "labels.csv", "a") as fh:
        fh.write("\n".join(rows) + "\n")
    return upload_folder


def test_numbers_are_scored_as_exact_strings_beside_the_digits(numbers_folder, settings):
    classifier = DigitClassifier(settings.DEFAULT_MODEL_DIR / "model.tflite")
    _, labels = mnist_sample()
    truth = {
        (numbers_folder / name).read_bytes(): text
        for name, text in (("n41.png", f"{labels[4]}{labels[1]}"), ("n012.png", f"{labels[0]}{labels[1]}{labels[2]}"))
    }
    read = []

    def read_number(data):  # right on two numbers, one digit missing on the third, rejects the rest
        read.append(data)
        if data in truth:
            return truth[data], None
        if data == (numbers_folder / "n72.png").read_bytes():
            return str(labels[7]), None
        return None, "not a number"

    result = evaluate_directory(
        numbers_folder,
        numbers_folder / "labels.csv",
        classifier.classify,
        decide=lambda row: decide(row).digit,
        read_number=read_number,
    )
    assert len(read) == 6  # the numbers, the word and the blanks (a number reader must reject them); digits not
    by_name = {row["scenario"]: row for row in result["scenarios"]}
    assert by_name["num_canvas"]["n_numbers"] == 3 and by_name["num_canvas"]["number_correct"] == 2
    assert by_name["num_canvas"]["n_digits"] == 0 and by_name["paper"]["number_accuracy"] is None
    assert by_name["word"]["non_digit_rejection"] == 1.0
    assert result["overall"]["digit_accuracy"] == 1.0 and result["overall"]["number_accuracy"] == pytest.approx(2 / 3)
    table = format_table(result)
    assert "| scenario | n | digit acc | digits rejected | numbers exact | non-digits rejected |" in table
    assert "| num_canvas | 3 | - | - | 66.7% (2/3) | - |" in table
    assert any("numbers read exactly 66.7% < 95%" in miss for miss in missed_targets(result))


def test_without_a_number_reader_numbers_are_listed_not_scored(numbers_folder, settings):
    classifier = DigitClassifier(settings.DEFAULT_MODEL_DIR / "model.tflite")
    result = evaluate_directory(
        numbers_folder, numbers_folder / "labels.csv", classifier.classify, decide=lambda row: decide(row).digit
    )
    assert "| num_canvas | 3 | - | - | not scored | - |" in format_table(result)
    assert result["overall"]["digit_accuracy"] == 1.0  # the digits are scored as before
    assert not any("numbers" in miss for miss in missed_targets(result))


@pytest.mark.django_db
def test_evaluate_uploads_uses_the_number_reader_of_vision(numbers_folder, served_default_model, capsys, monkeypatch):
    calls = []

    def read_number(image, classifier):  # the reader's interface: a decoded image and the classifier
        calls.append((image.size, classifier.num_classes))
        return SimpleNamespace(text=None, reason="not a number")

    monkeypatch.setitem(sys.modules, "vision.segment", SimpleNamespace(read_number=read_number))
    call_command("evaluate_uploads", str(numbers_folder))
    out = capsys.readouterr().out
    assert len(calls) == 6 and {n for _, n in calls} == {11}
    assert "| num_canvas | 3 | - | - | 0.0% (0/3) | - |" in out
    assert "| word | 1 | - | - | - | 100.0% (1/1) |" in out


@pytest.mark.django_db
def test_evaluate_uploads_says_when_numbers_are_not_scored(numbers_folder, served_default_model, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "vision.segment", None)  # import fails: no number reader
    call_command("evaluate_uploads", str(numbers_folder))
    out = capsys.readouterr().out
    assert "| num_canvas | 3 | - | - | not scored | - |" in out
    assert "numbers not scored: no number reader" in out
