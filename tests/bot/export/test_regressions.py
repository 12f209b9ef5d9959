"""`export regressions`: confirmed defects as promptfoo test cases (YAML) and chat-format JSONL."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from bot.cli.main import main
from bot.core.db import Database
from bot.export.regressions import inert, scrub, write
from tests.bot.export.defect_data import PLANTED, prepare, seed_defects

SPEC = Path(__file__).resolve().parents[4] / "shared" / "specs" / "promptfoo" / "config-schema.json"


def schema() -> dict:  # type: ignore[type-arg]
    return json.loads(SPEC.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def documented_assertion_types() -> set[str]:
    """The assertion types promptfoo's schema names (its last alternative accepts any string)."""
    # the assertion object is found by its shape: the schema's definitions have generated names
    for definition in schema()["definitions"].values():
        kind = definition.get("properties", {}).get("type", {})
        for option in kind.get("anyOf", []):
            if "llm-rubric" in option.get("enum", []):
                return set(option["enum"])
    raise AssertionError("no assertion type enum in the schema")


def assert_no_planted_pii(text: str) -> None:
    for secret in PLANTED:
        assert secret.casefold() not in text.casefold(), secret
    assert "4111" not in text and "7946" not in text


async def export(db: Database, fmt: str) -> str:
    out = io.StringIO()
    await write(db, out, fmt)
    return out.getvalue()


async def test_promptfoo_yaml_validates_against_the_schema_with_documented_assertions(db: Database) -> None:
    groups = await seed_defects(db)
    text = await export(db, "promptfoo")
    config = yaml.safe_load(text)
    jsonschema.validate(config, schema())
    assert_no_planted_pii(text)
    documented = documented_assertion_types()
    tests = config["tests"]
    assert [t["metadata"]["reply_id"] for t in tests] == ["R-1", "R-2"]  # R-3 correct, R-4 withdrawn
    for test in tests:
        for assertion in test["assert"]:
            kind = assertion["type"].removeprefix("not-")  # promptfoo negates any type with `not-`
            assert kind in documented, assertion["type"]
        assert test["vars"]["customer_message"] and test["vars"]["bad_reply"]
        # promptfoo renders vars and assertion values as Nunjucks: no text may open a tag of its own
        for value in [*test["vars"].values(), *(a["value"] for a in test["assert"])]:
            assert _bare_openers(value) == [], value
    leak, policy = tests
    assert leak["metadata"] | {"group_id": 0} == {
        "category": "template_error", "severity": "high", "reply_id": "R-1", "ticket_id": "T-1",
        "group_id": 0, "template_id": "seats", "intent": "plans",
    }  # fmt: skip
    assert leak["metadata"]["group_id"] == groups["leak"]
    assert (
        leak["vars"]["expected_answer"] == "Hi [customer name], we refunded the double charge on card [card]."
    )
    assert leak["vars"]["bad_reply"].startswith('Hi {{ "{{" }}first_name}}, call us on [phone]')
    placeholder = {"type": "not-contains", "value": '{{ "{{" }}first_name}}', "metric": "placeholder"}
    assert placeholder in leak["assert"]
    rubric = leak["assert"][0]
    assert rubric["type"] == "llm-rubric" and "Template error" in rubric["value"]
    assert "a reviewer wrote: Hi [customer name], we refunded the double charge" in rubric["value"]
    assert 'What the reviewer found wrong: Leaks {{ "{{" }}first_name}} and' in rubric["value"]
    assert "expected_answer" not in policy["vars"]  # the reviewer gave none: judged on the note
    assert policy["vars"]["reviewer_note"] == "Refunds take 5 days"
    assert config["prompts"] == ["{{customer_message}}"]


def _bare_openers(value: str) -> list[str]:
    """Template openers other than the escapes `{{ "{{" }}`, `{{ "{%" }}`, `{{ "{#" }}`."""
    return re.findall(r"\{[{%#]", re.sub(r'\{\{ "\{[{%#]" \}\}', "", value))


async def test_jsonl_is_one_chat_case_per_defect(db: Database) -> None:
    await seed_defects(db)
    text = await export(db, "jsonl")
    assert_no_planted_pii(text)
    first, second = (json.loads(line) for line in text.splitlines())
    assert first["messages"] == [
        {"role": "user", "content": "I'm [customer name], card [card] was charged twice. Refund?"}
    ]
    assert first["ideal"].startswith("Hi [customer name], we refunded")
    assert first["rejected"].startswith("Hi {{first_name}}, call us on [phone] or mail [email].")
    assert "found wrong: Leaks {{first_name}} and [customer name]'s email [email]" in first["criteria"]
    assert second["ideal"] is None and second["metadata"]["category"] == "wrong_information"


def test_inert_escapes_every_template_opener() -> None:
    assert inert("Hi {{name}} {% if x %}{#c#}") == 'Hi {{ "{{" }}name}} {{ "{%" }} if x %}{{ "{#" }}c#}'
    assert inert("plain } and { text") == "plain } and { text"


def test_scrub_keeps_texts_from_being_read_as_files_by_promptfoo() -> None:
    assert scrub("file:///etc/passwd", None) == " file:///etc/passwd"
    assert scrub("Dear Ann-Marie Smith", "Ann-Marie Smith") == "Dear [customer name]"
    assert scrub("Dana, Danae and DANA", "Dana") == "[customer name], Danae and [customer name]"


def test_cli_writes_the_file_and_refuses_csv(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prepare(database_url, seed_defects)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    out = tmp_path / "cases.yaml"
    assert main(["export", "regressions", "--since", "2026-11-01", "-o", str(out)]) == 0
    assert "exported 2 regressions" in capsys.readouterr().err
    jsonschema.validate(yaml.safe_load(out.read_text(encoding="utf-8")), schema())
    assert main(["export", "regressions", "--since", "2026-11-28", "--format", "jsonl"]) == 0
    assert capsys.readouterr().out == ""  # nothing confirmed since then
    assert main(["export", "regressions", "--format", "csv"]) == 2
    assert "regressions are written as promptfoo or jsonl" in capsys.readouterr().err
    assert main(["export", "replies", "--format", "promptfoo"]) == 2
