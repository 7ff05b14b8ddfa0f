"""``/api/monitor/config`` on a running sidecar: invalid changes refused whole with every problem named,
merge patch and replace, masked secrets, restart-only keys, and the audit trail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.alerting.receivers import HttpReceiver
from tests.auth.conftest import AuthSidecar, auth_sidecar_process, bearer
from tests.config.conftest import (
    CONFIG,
    config_sidecar,
    config_sidecar_process,
    get_config,
    history,
    patch_config,
    put_config,
)
from tests.support import loopback
from tests.support.sidecar import SidecarProcess, started_ahead

SECRET = "sekrit-token-42"


@pytest.fixture(scope="module")
def own(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A fresh sidecar for each test below that takes ``sidecar`` (by the test's name), and one with
    authentication on, all started together ahead of them: the audit trail and the version a test reads
    are its own."""
    selected = [item for item in request.session.items if item.module is request.module]
    takers = [item.name for item in selected if "sidecar" in item.fixturenames]
    authenticating = auth_sidecar_process(tmp_path_factory.mktemp("authenticating"))
    with started_ahead(
        authenticating=authenticating.process,
        **{name: config_sidecar_process(tmp_path_factory.mktemp("rest"), "feed_tick_ms = 30\n") for name in takers},
    ) as sidecars:
        yield {**sidecars, "authenticating": authenticating}


@pytest.fixture
def sidecar(request: pytest.FixtureRequest, own: dict[str, Any]) -> Iterator[SidecarProcess]:
    process = own[request.node.name]
    yield process
    process.stop_soon()


def test_an_invalid_patch_lists_every_problem_and_changes_nothing(sidecar):
    before = get_config(sidecar)
    response = patch_config(
        sidecar,
        {
            "feed_tick_ms": 0,
            "progress_interval_s": "fast",
            "alerting": {"rules": {"job_stalled": {"after_s": -1, "severity": "loud"}}, "delivery": {"attempts": 0}},
        },
        user="alice",
    )
    assert response.status_code == 422, response.text
    problems = {problem["key"]: problem for problem in response.json()["extra"]}
    assert set(problems) == {
        "feed_tick_ms",
        "progress_interval_s",
        "alerting.rules.job_stalled.after_s",
        "alerting.rules.job_stalled.severity",
        "alerting.delivery.attempts",
    }
    assert problems["feed_tick_ms"]["value"] == 0 and problems["feed_tick_ms"]["allowed"] == "an integer >= 1"
    assert problems["alerting.rules.job_stalled.severity"]["value"] == "loud"
    assert "'critical'" in problems["alerting.rules.job_stalled.severity"]["allowed"]
    assert problems["alerting.delivery.attempts"]["allowed"] == "an integer from 1 to 20"
    assert all(problem["source"] == "the request" for problem in problems.values())
    assert all(key in response.json()["detail"] for key in problems)
    assert get_config(sidecar) == before
    [rejected] = history(sidecar)
    assert (rejected["who"], rejected["accepted"], rejected["source"]) == ("alice", False, "patch")
    assert {error["key"] for error in rejected["errors"]} == set(problems)


def test_unknown_keys_are_refused_by_name(sidecar):
    before = get_config(sidecar)
    response = patch_config(
        sidecar, {"colour": "blue", "feed_tick_ms": 40, "alerting": {"rulez": {}}, "api_token": "t0ps3cret"}
    )
    assert response.status_code == 422
    problems = {problem["key"]: problem["message"] for problem in response.json()["extra"]}
    assert problems == {
        "colour": "unknown key 'colour'",
        "alerting.rulez": "unknown key 'rulez' (did you mean 'rules'?)",
        "api_token": "unknown key 'api_token'",
    }
    values = {problem["key"]: problem.get("value") for problem in response.json()["extra"]}
    assert values == {"colour": "blue", "alerting.rulez": None, "api_token": "****"}, "a table is not repeated"
    assert "t0ps3cret" not in response.text
    assert get_config(sidecar) == before, "the valid key in the same patch is not applied either"


