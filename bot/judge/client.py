"""Calls through the official `openai` SDK: OpenAI, Azure OpenAI, and compatible servers (vLLM,
Ollama, LiteLLM) at `base_url`. The SDK retries 408/409/429/5xx and timeouts with backoff,
honouring `Retry-After`; what still fails is classified here so a run records why."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dotenv import dotenv_values

from bot.core.config import JudgeConfig
from bot.judge.prompt import AnswerError, Request, Verdict, parse_answer, response_format

if TYPE_CHECKING:  # the SDK takes a second to import: only the processes that call it pay
    import openai

log = logging.getLogger("auditbot.judge")
ERROR_MAX = 300


class JudgeUnavailable(Exception):
    """The judge cannot be called at all (no API key); `kind` is stored on the runs it skips."""

    kind = "not_configured"


@dataclass(frozen=True)
class Completion:
    content: str | None
    refusal: str | None
    finish_reason: str | None
    input_tokens: int
    output_tokens: int
    response_format: str  # json_schema | json_object


def api_key(config: JudgeConfig, environ: Mapping[str, str] | None = None) -> str | None:
    """The key from the variable `api_key_env` names: the environment, then `.env`."""
    environ = os.environ if environ is None else environ
    return environ.get(config.api_key_env) or dotenv_values(".env").get(config.api_key_env) or None


def build_sdk_client(config: JudgeConfig, environ: Mapping[str, str] | None = None) -> openai.AsyncOpenAI:
    """AsyncAzureOpenAI when `azure_endpoint` is set, else AsyncOpenAI (`base_url`, else OPENAI_BASE_URL)."""
    import openai

    key = api_key(config, environ)
    if not key:
        raise JudgeUnavailable(f"{config.api_key_env} is not set")
    common: dict[str, Any] = {"api_key": key, "timeout": config.timeout_s, "max_retries": config.max_retries}
    if config.azure_endpoint:
        return openai.AsyncAzureOpenAI(
            azure_endpoint=config.azure_endpoint,
            azure_deployment=config.azure_deployment,
            api_version=config.api_version,
            **common,
        )
    return openai.AsyncOpenAI(base_url=config.base_url, **common)


class JudgeClient:
    """One model behind one SDK client; falls back to JSON mode once if json_schema is refused."""

    def __init__(self, sdk: openai.AsyncOpenAI, config: JudgeConfig) -> None:
        self.sdk, self.config = sdk, config
        self.structured = config.structured_outputs

    async def complete(self, request: Request) -> Completion:
        import openai

        try:
            return await self._create(request, self.structured)
        except openai.BadRequestError as exc:
            if not (self.structured and _about_response_format(exc)):
                raise
            log.warning("judge: %s refused structured outputs; using JSON mode", self.config.model)
            self.structured = False
            return await self._create(request, False)

    async def _create(self, request: Request, structured: bool) -> Completion:
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": request.messages,
            "response_format": response_format(request, structured),
        }
        if self.config.temperature is not None:
            body["temperature"] = self.config.temperature
        if self.config.max_output_tokens is not None:
            body["max_completion_tokens"] = self.config.max_output_tokens
        answer = await self.sdk.chat.completions.create(**body)
        if not answer.choices:
            raise AnswerError("malformed", "the answer has no choices")
        choice = answer.choices[0]
        usage = answer.usage
        return Completion(
            content=choice.message.content,
            refusal=getattr(choice.message, "refusal", None),
            finish_reason=choice.finish_reason,
            input_tokens=(usage.prompt_tokens or 0) if usage else 0,
            output_tokens=(usage.completion_tokens or 0) if usage else 0,
            response_format="json_schema" if structured else "json_object",
        )

    async def close(self) -> None:
        await self.sdk.close()


async def ask(client: JudgeClient, request: Request) -> tuple[dict[str, Verdict], Completion]:
    """The verdicts of one call. An unusable answer raises AnswerError carrying the completion
    (`.completion`), so its tokens are still counted."""
    answer = await client.complete(request)
    try:
        if answer.refusal:
            raise AnswerError("refusal", f"the model refused: {answer.refusal[:200]}")
        if answer.finish_reason == "length":
            raise AnswerError("truncated", "the answer was cut at the token limit")
        return parse_answer(answer.content, request.criteria), answer
    except AnswerError as exc:
        exc.completion = answer
        raise


def _about_response_format(exc: Exception) -> bool:
    text = str(exc).lower()
    return "response_format" in text or "json_schema" in text or "structured" in text


def classify(exc: BaseException) -> tuple[str, bool, str]:
    """(kind, retryable, message) for a failed call; the message never holds the request."""
    import openai

    if isinstance(exc, AnswerError):
        return exc.kind, False, _short(str(exc))
    if isinstance(exc, JudgeUnavailable):
        return exc.kind, True, _short(str(exc))
    if isinstance(exc, openai.APITimeoutError):
        return "timeout", True, "no answer within timeout_s (after the SDK's retries)"
    if isinstance(exc, openai.APIConnectionError):
        return "connection", True, _short(f"could not reach the model server: {exc}")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        kinds = {429: "rate_limited", 401: "auth", 403: "auth", 404: "not_found"}
        kind = kinds.get(status) or ("server_error" if status >= 500 else "bad_request")
        return kind, kind != "bad_request", _short(f"HTTP {status}: {exc.message}")
    return "failed", True, _short(f"{type(exc).__name__}: {exc}")


FATAL = frozenset({"auth", "not_found", "not_configured"})  # every other call would fail the same way


def _short(text: str) -> str:
    return text if len(text) <= ERROR_MAX else text[: ERROR_MAX - 1] + "…"


def config_problems(config: JudgeConfig, where: str, has_criteria: bool) -> list[str]:
    """What `auditbot config check` reports about a judge that is on but cannot run."""
    if config.mode == "off":
        return []
    problems = []
    if not api_key(config):
        problems.append(
            f"{where}: judge.api_key_env: {config.api_key_env} is not set in the environment or .env "
            f'(needed with mode = "{config.mode}")'
        )
    if not has_criteria:
        problems.append(
            f"{where}: judge.builtin: no criteria to ask (enable a built-in or add [[judge.criteria]])"
        )
    return problems
