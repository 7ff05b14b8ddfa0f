"""The configuration API through both clients, against a real sidecar with authentication on: the
settings in force, runtime changes applied at once, refusals naming key and value, the audit trail
page after page, and the admin role it takes."""

from __future__ import annotations

from collections.abc import Iterator

import msgspec
import pytest

from jobpulse.client import (
    AsyncClient,
    ChangeEntry,
    Client,
    ConfigView,
    Forbidden,
    SettingProblem,
    Unauthorized,
    ValidationFailed,
)
from tests.auth.conftest import AuthSidecar, start_auth_sidecar
from tests.support.polling import wait_for

SECRET = "s3cret-hook-password"


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthSidecar]:
    started = start_auth_sidecar(tmp_path_factory.mktemp("config"))
    yield started
    started.process.stop_soon()


@pytest.fixture(scope="module")
def admin(sidecar: AuthSidecar) -> Iterator[Client]:
    with Client(sidecar.url, sidecar.tokens["admin"]) as client:
        yield client


def test_the_settings_in_force_read_as_a_view_with_the_source_of_each_key(admin: Client, sidecar: AuthSidecar) -> None:
    view = admin.config()
    assert isinstance(view, ConfigView)
    assert (view.values["auth_enabled"], view.sources["auth_enabled"]) == (True, "env")
    assert (view.values["port"], view.sources["port"]) == (sidecar.process.port, "env")
    assert view.sources["retention_days"] == "default"
    assert "port" in view.restart_required and view.rejected == [] and view.pending_restart == {}


def test_a_patch_is_applied_at_once_with_its_secret_masked_and_recorded(admin: Client) -> None:
    url = f"json://bot:{SECRET}@127.0.0.1:9/hook"
    before = admin.config()
    after = admin.patch_config({"alerting": {"channels": [{"name": "ops-hook", "url": url}]}})
    assert after.version == before.version + 1
    assert after.sources["alerting.channels"] == "runtime"
    [channel] = after.runtime["alerting"]["channels"]
    assert channel["name"] == "ops-hook" and SECRET not in channel["url"] and "bot:****@" in channel["url"]
    assert admin.config() == after
    # Applied, not only stored: the alerting feature now sends to the new channel.
    [listed] = wait_for(lambda: [found for found in admin.channels() if found.name == "ops-hook"])
    assert SECRET not in listed.masked_url

    [record] = [record for record in admin.iter_config_history() if record.version == after.version]
    assert (record.accepted, record.who, record.source, record.errors) == (True, "admin", "patch", [])
    [change] = record.changes
    assert isinstance(change, ChangeEntry) and change.key == "alerting.channels" and change.old == []
    assert SECRET not in msgspec.json.encode(record).decode()

    removed = admin.patch_config({"alerting": None})
    assert "alerting" not in removed.runtime and removed.sources["alerting.channels"] == "default"
    wait_for(lambda: all(found.name != "ops-hook" for found in admin.channels()))


def test_an_invalid_patch_raises_validation_failed_naming_key_and_value_and_changes_nothing(admin: Client) -> None:
    before = admin.config()
    with pytest.raises(ValidationFailed) as raised:
        admin.patch_config({"feed_tick_ms": 0, "port": 1})
    error = raised.value
    assert error.status_code == 422 and "nothing was changed" in error.detail
    fields = {field.key: field for field in error.errors}
    assert set(fields) == {"feed_tick_ms", "port"}
    assert (fields["feed_tick_ms"].value, fields["feed_tick_ms"].allowed) == (0, "an integer >= 1")
    assert fields["feed_tick_ms"].source == "the request"
    assert fields["port"].value == 1 and "restart" in fields["port"].message
    assert admin.config() == before

    refused = next(admin.iter_config_history())
    assert (refused.accepted, refused.version, refused.changes) == (False, None, [])
    assert SettingProblem(
        key="feed_tick_ms", message=fields["feed_tick_ms"].message, allowed="an integer >= 1", value=0
    ) == msgspec.structs.replace(next(e for e in refused.errors if e.key == "feed_tick_ms"), source="")
    assert refused.request == {"feed_tick_ms": 0, "port": 1}


async def test_the_history_pages_newest_first_and_replace_clears_the_runtime_changes(sidecar: AuthSidecar) -> None:
    async with AsyncClient(sidecar.url, sidecar.tokens["admin"]) as client:
        for tick in (31, 32, 33):
            await client.patch_config({"feed_tick_ms": tick})
        cleared = await client.replace_config({})
        assert cleared.runtime == {} and cleared.sources["feed_tick_ms"] == "default"
        first = await client.config_history(limit=2)
        assert len(first.items) == 2 and first.next_cursor == first.items[-1].id
        records = [record async for record in client.iter_config_history(limit=2)]
    ids = [record.id for record in records]
    assert ids == sorted(ids, reverse=True) and len(ids) == len(set(ids))
    assert ids[:2] == [record.id for record in first.items]
    assert [record.source for record in records[:4]] == ["put", "patch", "patch", "patch"]
    assert [record.changes[0].new for record in records[1:4]] == [33, 32, 31]
    # The effective value changes: back to the default.
    assert records[0].changes == [ChangeEntry(key="feed_tick_ms", old=33, new=20)]


def test_changing_or_reading_the_configuration_takes_an_admin(admin: Client, sidecar: AuthSidecar) -> None:
    version = admin.config().version
    with Client(sidecar.url, sidecar.tokens["viewer"]) as viewer:
        with pytest.raises(Forbidden) as raised:
            viewer.patch_config({"feed_tick_ms": 50})
        assert raised.value.status_code == 403 and "admin" in raised.value.detail
        with pytest.raises(Forbidden):
            viewer.config()
    with Client(sidecar.url, sidecar.tokens["operator"]) as operator, pytest.raises(Forbidden):
        operator.replace_config({})
    with Client(sidecar.url) as anonymous, pytest.raises(Unauthorized):
        anonymous.config_history()
    assert admin.config().version == version
