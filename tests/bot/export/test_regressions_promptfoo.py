"""The regression cases read by the real promptfoo CLI (skipped where it is not installed).

promptfoo is a Node tool: these tests run `npx --no -- promptfoo@VERSION`, which never downloads
(`--no`), so a machine without it in the npx cache skips them instead of waiting on the registry.
Enable once with `npx -y promptfoo@0.118.17 --version`. The AI under test is promptfoo's built-in
`echo` provider (its output is the prompt: the customer's message), so nothing reaches a model;
only the deterministic `not-contains` assertions are checked, the `llm-rubric` needs a real grader.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bot.core.db import Database
from bot.export.regressions import write
from tests.bot.export.defect_data import seed_defects

PROMPTFOO = "promptfoo@0.118.17"  # the newest release that runs on Node 20 (later ones need Node 22)


def promptfoo(tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("npx (Node.js) not installed")
    env = {
        **os.environ,
        "PROMPTFOO_DISABLE_TELEMETRY": "1",
        "PROMPTFOO_DISABLE_UPDATE": "1",
        "PROMPTFOO_CONFIG_DIR": str(tmp_path / "promptfoo"),
    }
    command = [npx, "--no", "--", PROMPTFOO]
    try:
        probe = subprocess.run([*command, "--version"], capture_output=True, env=env, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        pytest.skip(f"{PROMPTFOO} did not answer within 60 s")
    if probe.returncode != 0:
        pytest.skip(f"{PROMPTFOO} is not in the npx cache (`npx -y {PROMPTFOO} --version` adds it)")
    return command, env


async def exported(db: Database, tmp_path: Path) -> Path:
    await seed_defects(db)
    out = io.StringIO()
    await write(db, out, "promptfoo")
    path = tmp_path / "regressions.yaml"
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


async def test_promptfoo_validates_the_export_with_the_teams_providers(db: Database, tmp_path: Path) -> None:
    command, env = promptfoo(tmp_path)
    cases = await exported(db, tmp_path)
    providers = tmp_path / "providers.yaml"
    providers.write_text("providers:\n  - echo\n", encoding="utf-8")
    run = subprocess.run(
        [*command, "validate", "-c", str(providers), "-c", str(cases)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Configuration is valid" in run.stdout + run.stderr


async def test_promptfoo_eval_fails_an_answer_that_repeats_the_bad_reply_or_its_placeholder(
    db: Database, tmp_path: Path
) -> None:
    command, env = promptfoo(tmp_path)
    config = yaml.safe_load((await exported(db, tmp_path)).read_text(encoding="utf-8"))
    good = config["tests"][0]
    # echo answers with the customer's message: make one copy "answer" with the bad reply itself
    repeat = {
        **good,
        "description": "repeats",
        "vars": {**good["vars"], "customer_message": good["vars"]["bad_reply"]},
    }
    config["tests"] = [good, repeat]
    config["providers"] = ["echo"]
    config["defaultTest"] = {"options": {"provider": "echo"}}  # the rubric's grader: no model called
    path = tmp_path / "eval.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    out = tmp_path / "results.json"
    run = subprocess.run(
        [*command, "eval", "-c", str(path), "--no-cache", "--no-table", "--no-progress-bar", "-o", str(out)],
        capture_output=True, text=True, env=env, timeout=180, check=False,
    )  # fmt: skip
    assert out.exists(), run.stdout + run.stderr
    results = json.loads(out.read_text(encoding="utf-8"))["results"]["results"]
    verdicts = {
        r["testCase"]["description"]: {
            c["assertion"].get("metric"): c["pass"]
            for c in r["gradingResult"]["componentResults"]
            if c["assertion"]["type"] == "not-contains"
        }
        for r in results
    }
    assert verdicts[good["description"]] == {"not_the_bad_reply": True, "placeholder": True}
    # the leaked {{first_name}} stays text through promptfoo's Nunjucks rendering, in the prompt's var
    # and in the assertion: an answer that repeats it fails
    assert verdicts["repeats"] == {"not_the_bad_reply": False, "placeholder": False}
