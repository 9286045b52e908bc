"""The README's code runs as shown, prints what it says, and its quick start uses the test command CI runs."""

import contextlib
import io
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def fenced_blocks(text):
    return re.findall(r"```(\w+)\n(.*?)```", text, flags=re.DOTALL)


def test_the_python_blocks_run_and_print_the_output_shown():
    namespace, outputs = {"__name__": "readme"}, []
    for language, code in fenced_blocks(README):
        if language == "python":
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                exec(compile(code, "README.md", "exec"), namespace)
            outputs.append(printed.getvalue())
        elif language == "text":
            assert outputs, "a text block in the README must follow the python block whose output it shows"
            assert outputs[-1].strip() == code.strip()
    assert outputs[0].strip() == "True"
    assert len(outputs) == 2


def test_the_quick_start_has_two_commands_and_ci_runs_the_test_command():
    language, commands = fenced_blocks(README)[0]
    assert language == "bash"
    lines = commands.strip().splitlines()
    assert len(lines) == 2
    assert lines[1] == 'pip install ".[test]" && python -m pytest'
    assert lines[1] in (ROOT / ".ci" / "run").read_text()