def test_keys_that_apply_at_start_are_refused_at_runtime(sidecar):
    before = get_config(sidecar)
    response = patch_config(
        sidecar,
        {
            "port": sidecar.port + 1,
            "database_url": "sqlite+aiosqlite:///other.db",
            "broker_url": "redis://:hunter22@127.0.0.1:6379/0",
        },
    )
    assert response.status_code == 422
    problems = {problem["key"]: problem for problem in response.json()["extra"]}
    assert set(problems) == {"port", "database_url", "broker_url"}
    assert all(problem["message"].startswith("applies only when the sidecar starts") for problem in problems.values())
    assert problems["broker_url"]["value"] == "redis://:****@127.0.0.1:6379/0"
    assert "hunter22" not in response.text
    assert get_config(sidecar) == before
    # The running value itself is no change (a document read with GET may be sent back whole).
    answer = patch_config(sidecar, {"port": sidecar.port, "feed_tick_ms": 40}).json()
    assert answer["runtime"] == {"feed_tick_ms": 40}
    assert set(answer["restart_required"]) == {
        "host",
        "port",
        "database_url",
        "broker_url",
        "bus_stream",
        "bus_stream_maxlen",
    }


def test_null_removes_a_runtime_change_and_the_file_value_is_back(sidecar):
    answer = patch_config(sidecar, {"feed_tick_ms": 50, "retention_days": 7}).json()
    assert (answer["values"]["feed_tick_ms"], answer["sources"]["feed_tick_ms"]) == (50, "runtime")
    answer = patch_config(sidecar, {"feed_tick_ms": None}).json()
    assert (answer["values"]["feed_tick_ms"], answer["sources"]["feed_tick_ms"]) == (30, "file")
    assert answer["runtime"] == {"retention_days": 7} and answer["version"] == 2
    assert answer["sources"]["port"] == "env" and answer["sources"]["recent_logs_per_job"] == "default"


def test_put_replaces_the_runtime_changes_and_masked_secrets_sent_back_keep_their_value(
    tmp_path, receiver: HttpReceiver
):
    url = receiver.url("json", "/hook") + f"?+X-Token={SECRET}"
    sidecar = config_sidecar(tmp_path, f'[[alerting.channels]]\nname = "hook"\nurl = "{url}"\n')
    try:
        shown = get_config(sidecar)
        assert SECRET not in json.dumps(shown)
        channels = shown["values"]["alerting"]["channels"]
        document = {
            "alerting": {
                "channels": [{**channels[0], "tags": ["ops"]}],
                "rules": {"job_failed": {"severity": "critical"}},
            }
        }
        answer = put_config(sidecar, document)
        assert answer.status_code == 200, answer.text
        assert answer.json()["sources"]["alerting.channels"] == "runtime" and SECRET not in answer.text
        test = sidecar.post("/api/notifications/test", json={"channel": "ops"})
        assert test.json()["results"][0]["result"] == "sent"
        [message] = receiver.wait("/hook")
        assert message.headers["X-Token"] == SECRET, "the masked URL sent back kept its secret"

        answer = put_config(sidecar, {}).json()
        assert answer["runtime"] == {} and answer["values"]["alerting"]["rules"]["job_failed"]["severity"] == "high"
        assert answer["values"]["alerting"]["channels"][0]["tags"] == []
    finally:
        sidecar.stop_soon()


