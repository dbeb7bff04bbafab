"""The command line replays a log, prints the tables, diagrams and schema, fails in one line.

Exit status: 0 every body applied, 1 some bodies rejected, 2 usage error or
input that is not a readable log. The error cases run the real program
(``python -m transfer_fsm``, and the ``transfer-fsm`` script where installed).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from importlib import metadata, resources
from pathlib import Path

import pytest
from flows import FLOWS

import transfer_fsm as tf
from transfer_fsm.cli import (
    BEGIN,
    DIAGRAM_BEGIN,
    DIAGRAM_END,
    END,
    EXAMPLE,
    SCHEMA_FILE,
    main,
    schema_text,
)
from transfer_fsm.render import generated_markdown
from transfer_fsm.snapshot import json_schema

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
MODULE = [sys.executable, "-m", "transfer_fsm"]
SCRIPT = shutil.which("transfer-fsm", path=sysconfig.get_path("scripts"))
EXAMPLE_TEXT = (resources.files("transfer_fsm") / "examples" / EXAMPLE).read_text("utf-8")


def _run(
    *args: str, stdin: bytes = b"", cwd: Path | None = None, program: list[str] = MODULE
) -> tuple[int, str, str]:
    done = subprocess.run(
        [*program, *args], input=stdin, capture_output=True, cwd=cwd, env=ENV, timeout=120
    )
    return done.returncode, done.stdout.decode("utf-8"), done.stderr.decode("utf-8")


def test_replay_of_the_bundled_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "replaying the bundled example failed-consultative-transfer.jsonl"
    events = [line.split() for line in lines[2:10]]
    assert [e[-2:] for e in events] == [
        ["applied", "audioActive"],
        ["applied", "-"],
        ["applied", "transferAccepted"],
        ["applied", "audioInactive"],
        ["stale", "-"],
        ["applied", "audioActive"],
        ["applied", "transferFailed"],
        ["stale", "-"],
    ]
    assert lines[10:] == [
        "final:",
        "call 341a0500-d4bf-4224-8b19-1581168d328b: state established, audio active, "
        "transfer failed",
        "  transfer result: 500/7000 <message>",
        "  replacesContext: <replacesContext>",
    ]


def test_a_log_with_a_rejected_body_exits_1_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "log.json").write_text(json.dumps([*FLOWS[0].bodies, {"value": 3}]), "utf-8")
    status, out, err = _run("replay", "log.json", "--requested", cwd=tmp_path)
    assert (status, err) == (
        1,
        "transfer-fsm replay: 1 of 5 bodies rejected\n".replace(
            "transfer-fsm", "python -m transfer_fsm"
        ),
    )
    assert "body 5: rejected: $.value: expected an array of commsNotification objects" in out
    assert out.endswith(
        "state terminated, audio inactive, transfer completed\n"
        "  terminationReason: AppTransferred\n"
    )


def test_a_log_whose_every_body_is_rejected_exits_1(tmp_path: Path) -> None:
    (tmp_path / "log.jsonl").write_text('{"value": 3}\n[]\n', "utf-8")
    status, out, err = _run("replay", "log.jsonl", cwd=tmp_path)
    assert (status, err) == (1, "python -m transfer_fsm replay: 2 of 2 bodies rejected\n")
    assert out.splitlines()[1:] == [
        "body 1: rejected: $.value: expected an array of commsNotification objects, found 3",
        "body 2: rejected: $: expected bytes, text or a decoded JSON object, found an array",
        "final:",
    ]


def test_standard_input_is_read_for_a_dash() -> None:
    status, out, err = _run("replay", "-", stdin=EXAMPLE_TEXT.encode())
    assert (status, err) == (0, "")
    bundled = _run("replay")[1]
    assert out == bundled.split("\n", 1)[1]  # the same replay, without the bundled-example line


@pytest.mark.parametrize("layout", ["JSON array", "JSON lines", "one body, indented"])
def test_every_log_layout_replays_as_the_bundled_example(tmp_path: Path, layout: str) -> None:
    bodies = [json.loads(line) for line in EXAMPLE_TEXT.splitlines()]
    text = {
        "JSON array": json.dumps(bodies, indent=2),
        "JSON lines": "\n\n".join(json.dumps(body) for body in bodies) + "\n",
        "one body, indented": json.dumps(
            {"value": [n for b in bodies for n in b["value"]]}, indent=1
        ),
    }[layout]
    (tmp_path / "log").write_text(text, "utf-8")
    status, out, err = _run("replay", "log", cwd=tmp_path)
    assert (status, err) == (0, "")
    assert out == _run("replay")[1].split("\n", 1)[1]


BAD_JSON = [
    (
        "array.json",
        b'[{"value": []},\n {"value": [}]',
        "not valid JSON: Expecting value at line 2 column 13",
    ),
    (
        "lines.jsonl",
        b'{"value": []}\n{"value": [}\n',
        "line 2: not valid JSON: Expecting value at column 12",
    ),
]

UNREADABLE = [
    ("missing.json", None, "no such file"),
    ("a-folder", "directory", "a directory, not a file"),
    ("latin1.json", b'{"value": [], "note": "caf\xe9"}', "not UTF-8 text (byte 0xe9 at offset 26)"),
    *BAD_JSON,
    ("nan.json", b"[NaN]", "not standard JSON (no NaN or Infinity): NaN"),
    (
        "README.md",
        b"# A title\n\nSome prose.\n",
        "line 1: not valid JSON: Expecting value at column 1",
    ),
    ("empty.json", b" \n", "empty: no notification bodies"),
    ("empty-array.json", b"[]", "an empty JSON array: no notification bodies"),
]


@pytest.mark.parametrize(("name", "content", "problem"), UNREADABLE, ids=[u[0] for u in UNREADABLE])
def test_input_that_is_not_a_readable_log_is_one_line_and_exit_2(
    tmp_path: Path, name: str, content: bytes | str | None, problem: str
) -> None:
    if content == "directory":
        (tmp_path / name).mkdir()
    elif isinstance(content, bytes):
        (tmp_path / name).write_bytes(content)
    status, out, err = _run("replay", name, cwd=tmp_path)
    assert (status, out, err) == (2, "", f"python -m transfer_fsm replay: {name}: {problem}\n")


def test_bad_json_on_standard_input_is_exit_2() -> None:
    status, out, err = _run("replay", "-", stdin=b'{"value": [\n')
    assert (status, out) == (2, "")
    assert err == (
        "python -m transfer_fsm replay: standard input: not valid JSON: "
        "Expecting value at line 2 column 1\n"
    )


def test_table_write_replaces_only_the_generated_part(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(f"# Title\n{BEGIN}\nold tables\n{END}\nafter\n", "utf-8")
    assert _run("table", "--write", str(page)) == (0, "", "")
    assert page.read_text("utf-8") == f"# Title\n{BEGIN}\n{generated_markdown()}\n{END}\nafter\n"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "no such file"),
        ("# No markers here\n", f"no {BEGIN} ... {END} markers to write between"),
        (f"{BEGIN}\nbut no end\n", f"no {BEGIN} ... {END} markers to write between"),
    ],
)
def test_table_write_to_a_file_it_cannot_rewrite_is_one_line_and_exit_2(
    tmp_path: Path, content: str | None, problem: str
) -> None:
    page = tmp_path / "page.md"
    if content is not None:
        page.write_text(content, "utf-8")
    status, out, err = _run("table", "--write", "page.md", cwd=tmp_path)
    assert (status, out, err) == (2, "", f"python -m transfer_fsm table: page.md: {problem}\n")
    assert content is None or page.read_text("utf-8") == content


def test_the_tables_print_as_markdown() -> None:
    status, out, err = _run("table")
    assert (status, out, err) == (0, generated_markdown() + "\n", "")
    assert out.startswith("### Call-state axis and transfer status")


def test_the_schema_prints_as_the_published_file() -> None:
    status, out, err = _run("schema")
    assert (status, out, err) == (0, schema_text(), "")
    assert json.loads(out) == json_schema()
    assert out == (ROOT / SCHEMA_FILE).read_text("utf-8")
    assert out.startswith('{\n  "$schema": ')  # indent 2
    assert out.endswith("}\n")  # a final newline


def test_schema_write_replaces_the_file(tmp_path: Path) -> None:
    target = tmp_path / "snapshot.schema.json"
    target.write_text("old\n", "utf-8")
    assert _run("schema", "--write", str(target)) == (0, "", "")
    assert target.read_text("utf-8") == schema_text()


def test_schema_write_to_a_file_it_cannot_write_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "a-folder").mkdir()
    status, out, err = _run("schema", "--write", "a-folder", cwd=tmp_path)
    assert (status, out) == (2, "")
    assert err == "python -m transfer_fsm schema: a-folder: cannot write: Is a directory\n"


def test_usage_errors_exit_2() -> None:
    status, out, err = _run("replay", "--bogus")
    assert (status, out) == (2, "")
    assert err.endswith("error: unrecognized arguments: --bogus\n")
    assert _run()[0] == 2  # no command


def test_version_is_the_packages() -> None:
    assert _run("--version") == (0, f"transfer-fsm {tf.__version__}\n", "")


def test_the_installed_version_is_the_one_in_the_source() -> None:
    try:
        installed = metadata.version("transfer-fsm")
    except metadata.PackageNotFoundError:
        pytest.skip("transfer-fsm is not installed (pip install -e .)")
    assert installed == tf.__version__


@pytest.mark.parametrize(
    ("command", "explained"),
    [
        (
            [],
            [
                "replay",
                "table",
                "diagram",
                "schema",
                "--version",
                "exit status:",
                "some bodies were rejected",
            ],
        ),
        (["replay"], ["FILE", "'-' reads standard input", "--requested", "exit status:"]),
        (["table"], ["--write FILE", BEGIN, END]),
        (["diagram"], ["--write FILE", "Mermaid", DIAGRAM_BEGIN, DIAGRAM_END, "exit status:"]),
        (["schema"], ["--write FILE", "Call.to_dict", SCHEMA_FILE, "exit status:"]),
    ],
)
def test_help_explains_the_arguments(command: list[str], explained: list[str]) -> None:
    status, out, err = _run(*command, "--help")
    assert (status, err) == (0, "")
    assert [text for text in explained if text not in out] == []
    assert "``" not in out


def test_text_the_terminal_cannot_encode_is_escaped(tmp_path: Path) -> None:
    body = {
        "value": [
            {
                "changeType": "updated",
                "resourceUrl": "/communications/calls/c\u00e9",
                "resourceData": {"state": "established"},
            }
        ]
    }
    (tmp_path / "log.json").write_text(json.dumps(body), "ascii")
    done = subprocess.run(
        [*MODULE, "replay", "log.json"],
        capture_output=True,
        cwd=tmp_path,
        env={**ENV, "PYTHONIOENCODING": "ascii"},  # a terminal that cannot show the id
        timeout=120,
    )
    assert (done.returncode, done.stderr) == (0, b"")
    last = done.stdout.decode("ascii").splitlines()[-1]
    assert last == "call c\\xe9: state established, audio -, transfer -"


def test_a_call_id_no_terminal_could_show_is_refused_by_the_replay(tmp_path: Path) -> None:
    """A lone surrogate in a call id is refused by the parser: the replay names the path."""
    url = "/communications/calls/c\ud800"
    body = {"value": [{"changeType": "updated", "resourceUrl": url}]}
    (tmp_path / "log.json").write_text(json.dumps(body), "ascii")
    status, out, err = _run("replay", "log.json", cwd=tmp_path)
    assert (status, err) == (1, "python -m transfer_fsm replay: 1 of 1 body rejected\n")
    assert out.splitlines()[1] == (
        "body 1: rejected: $.value[0].resourceUrl: expected a call id (text UTF-8 can carry,"
        " with no control characters, 256 characters at most), found the string 'c\\ud800'"
        " (a lone surrogate, U+D800, at offset 1)"
    )


def test_a_reader_that_goes_away_stops_the_replay_quietly(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_text(json.dumps([json.loads(line) for line in EXAMPLE_TEXT.splitlines()] * 2000))
    with subprocess.Popen(
        [*MODULE, "replay", str(big)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        assert process.stdout.readline().startswith(b"  #  call state")
        process.stdout.close()
        assert process.wait(timeout=120) == 141
        assert process.stderr.read() == b""


@pytest.mark.skipif(SCRIPT is None, reason="the transfer-fsm script is not installed")
def test_the_console_script_is_the_same_program(tmp_path: Path) -> None:
    assert SCRIPT is not None
    assert _run("--version", program=[SCRIPT]) == (0, f"transfer-fsm {tf.__version__}\n", "")
    assert _run("replay", "missing.json", cwd=tmp_path, program=[SCRIPT]) == (
        2,
        "",
        "transfer-fsm replay: missing.json: no such file\n",
    )
    assert _run("replay", program=[SCRIPT])[1] == _run("replay")[1]
