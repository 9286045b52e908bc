"""The gradient-check lab: untouched exercises are "not attempted", the solutions (minidl's own ops) pass,
and each typical wrong answer in tests/lab_wrong/ is caught with the hint for its mistake."""

import shutil
import textwrap
from pathlib import Path

import pytest

from minidl import cli
from minidl.lab import SOLUTIONS, TEMPLATES, copy
from minidl.lab.checker import FAIL, NOT_ATTEMPTED, PASS, check_exercise, check_lab
from minidl.lab.exercises import EXERCISES

WRONG_ANSWERS = Path(__file__).parent / "lab_wrong"
BY_NAME = {exercise.name: exercise for exercise in EXERCISES}

# exercise -> (a phrase of the report naming the problem, a phrase of the hint for that mistake)
TYPICAL_MISTAKES = {
    "sigmoid": ("wrong gradient for input 'x'", "opposite sign"),
    "softmax_cross_entropy": ("wrong gradient for input 'logits'", "the loss is the mean over the N examples"),
    "matmul": ("backward returned a gradient of shape", "is not summed over the axes along which"),
    "batch_norm": ("wrong gradient for input 'x'", "terms through the mean and the variance are missing"),
    "layer_norm": ("backward returned a gradient of shape", "is not summed over the axes along which"),
    "conv2d": ("wrong gradient for input 'x'", "Use += (or np.add.at) where you wrote ="),
    "max_pool2d": ("wrong gradient for input 'x'", "only the largest element reached the output"),
    "residual": ("wrong gradient for input 'x'", "The skip path is missing from dL/dx"),
}


def write_exercise(folder, name, backward_body):
    """An exercise file whose class inherits the given forward and has ``backward_body`` as its backward."""
    exercise = BY_NAME[name]
    source = f"""
        import numpy as np

        from minidl.lab import load_template


        class {exercise.class_name}(load_template("{name}").{exercise.class_name}):
            @staticmethod
            def backward(ctx, grad):
        """
    body = textwrap.indent(textwrap.dedent(backward_body).strip() + "\n", " " * 8)
    (folder / exercise.filename).write_text(textwrap.dedent(source) + body)


def test_every_exercise_has_a_template_a_solution_and_a_typical_mistake():
    names = {exercise.name for exercise in EXERCISES}
    assert {path.stem for path in TEMPLATES.glob("*.py")} == names
    assert {path.stem for path in SOLUTIONS.glob("*.py")} == names
    assert {path.stem for path in WRONG_ANSWERS.glob("*.py")} == names == set(TYPICAL_MISTAKES)


def test_untouched_lab_is_not_attempted_and_exits_nonzero(tmp_path, capsys):
    assert cli.main(["lab", "init", str(tmp_path)]) == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [path.name for path in TEMPLATES.glob("*.py")] + ["README.md"]
    )
    capsys.readouterr()
    assert cli.main(["lab", "check", str(tmp_path)]) != 0
    report = capsys.readouterr().out
    assert report.count("not attempted") == len(EXERCISES)
    assert report.rstrip().endswith(f"0/{len(EXERCISES)} exercises pass")


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda exercise: exercise.name)
def test_solution_passes(exercise):
    result = check_exercise(exercise, SOLUTIONS)
    assert result.status == PASS, "\n".join(result.details)
    assert result.examples > 1


def test_solutions_score_full_marks_and_exit_zero(tmp_path, capsys):
    assert cli.main(["lab", "init", "--solutions", str(tmp_path)]) == 0
    exit_code = cli.main(["lab", "check", str(tmp_path)])
    report = capsys.readouterr().out
    assert exit_code == 0, report
    assert report.rstrip().endswith(f"{len(EXERCISES)}/{len(EXERCISES)} exercises pass")


@pytest.mark.parametrize("name", sorted(TYPICAL_MISTAKES))
def test_typical_wrong_answer_is_caught_with_its_hint(name):
    problem, hint = TYPICAL_MISTAKES[name]
    result = check_exercise(BY_NAME[name], WRONG_ANSWERS)
    assert result.status == FAIL
    report = "\n".join(result.details)
    assert problem in report
    assert "smallest failing example" in report
    assert any(hint in text for text in result.hints), result.hints


