"""Judging against the loopback fake with the real `openai` SDK: answers, faults, the cache, budgets."""

from __future__ import annotations

import asyncio

import pytest

from bot.judge.hints import hint_shown, hints_for
from bot.judge.runner import Judge, judge_replies
from bot.judge.store import MAX_ATTEMPTS, claim
from tests.bot.judge.support import judge_config, judge_services, replies, runs, use_key, verdicts
from tests.fakes.openai_api import FakeOpenAI


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    use_key(monkeypatch)


async def test_structured_output_is_parsed_and_stored_with_tokens_and_cost(
    db, config, clock, fake_openai
) -> None:  # type: ignore[no-untyped-def]
    config = judge_config(config, fake_openai, input_price_per_1m=2.0, output_price_per_1m=8.0)
    ids = await replies(db, ["Refunds within 24 h, judge-fail:no_invention", "All good here."], clock.now())

    summary = await judge_replies(judge_services(db, config, clock), ids)

    assert summary.judged == 2 and not summary.errors
    assert fake_openai.problems == [] and fake_openai.count == 2
    body = fake_openai.calls()[0].body
    assert body["model"] == "judge-test" and body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    first = await verdicts(db, ids[0])
    assert first["no_invention"] == "fail" and first["tone"] == "pass"
    assert "kb_consistent" not in first  # no article text on the record: not asked
    assert set((await verdicts(db, ids[1])).values()) == {"pass"}
    run = (await runs(db))[0]
    assert run.status == "ok" and run.response_format == "json_schema" and run.attempts == 1
    assert run.input_tokens > 0 and run.output_tokens > 0
    assert run.cost_usd == pytest.approx((run.input_tokens * 2 + run.output_tokens * 8) / 1e6)
    assert summary.input_tokens == sum(r.input_tokens for r in await runs(db))


async def test_a_second_run_makes_no_calls(db, config, clock, fake_openai) -> None:  # type: ignore[no-untyped-def]
    config = judge_config(config, fake_openai)
    ids = await replies(db, ["one", "two", "three"], clock.now())
    fake_openai.script("malformed")  # an unusable answer is final too
    services = judge_services(db, config, clock)
    await judge_replies(services, ids)
    assert fake_openai.count == 3

    again = await judge_replies(services, ids)

    assert fake_openai.count == 3 and again.already == 3 and again.judged == 0


async def test_429_then_success(db, config, clock, fake_openai) -> None:  # type: ignore[no-untyped-def]
    config = judge_config(config, fake_openai, max_retries=2)
    (rid,) = await replies(db, ["Hello"], clock.now())
    fake_openai.script("429")

    summary = await judge_replies(judge_services(db, config, clock), [rid])

    assert summary.judged == 1 and [c.status for c in fake_openai.calls()] == [429, 200]
    assert (await runs(db))[0].status == "ok"


async def test_500_after_the_sdk_retries_is_recorded_and_tried_again_later(
    db, config, clock, fake_openai
) -> None:  # type: ignore[no-untyped-def]
    config = judge_config(config, fake_openai, max_retries=1)
    (rid,) = await replies(db, ["Hello"], clock.now())
    fake_openai.script("500", "500")
    services = judge_services(db, config, clock)

    summary = await judge_replies(services, [rid])

    assert summary.errors == {"server_error": 1} and fake_openai.count == 2
    (run,) = await runs(db)
    assert (run.status, run.error_kind, run.retryable) == ("error", "server_error", True)
    assert "HTTP 500" in (run.error or "")
    again = await judge_replies(services, [rid])  # no answer came: a later pass tries again
    assert again.judged == 1 and (await runs(db))[0].attempts == 2


async def test_timeout_is_recorded_without_crashing(db, config, clock, fake_openai) -> None:  # type: ignore[no-untyped-def]
    # the marker (not script()) picks the slow call whatever order the two calls arrive in; the
    # timeout leaves the quick one room on a loaded machine
    config = judge_config(config, fake_openai, timeout_s=2.0)
    ids = await replies(db, ["slow one judge-behave:slow", "quick one"], clock.now())

    summary = await judge_replies(judge_services(db, config, clock), ids)

    assert summary.errors == {"timeout": 1} and summary.judged == 1
    statuses = {r.reply_id: (r.status, r.error_kind, r.retryable) for r in await runs(db)}
    assert statuses[ids[0]] == ("error", "timeout", True) and statuses[ids[1]][0] == "ok"


