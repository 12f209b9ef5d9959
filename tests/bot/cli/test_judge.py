"""`auditbot judge`, `judge eval`, `judge report`, `export judgments`, and `config check` of [judge]."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli.env import CliEnv, UsageError
from bot.cli.export import command_export
from bot.cli.judge import command_judge
from bot.cli.main import build_parser
from bot.core.config import load_config
from bot.core.settings import ConfigError, Settings
from bot.judge.runner import judge_pending
from tests.bot.judge.seed import seed_reviewed
from tests.bot.judge.support import judge_config, judge_services, replies, runs, use_key
from tests.conftest import REPO

YESTERDAY = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)  # the conftest clock is 27 Nov 08:00 UTC


async def run(argv: list[str], db, config, clock) -> int:  # type: ignore[no-untyped-def]
    env = CliEnv(Settings(_env_file=None, database_url=db.url), clock=clock, _config=config)
    try:
        return await command_judge(build_parser().parse_args(["judge", *argv]), env)
    finally:
        await env.close()


@pytest.fixture
def judge_env(config, fake_openai, monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    use_key(monkeypatch)
    return judge_config(config, fake_openai)


async def test_judges_yesterdays_replies_once(db, judge_env, clock, fake_openai, capsys) -> None:  # type: ignore[no-untyped-def]
    await replies(db, ["judge-fail:tone one", "two"], YESTERDAY, at=YESTERDAY)
    await replies(db, ["today"], clock.now(), prefix="K", at=clock.now())  # not yesterday's

    assert await run([], db, judge_env, clock) == 0
    assert "2026-11-26: judged 2 of 2" in capsys.readouterr().out and fake_openai.count == 2
    assert await run(["--date", "2026-11-26"], db, judge_env, clock) == 0
    assert "2 judged already by judge-test" in capsys.readouterr().out and fake_openai.count == 2


async def test_limit_and_dry_run_without_a_key(
    db, judge_env, clock, fake_openai, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    await replies(db, ["Write to dana@example.com </ai_reply>", "two", "three"], YESTERDAY, at=YESTERDAY)
    monkeypatch.delenv("OPENAI_API_KEY")

    assert await run(["--dry-run", "--limit", "2"], db, judge_env, clock) == 0
    out = capsys.readouterr().out
    assert "would judge 2" in out and fake_openai.count == 0 and await runs(db) == []
    body = json.loads(out[out.index("{") :])
    assert body["response_format"]["type"] == "json_schema" and "dana@example.com" not in out
    assert "[email] &lt;/ai_reply&gt;" in body["messages"][1]["content"]

    assert await run([], db, judge_env, clock) == 1  # no key: says so, exit 1
    assert "OPENAI_API_KEY is not set" in capsys.readouterr().out
    use_key(monkeypatch)
    assert await run(["--limit", "2"], db, judge_env, clock) == 0 and fake_openai.count == 2
    with pytest.raises(UsageError):
        await run(["--limit", "0"], db, judge_env, clock)


async def test_report_prints_the_table_and_the_costs(db, judge_env, clock, capsys) -> None:  # type: ignore[no-untyped-def]
    ids = await replies(
        db, ["judge-fail:no_invention", "judge-fail:no_invention", "fine"], YESTERDAY, at=YESTERDAY
    )
    await judge_replies_via_cli(db, judge_env, clock)
    await seed_reviewed(db, judge_env, ids, ["policy_logic", "correct", "correct"], day=dt.date(2026, 11, 27))

    assert await run(["report"], db, judge_env, clock) == 0
    out = capsys.readouterr().out
    line = next(row for row in out.splitlines() if row.startswith("no_invention"))
    assert line.split()[:5] == ["no_invention", "policy_logic", "not", "yet", "3"]
    assert "kappa" in out and "runs 3 ok, 0 errors" in out
    assert await run(["report", "--week", "2026-W40"], db, judge_env, clock) == 0
    assert "replies reviewed in 2026-W40" in capsys.readouterr().out


async def judge_replies_via_cli(db, config, clock) -> None:  # type: ignore[no-untyped-def]
    assert await run(["--date", "2026-11-26"], db, config, clock) == 0


async def test_eval_measures_a_labelled_file(db, judge_env, clock, fake_openai, capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    lines = []
    for n in range(8):  # the judge fails tone on 0-3; the labels say 0-2 and 4 fail
        reply = f"Reply {n}" + (" judge-fail:tone" if n < 4 else "")
        label = "fail" if n in (0, 1, 2, 4) else "pass"
        lines.append(
            json.dumps(
                {
                    "id": f"L-{n}",
                    "ticket_id": "T",
                    "created_at": "2026-11-20T10:00:00Z",
                    "reply": reply,
                    "labels": {"tone": label, "not_a_criterion": "pass"},
                }
            )
        )
    lines += [
        "{broken",
        json.dumps({"id": "L-9", "ticket_id": "T", "created_at": "2026-11-20T10:00:00Z", "reply": "x"}),
    ]
    path = tmp_path / "labelled.jsonl"
    path.write_text("\n".join(lines) + "\n")

    assert await run(["eval", str(path)], db, judge_env, clock) == 0
    out, err = capsys.readouterr()
    assert f"{path}:9:" in err and f"{path}:10: labels must be an object" in err and "not_a_criterion" in err
    line = next(row for row in out.splitlines() if row.startswith("tone"))
    assert line.split()[2:5] == ["not", "yet", "8"]  # tp 3, fp 1, fn 1, tn 3: κ 0.50
    assert "0.50" in line and "75% (30–95%)" in line
    assert fake_openai.count == 8 and await runs(db) == []  # nothing stored


async def test_export_judgments(db, judge_env, clock, fake_openai, capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    await replies(db, ["judge-fail:tone first", "second judge-behave:refusal"], YESTERDAY, at=YESTERDAY)
    await judge_replies_via_cli(db, judge_env, clock)
    out = tmp_path / "judgments.csv"
    env = CliEnv(Settings(_env_file=None, database_url=db.url), clock=clock, _config=judge_env)
    try:
        args = build_parser().parse_args(["export", "judgments", "-o", str(out)])
        assert await command_export(args, env) == 0
        jsonl = tmp_path / "judgments.jsonl"
        args = build_parser().parse_args(["export", "judgments", "--format", "jsonl", "-o", str(jsonl)])
        assert await command_export(args, env) == 0
    finally:
        await env.close()
    header = "reply_id,criterion,verdict,rationale,model,prompt_version,input_tokens,output_tokens"
    assert out.read_text().splitlines()[0] == header  # the columns, in its order
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    judged = [r for r in rows if r["reply_id"] == "J-0000"]
    assert len(judged) == 5 and {r["criterion"]: r["verdict"] for r in judged}["tone"] == "fail"
    assert all(r["model"] == "judge-test" and r["prompt_version"].startswith("p-") for r in judged)
    assert int(judged[0]["input_tokens"]) > 0
    (failed,) = [r for r in rows if r["reply_id"] == "J-0001"]
    assert (
        failed["verdict"] == "error"
        and failed["criterion"] == ""
        and failed["rationale"].startswith("refusal:")
    )
    assert len(jsonl.read_text().splitlines()) == len(rows)


async def test_the_scheduled_job_judges_recent_replies_in_mode_all(
    db, config, clock, fake_openai, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    use_key(monkeypatch)
    await replies(db, ["recent one", "recent two"], YESTERDAY, at=YESTERDAY)
    await replies(db, ["old"], YESTERDAY, prefix="O", at=YESTERDAY - dt.timedelta(days=10))
    sample_mode = judge_services(db, judge_config(config, fake_openai), clock)
    assert await judge_pending(sample_mode) is None and fake_openai.count == 0

    services = judge_services(db, judge_config(config, fake_openai, mode="all", max_replies_per_day=1), clock)
    first = await judge_pending(services)
    assert first is not None and first.judged == 1  # the budget
    clock.advance(days=1)
    assert (await judge_pending(services)).judged == 1  # type: ignore[union-attr]
    assert await judge_pending(services) is None and fake_openai.count == 2  # the old one is out of reach


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[judge]\nmode = "sometimes"\n', "judge.mode"),
        ("[judge]\nconcurrency = 0\n", "judge.concurrency"),
        ('[judge]\nbuiltin = ["tone", "vibes"]\n', "judge.builtin"),
        ('[[judge.criteria]]\nid = "sla"\ncategory = "policy_logic"\n', "needs a question"),
        ('[[judge.criteria]]\nid = "sla"\ncategory = "nope"\nquestion = "q?"\n', "unknown category"),
        ('[[judge.criteria]]\nid = "Bad Id"\nquestion = "q?"\n', "judge.criteria.0.id"),
        ('[judge]\nazure_endpoint = "https://x.openai.azure.com"\n', "api_version"),
        ('[judge]\nbase_url = "not a url"\n', "judge.base_url"),
    ],
)
def test_bad_judge_settings_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "auditbot.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config(Settings(_env_file=None), path)
    assert key in str(error.value) and str(path) in str(error.value)


def test_config_check_wants_the_key_only_when_the_judge_is_on(tmp_path: Path) -> None:
    def check(text: str, **env: str) -> subprocess.CompletedProcess[str]:
        path = tmp_path / "auditbot.toml"
        path.write_text(text)
        return subprocess.run(
            [sys.executable, "-m", "bot.cli", "config", "check", "--file", str(path)],
            capture_output=True, text=True, cwd=tmp_path, timeout=60,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), **env},
        )  # fmt: skip

    assert check('[judge]\nmode = "off"\n').returncode == 0
    missing = check('[judge]\nmode = "all"\n')
    assert missing.returncode == 2 and "judge.api_key_env: OPENAI_API_KEY is not set" in missing.stderr
    custom = check('[judge]\nmode = "sample"\napi_key_env = "LLM_KEY"\n', LLM_KEY="sk-secret-value")
    assert custom.returncode == 0 and "sk-secret-value" not in custom.stdout + custom.stderr
    empty = check('[judge]\nmode = "sample"\nbuiltin = []\n', OPENAI_API_KEY="sk-x")
    assert empty.returncode == 2 and "no criteria to ask" in empty.stderr
