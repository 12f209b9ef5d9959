"""The manifest declares exactly what the bot uses: its commands, events and scopes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot.cli.manifest import build_manifest
from handlers import register
from tests.conftest import REPO, SPECS

METHOD_DOCS = SPECS / "slack" / "method-docs"
CALL = re.compile(r"\bclient\.([a-z]+_[A-Za-z_0-9]+)\(")
# Web API methods that SDK helpers call on our behalf.
COMPOSITE = {"files_upload_v2": ["files.getUploadURLExternal", "files.completeUploadExternal"]}
# Methods the shared method docs do not cover, with the bot scopes Slack documents for them.
OTHER_SCOPES = {
    "conversations.history": {"channels:history", "groups:history", "im:history", "mpim:history"},
    "apps.connections.open": set(),  # the app-level token's `connections:write`, not a bot scope
}


class RecordingApp:
    """Stands in for AsyncApp in `register`, noting what each listener listens to."""

    def __init__(self) -> None:
        self.commands: set[str] = set()
        self.events: set[str] = set()
        self.actions: set[str] = set()
        self.views: set[str] = set()

    def _record(self, bucket: set[str], key: object):  # type: ignore[no-untyped-def]
        if isinstance(key, dict):
            key = key.get("type") or key.get("callback_id") or key.get("action_id")
        bucket.add(key if isinstance(key, str) else getattr(key, "pattern", repr(key)))
        return lambda func: func

    def command(self, name, *a, **k):  # type: ignore[no-untyped-def]
        return self._record(self.commands, name)

    def event(self, name, *a, **k):  # type: ignore[no-untyped-def]
        return self._record(self.events, name)

    def action(self, name, *a, **k):  # type: ignore[no-untyped-def]
        return self._record(self.actions, name)

    def view(self, name, *a, **k):  # type: ignore[no-untyped-def]
        return self._record(self.views, name)

    def view_submission(self, name, *a, **k):  # type: ignore[no-untyped-def]
        return self._record(self.views, name)

    def view_closed(self, name, *a, **k):  # type: ignore[no-untyped-def]
        return self._record(self.views, name)

    def use(self, *a, **k):  # type: ignore[no-untyped-def]
        return a[0] if a else (lambda func: func)

    def middleware(self, *a, **k):  # type: ignore[no-untyped-def]
        return self.use(*a, **k)

    def error(self, *a, **k):  # type: ignore[no-untyped-def]
        return self.use(*a, **k)


@pytest.fixture(scope="module")
def listeners() -> RecordingApp:
    app = RecordingApp()
    register(app)  # type: ignore[arg-type]
    return app


def _methods_called() -> set[str]:
    methods: set[str] = set()
    for path in [*REPO.glob("bot/**/*.py"), *REPO.glob("handlers/**/*.py")]:
        for name in CALL.findall(path.read_text(encoding="utf-8")):
            if name in COMPOSITE:
                methods.update(COMPOSITE[name])
            elif "_" in name and not name.startswith("from_"):
                family, _, rest = name.partition("_")
                methods.add(f"{family}.{rest.replace('_', '.')}")
    return methods


def _bot_scopes(method: str) -> set[str]:
    doc = METHOD_DOCS / f"{method}.json"
    if method in OTHER_SCOPES:
        return OTHER_SCOPES[method]
    assert doc.exists(), f"no method doc for {method}: is it a real Slack method?"
    scopes = json.loads(doc.read_text(encoding="utf-8")).get("scopes") or {}
    return {s["name"] for s in scopes.get("bot", [])}


def test_every_command_and_event_is_declared(listeners: RecordingApp) -> None:
    manifest = build_manifest()
    declared_commands = {c["command"] for c in manifest["features"]["slash_commands"]}
    declared_events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert listeners.commands == declared_commands
    assert listeners.events == declared_events
    assert manifest["settings"]["interactivity"]["is_enabled"] == bool(listeners.actions or listeners.views)
    if "app_home_opened" in listeners.events:
        assert manifest["features"]["app_home"]["home_tab_enabled"]


def test_scopes_are_exactly_those_used(listeners: RecordingApp) -> None:
    declared = set(build_manifest()["oauth_config"]["scopes"]["bot"])
    methods = _methods_called()
    assert "chat.postMessage" in methods or "chat.update" in methods
    justified: set[str] = {"commands"} if listeners.commands else set()
    for method in sorted(methods):
        needs = _bot_scopes(method)
        if needs:
            assert needs & declared, f"{method} needs one of {sorted(needs)}"
            justified |= needs & declared
    assert declared - justified == set(), "declared but unused"


def test_socket_mode_default_and_http_variant() -> None:
    assert build_manifest()["settings"]["socket_mode_enabled"] is True
    http = build_manifest("https://audit.example.com/")
    assert http["settings"]["socket_mode_enabled"] is False
    endpoint = "https://audit.example.com/slack/events"
    assert http["settings"]["interactivity"]["request_url"] == endpoint
    assert http["settings"]["event_subscriptions"]["request_url"] == endpoint
    assert all(c["url"] == endpoint for c in http["features"]["slash_commands"])


def test_manifest_file_is_valid_json() -> None:
    json.loads(Path(REPO / "bot" / "manifest.json").read_text(encoding="utf-8"))