def test_every_change_is_audited_with_who_when_what_and_secrets_masked(sidecar, receiver: HttpReceiver):
    channel = {"name": "pager", "url": receiver.url("json", "/pager", credentials=f"bot:{SECRET}@")}
    assert (
        patch_config(sidecar, {"alerting": {"channels": [channel]}, "feed_tick_ms": 45}, user="alice").status_code
        == 200
    )
    assert patch_config(sidecar, {"feed_tick_ms": -5}, user="bob").status_code == 422
    assert patch_config(sidecar, {"feed_tick_ms": None}).status_code == 200
    local, bob, alice = history(sidecar)
    assert SECRET not in json.dumps([local, bob, alice])
    assert (alice["who"], alice["accepted"], alice["version"], alice["source"]) == ("alice", True, 1, "patch")
    changes = {change["key"]: change for change in alice["changes"]}
    assert (changes["feed_tick_ms"]["old"], changes["feed_tick_ms"]["new"]) == (30, 45)
    assert changes["alerting.channels"]["old"] == [] and "bot:****@" in changes["alerting.channels"]["new"][0]["url"]
    assert "bot:****@" in alice["request"]["alerting"]["channels"][0]["url"]
    assert (bob["who"], bob["accepted"], bob["errors"][0]["key"], bob["version"]) == (
        "bob",
        False,
        "feed_tick_ms",
        None,
    )
    assert (local["who"], local["changes"]) == ("local", [{"key": "feed_tick_ms", "old": 45, "new": 30}])
    assert alice["at"] < bob["at"] < local["at"]
    page = sidecar.get_json("/api/monitor/config/history?limit=2")
    assert [item["id"] for item in page["items"]] == [local["id"], bob["id"]] and page["next_cursor"] == bob["id"]
    rest = sidecar.get_json(f"/api/monitor/config/history?limit=2&cursor={page['next_cursor']}")
    assert [item["id"] for item in rest["items"]] == [alice["id"]] and rest["next_cursor"] is None


def test_a_body_that_is_no_json_object_is_refused_naming_it_and_audited(sidecar):
    before = get_config(sidecar)
    url, user = sidecar.url + CONFIG, {"X-JobPulse-User": "carol"}
    array = loopback.patch(url, json=[1], headers=user, timeout=30)
    assert array.status_code == 422, array.text
    [problem] = array.json()["extra"]
    assert (problem["key"], problem["message"], problem["allowed"]) == (
        "",
        "must be a JSON object, not an array",
        "a JSON object",
    )
    assert "the body: must be a JSON object, not an array" in array.json()["detail"]
    malformed = loopback.put(url, content=b'{"feed_tick_ms": 40', headers=user, timeout=30)
    assert malformed.status_code == 400, malformed.text
    assert malformed.json()["detail"] == "the body is not valid JSON: input data was truncated; nothing was changed"
    assert get_config(sidecar) == before
    put, patch = history(sidecar)
    assert (patch["who"], patch["source"], patch["accepted"], patch["request"]) == ("carol", "patch", False, [1])
    assert patch["errors"] == [problem]
    assert (put["who"], put["source"], put["accepted"], put["request"]) == ("carol", "put", False, None)
    assert put["errors"] == malformed.json()["extra"]


def test_with_authentication_on_only_admins_change_settings_and_the_token_name_is_the_author(own):
    sidecar: AuthSidecar = own["authenticating"]
    config = sidecar.url + CONFIG
    try:
        # The X-JobPulse-User header names nobody once tokens are required.
        as_operator = {**bearer(sidecar.tokens["operator"]), "X-JobPulse-User": "mallory"}
        refused = loopback.patch(config, json={"feed_tick_ms": 40}, headers=as_operator, timeout=30)
        assert refused.status_code == 403 and "admin role" in refused.json()["detail"]
        assert loopback.get(config, headers=bearer(sidecar.tokens["viewer"]), timeout=30).status_code == 403
        as_admin = {**bearer(sidecar.tokens["admin"]), "X-JobPulse-User": "mallory"}
        changed = loopback.patch(config, json={"feed_tick_ms": 40}, headers=as_admin, timeout=30)
        assert changed.status_code == 200 and changed.json()["values"]["feed_tick_ms"] == 40
        [entry] = loopback.get(config + "/history", headers=as_admin, timeout=30).json()["items"]
        assert (entry["who"], entry["accepted"]) == ("admin", True)
    finally:
        sidecar.process.stop_soon()