@pytest.mark.parametrize(
    ("behaviour", "kind"),
    [("malformed", "malformed"), ("schema", "schema"), ("refusal", "refusal"), ("length", "truncated")],
)
async def test_unusable_answers_are_final_errors(db, config, clock, fake_openai, behaviour, kind) -> None:  # type: ignore[no-untyped-def]
    config = judge_config(config, fake_openai)
    ids = await replies(db, [f"bad answer judge-behave:{behaviour}", "good answer"], clock.now())

    summary = await judge_replies(judge_services(db, config, clock), ids)

    assert summary.errors == {kind: 1} and summary.judged == 1
    run = next(r for r in await runs(db) if r.reply_id == ids[0])
    assert (run.status, run.error_kind, run.retryable) == ("error", kind, False)
    assert run.output_tokens >= 0 and await verdicts(db, ids[0]) == {}


async def test_servers_without_json_schema_get_json_mode(db, config, clock, fake_openai) -> None:  # type: ignore[no-untyped-def]
    fake_openai.json_schema_supported = False
    config = judge_config(config, fake_openai, concurrency=1)
    ids = await replies(db, ["judge-fail:tone you again?", "fine"], clock.now())

    summary = await judge_replies(judge_services(db, config, clock), ids)

    assert summary.judged == 2 and fake_openai.problems == []
    formats = [c.body["response_format"]["type"] for c in fake_openai.calls()]
    assert formats == ["json_schema", "json_object", "json_object"]  # refused once, then JSON mode
    assert (await verdicts(db, ids[0]))["tone"] == "fail"
    assert {r.response_format for r in await runs(db)} == {"json_object"}