def test_report_shows_the_example_the_worst_element_and_the_score(capsys):
    exit_code = cli.main(["lab", "check", str(WRONG_ANSWERS)])
    report = capsys.readouterr().out
    assert exit_code == 1
    assert "worst element x[0, 0]: your backward gives" in report  # residual's wrong dL/dx
    assert "finite differences give" in report
    assert "hint: The skip path is missing" in report
    assert report.rstrip().endswith(f"0/{len(EXERCISES)} exercises pass")


def test_partly_done_lab_is_scored_per_exercise(tmp_path):
    copy(tmp_path)
    shutil.copyfile(SOLUTIONS / "residual.py", tmp_path / "residual.py")
    shutil.copyfile(WRONG_ANSWERS / "sigmoid.py", tmp_path / "sigmoid.py")
    statuses = {result.exercise.name: result.status for result in check_lab(tmp_path)}
    assert statuses.pop("residual") == PASS
    assert statuses.pop("sigmoid") == FAIL
    assert set(statuses.values()) == {NOT_ATTEMPTED}


def test_init_never_overwrites_student_work(tmp_path):
    (tmp_path / "sigmoid.py").write_text("# my work\n")
    copied, kept = copy(tmp_path)
    assert kept == [tmp_path / "sigmoid.py"]
    assert (tmp_path / "sigmoid.py").read_text() == "# my work\n"
    assert len(copied) == len(list(TEMPLATES.iterdir())) - 1


@pytest.mark.parametrize(
    "backward_body, expected",
    [
        ("return grad[5]", ["backward raised IndexError", "line 10: return grad[5]"]),
        ("return grad, grad", ["backward returned 2 value(s), but forward takes 1 argument(s)"]),
        ("return None", ["backward returned None as the gradient of 'x'"]),
        ("return grad[..., None]", ["backward returned a gradient of shape", "for 'x', which has shape"]),
    ],
)
def test_errors_in_student_code_are_reported(tmp_path, backward_body, expected):
    write_exercise(tmp_path, "sigmoid", backward_body)
    result = check_exercise(BY_NAME["sigmoid"], tmp_path)
    assert result.status == FAIL
    report = "\n".join(result.details)
    for phrase in expected:
        assert phrase in report


def test_transposed_matmul_gets_the_transpose_hint(tmp_path):
    write_exercise(tmp_path, "matmul", "a, b = ctx.saved_tensors\nreturn grad @ b, a.T @ grad")
    result = check_exercise(BY_NAME["matmul"], tmp_path)
    assert result.status == FAIL
    assert any("transpose" in hint for hint in result.hints), result.hints


@pytest.mark.parametrize(
    "missing, grad_x, hint",
    [
        ("variance", "g - g.mean(0)", "The term through the variance is missing"),
        ("mean", "g - x_hat * (g * x_hat).mean(0)", "The term through the mean is missing"),
    ],
)
def test_batch_norm_half_derivations_get_their_hint(tmp_path, missing, grad_x, hint):
    body = f"""
        _, gamma, x_hat, inv_std = ctx.saved_tensors
        g = grad * gamma
        return inv_std * ({grad_x}), (grad * x_hat).sum(0), grad.sum(0)
    """
    write_exercise(tmp_path, "batch_norm", body)
    result = check_exercise(BY_NAME["batch_norm"], tmp_path)
    assert result.status == FAIL
    assert any(hint in text for text in result.hints), result.hints


def test_broken_files_are_reported(tmp_path):
    (tmp_path / "sigmoid.py").write_text("def backward(:\n")
    (tmp_path / "matmul.py").write_text("class NotMatMul:\n    pass\n")
    results = {result.exercise.name: result for result in check_lab(tmp_path, EXERCISES[:3])}
    assert "could not import sigmoid.py: SyntaxError" in results["sigmoid"].details[0]
    assert "softmax_cross_entropy.py not found" in results["softmax_cross_entropy"].details[0]
    assert "matmul.py has no class MatMul" in results["matmul"].details[0]
    assert all(result.status == FAIL for result in results.values())