async def test_a_refused_key_stops_the_pass(db, config, clock, fake_openai, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    use_key(monkeypatch, "sk-wrong")
    config = judge_config(config, fake_openai, concurrency=1)
    ids = await replies(db, ["a", "b", "c"], clock.now())

    summary = await judge_replies(judge_services(db, config, clock), ids)

    assert fake_openai.count == 1 and summary.errors == {"auth": 1}
    kinds = sorted(r.error_kind for r in await runs(db))
    assert kinds == ["auth", "skipped", "skipped"]


async def test_without_an_api_key_nothing_is_called_and_the_cards_can_say_why(
    db, config, clock, fake_openai, monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.chdir(tmp_path)  # no .env here either
    config = judge_config(config, fake_openai)
    ids = await replies(db, ["a", "b"], clock.now())

    quiet = await judge_replies(judge_services(db, config, clock), ids)  # the scheduled job: nothing written
    assert quiet.unavailable == "OPENAI_API_KEY is not set" and await runs(db) == []

    summary = await judge_replies(judge_services(db, config, clock), ids, explain=True)  # the daily sample

    assert fake_openai.count == 0 and summary.unavailable == "OPENAI_API_KEY is not set"
    assert {(r.status, r.error_kind, r.attempts) for r in await runs(db)} == {("error", "not_configured", 0)}
    use_key(monkeypatch)
    assert (await judge_replies(judge_services(db, config, clock), ids)).judged == 2  # once the key is set


async def test_daily_budget_and_limit(db, config, clock, fake_openai) -> None:  # type: ignore[no-untyped-def]
    config = judge_config(config, fake_openai, max_replies_per_day=3)
    ids = await replies(db, [f"reply {n}" for n in range(5)], clock.now())
    services = judge_services(db, config, clock)

    first = await judge_replies(services, ids, limit=2)
    second = await judge_replies(services, ids)

    assert (first.judged, second.judged, second.over_budget) == (2, 1, 2)
    assert fake_openai.count == 3
    clock.advance(days=1)  # a new day, a new budget
    assert (await judge_replies(services, ids)).judged == 2


async def test_concurrency_is_bounded(db, config, clock, fake_openai) -> None:  # type: ignore[no-untyped-def]
    fake_openai.latency = 0.05
    config = judge_config(config, fake_openai, concurrency=3)
    ids = await replies(db, [f"reply {n}" for n in range(9)], clock.now())

    assert (await judge_replies(judge_services(db, config, clock), ids)).judged == 9
    assert 1 <= fake_openai.max_in_flight <= 3


async def test_the_deadline_releases_what_is_unfinished(db, config, clock, fake_openai) -> None:  # type: ignore[no-untyped-def]
    config = judge_config(config, fake_openai, concurrency=1)
    ids = await replies(db, ["held", "waiting"], clock.now())
    fake_openai.script("slow")

    summary = await judge_replies(judge_services(db, config, clock), ids, deadline=0.5)

    assert summary.cut_off == 2 and summary.judged == 0
    assert {(r.status, r.error_kind, r.retryable, r.attempts) for r in await runs(db)} == {
        ("error", "deadline", True, 0)
    }
    assert MAX_ATTEMPTS > 1


async def test_azure_openai_deployment_path_and_key_header(db, config, clock, fake_openai) -> None:  # type: ignore[no-untyped-def]
    config = judge_config(
        config, fake_openai, base_url=None, azure_endpoint=fake_openai.azure_endpoint,
        azure_deployment="judge-dep", api_version="2024-10-21",
    )  # fmt: skip
    (rid,) = await replies(db, ["Hello"], clock.now())

    assert (await judge_replies(judge_services(db, config, clock), [rid])).judged == 1
    (call,) = fake_openai.calls()
    assert call.path == "/openai/deployments/judge-dep/chat/completions"
    assert call.headers.get("api-key") == "[redacted]" and fake_openai.problems == []


async def test_openai_base_url_is_honoured(db, config, clock, fake_openai, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    config = judge_config(config, fake_openai, base_url=None)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.url)
    (rid,) = await replies(db, ["Hello"], clock.now())

    assert (await judge_replies(judge_services(db, config, clock), [rid])).judged == 1
    assert fake_openai.count == 1


async def test_judge_off_by_default_needs_no_key() -> None:
    from bot.core.config import AuditConfig

    assert AuditConfig().judge.mode == "off"


def test_fake_refuses_requests_outside_the_spec() -> None:
    with FakeOpenAI() as fake:
        import httpx

        answer = httpx.post(
            fake.url + "/chat/completions",
            json={"model": "x", "messages": []},
            headers={"Authorization": "Bearer sk-test-judge"},
        )
    assert answer.status_code == 400 and fake.problems and "messages" in fake.problems[0]


async def test_two_passes_at_once_call_once_per_reply(db, config, clock, fake_openai) -> None:  # type: ignore[no-untyped-def]
    """Two sessions (two replicas, or the CLI beside the scheduler) judging the same replies at once."""
    fake_openai.latency = 0.05
    config = judge_config(config, fake_openai, concurrency=4)
    ids = await replies(db, [f"reply {n}" for n in range(12)], clock.now())
    services = judge_services(db, config, clock)

    first, second = await asyncio.gather(judge_replies(services, ids), judge_replies(services, ids))

    assert first.judged + second.judged == 12 and fake_openai.count == 12
    assert sorted(r.reply_id for r in await runs(db)) == sorted(ids)


async def test_a_run_left_pending_by_a_dead_process_is_taken_over_once_stale(
    db, config, clock, fake_openai
) -> None:  # type: ignore[no-untyped-def]
    config = judge_config(config, fake_openai)
    (rid,) = await replies(db, ["orphan"], clock.now())
    key = Judge.of(config).key
    assert await claim(db, key, [rid], "a-process-that-died", clock.now())  # then it died mid-call
    services = judge_services(db, config, clock)

    assert (await judge_replies(services, [rid])).already == 1 and fake_openai.count == 0
    clock.advance(minutes=16)
    assert (await judge_replies(services, [rid])).judged == 1 and fake_openai.count == 1
    (run,) = await runs(db)
    assert (run.status, run.attempts, run.claim) == ("ok", 2, None)


async def test_the_sample_says_when_the_budget_is_spent(db, config, clock, fake_openai) -> None:  # type: ignore[no-untyped-def]
    config = judge_config(config, fake_openai, max_replies_per_day=1)
    ids = await replies(db, ["first", "second"], clock.now())
    services = judge_services(db, config, clock)

    summary = await judge_replies(services, ids, explain=True)

    assert (summary.judged, summary.over_budget, fake_openai.count) == (1, 1, 1)
    async with db.session() as session:
        hints = await hints_for(session, ids)
    assert "the daily budget (max_replies_per_day) was spent" in (hints[ids[1]].note or "")
    clock.advance(days=1)
    assert (await judge_replies(services, ids)).judged == 1  # tried again with the next day's budget


@pytest.mark.parametrize(
    ("policy", "double_review", "verdicts", "shown"),
    [
        ("always", False, (), True),
        ("never", True, ("correct", "defect"), False),
        ("after_review", False, (), False),
        ("after_review", False, ("unsure",), False),  # "not sure" decides nothing
        ("after_review", False, ("defect",), True),
        ("after_review", True, ("correct",), False),  # the second reviewer has not judged yet
        ("after_review", True, ("correct", "unsure"), False),
        ("after_review", True, ("correct", "defect"), True),
    ],
)
def test_when_a_card_shows_the_judges_hint(policy, double_review, verdicts, shown) -> None:  # type: ignore[no-untyped-def]
    assert hint_shown(policy, double_review=double_review, verdicts=verdicts) is shown
