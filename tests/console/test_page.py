"""The console in a real Chromium against a real sidecar: live jobs, failures, filters, history,
silences, and every view checked for accessibility and for requests that leave the sidecar."""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest
from playwright.sync_api import expect

from tests.alerting.receivers import HttpReceiver
from tests.console.browser import ConsolePage
from tests.console.history_seed import S, TimedJob, seed_week
from tests.support import loopback
from tests.support.job_scripts import run_script, start_script
from tests.support.otlp_build import JobEmitter, post_logs
from tests.support.polling import wait_for

FAILING_JOB = """
from jobpulse.instrumentation import track_job
with track_job("partner-api-upload", job_type="api_upload", job_id={job_id!r}, owner="crm-team", total=500,
               steps=["prepare", "upload"]) as job:
    with job.step("prepare"):
        job.advance(120)
    with job.step("upload"):
        raise TimeoutError("partner API did not answer within 30 s")
"""

# Runs until stopped: steps, log lines, rejected records and resource samples, as a real import does.
BUSY_JOB = """
import logging, time
from jobpulse.instrumentation import track_job
log = logging.getLogger("import")
with track_job("orders-csv-import", job_type="csv_import", job_id={job_id!r}, owner="data-eng", total=200_000,
               steps=["extract", "validate", "load"], expected_duration=600) as job:
    with job.step("extract"):
        log.info("reading orders-2026-11.csv")
        time.sleep(0.3)
        job.advance(2000)
    with job.step("validate"):
        number = 0
        while True:
            number += 1
            job.advance(failed=1 if number % 97 == 0 else 0)
            if number % 97 == 0:
                log.warning("row %d rejected: amount '12,50' is not a number", number)
            if number % 400 == 0:
                log.info("%d rows validated", number)
            time.sleep(0.002)
"""


OWNER = "jobpulse.job.owner"


TRANSITION = "(card) => getComputedStyle(card.querySelector('.progress .fill')).transitionDuration"


def wait_live(page: ConsolePage) -> None:
    expect(page.page.locator("html")).to_have_attribute("data-feed", "live")


def status_of(card):
    return card.locator(".badge.status")


@pytest.fixture
def busy_job(console_sidecar):
    job_id = uuid.uuid4().hex
    process = start_script(BUSY_JOB.format(job_id=job_id), console_sidecar.url, JOBPULSE_RESOURCES_INTERVAL="0.3")
    yield job_id
    process.kill()
    process.wait()


VIEWS = [
    ("active", "active", "Active jobs"),
    ("job/{job_id}", "job", "orders-csv-import"),
    ("history", "history", "History"),
    ("analytics", "analytics", "Analytics"),
    ("alerts", "alerts", "Alerts"),
]


def test_every_view_is_accessible_and_loads_nothing_from_elsewhere(console_sidecar, console, busy_job):
    """First in the module, so that its screenshots show a week of history rather than other tests' jobs."""
    url = console_sidecar.url
    seed_week(url, time.time_ns())
    page = console(url, width=1024, height=800).open()
    wait_live(page)
    # Jobs that have run for a while, so their rate and ETA are a real job's.
    now = time.time_ns()
    mapping, upload, load = TimedJob(), TimedJob(), TimedJob()
    at_map = {"jobpulse.job.step": "map", "jobpulse.job.step.index": 1, "jobpulse.job.step.count": 3}
    at_upload = {"jobpulse.job.step": "upload", "jobpulse.job.step.index": 1, "jobpulse.job.step.count": 2}
    post_logs(
        url,
        [
            mapping.start(
                now - 40 * S,
                "customer-field-mapping",
                "field_mapping",
                "crm-team",
                12_000,
                **{"jobpulse.job.expected_duration_s": 90},
            ),
            mapping.progress(now - 20 * S, 3_700, 18, **at_map),
            mapping.progress(now - S, 7_400, 37, **at_map),
            upload.start(now - 30 * S, "crm-api-upload", "api_upload", "crm-team", 6_000),
            upload.progress(now - 15 * S, 900, **at_upload),
            upload.progress(now - S, 1_850, **at_upload),
            load.start(now - 12 * S, "warehouse-db-load", "db_load", "data-eng", 15_000),
            load.progress(now - 2 * S, 9_000, **{"jobpulse.job.step": "load"}),
            load.event(
                "jobpulse.job.end",
                now - S,
                {
                    "jobpulse.job.status": "failed",
                    "jobpulse.job.processed": 9_000,
                    "jobpulse.job.step": "load",
                    "exception.type": "sqlite3.IntegrityError",
                    "exception.message": "UNIQUE constraint failed: sales.id",
                },
            ),
        ],
    )
    expect(page.card(busy_job).locator('[data-field="step"]')).to_have_text("validate (2 of 3)", timeout=15_000)
    expect(page.card(load.job_id).locator('[data-field="suggested-actions"]')).to_contain_text("database constraint")
    failures = {}
    for route, name, heading in VIEWS:
        page.open(route.format(job_id=busy_job))
        main = page.page.locator("main")
        expect(page.page.get_by_role("heading", level=1)).to_have_text(heading)
        if name == "job":
            expect(main.locator(".log li").first).to_be_visible()
            expect(main.locator(".sparkline polyline").first).to_be_attached(timeout=10_000)
        elif name == "history":
            expect(main.locator("tbody tr").first).to_be_visible()
        elif name == "analytics":
            expect(main.locator('[data-field="bottleneck"]')).to_be_visible()
        elif name == "alerts":
            expect(main.get_by_role("heading", name="Recent alerts")).to_be_visible()
            expect(main.locator("table").first).to_be_visible()
        failures[name] = page.axe_violations()
        page.screenshot(name, docs=True, docs_height=1800 if name == "job" else 1000)
    phone = console(url, width=390, height=844, reduced_motion=True).open()
    wait_live(phone)
    expect(phone.card(busy_job)).to_be_visible()
    assert phone.card(busy_job).evaluate(TRANSITION) == "0s", "no motion for who asked for less"
    failures["active on a phone"] = phone.axe_violations()
    phone.screenshot("phone", docs=True)
    post_logs(
        url,
        [
            mapping.event("jobpulse.job.end", time.time_ns(), {"jobpulse.job.status": "completed"}),
            upload.event("jobpulse.job.end", time.time_ns(), {"jobpulse.job.status": "completed"}),
        ],
    )
    assert {name: found for name, found in failures.items() if found} == {}
    assert page.foreign_requests() == [] and phone.foreign_requests() == []
    assert any(request.startswith(url.replace("http", "ws", 1) + "/ws") for request in page.requests), (
        "the feed is opened on the same origin"
    )


def test_a_running_job_moves_then_completes(console_sidecar, console):
    page = console(console_sidecar.url).open()
    wait_live(page)
    job = JobEmitter(uuid.uuid4().hex)
    post_logs(
        console_sidecar.url,
        [job.start(name="orders-csv-import", job_type="csv_import", total=400, **{OWNER: "data-eng"})],
    )

    card = page.card(job.job_id)
    percent = card.locator('[data-field="percent"]')
    expect(percent).to_have_text("0.0 %")
    expect(status_of(card)).to_have_text("running")
    post_logs(console_sidecar.url, [job.progress(processed=100, total=400, step="parse")])
    expect(percent).to_have_text("25.0 %")
    expect(card.locator('[data-field="step"]')).to_have_text("parse")
    post_logs(console_sidecar.url, [job.progress(processed=300, failed=2, total=400, step="load")])
    expect(percent).to_have_text("75.0 %")
    expect(card.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "75.0")
    expect(card.locator('[data-field="processed"]')).to_have_text("300 of 400")
    expect(card.locator('[data-field="failed"]')).to_have_text("2")
    expect(card.locator('[data-field="grade"]')).to_have_text("health: good")  # 0.67 % of records failed
    assert card.evaluate(TRANSITION) == "0.6s", "the bar glides to each new figure"

    post_logs(console_sidecar.url, [job.end(processed=400, **{"jobpulse.job.failed": 2})])
    expect(status_of(card)).to_have_text("completed")
    expect(percent).to_have_text("100.0 %")
    ended = page.page.locator("section", has=page.page.locator("#ended-heading"))
    expect(ended.locator(f'li.card[data-job-id="{job.job_id}"]')).to_be_visible()
    expect(card.get_by_role("button")).to_have_count(0)  # nothing to pause or cancel any more


def test_a_failing_job_shows_its_error_and_what_to_do(console_sidecar, console):
    page = console(console_sidecar.url).open()
    wait_live(page)
    job_id = uuid.uuid4().hex
    result = run_script(FAILING_JOB.format(job_id=job_id), console_sidecar.url)
    assert result.returncode != 0 and "TimeoutError" in result.stderr

    card = page.card(job_id)
    expect(status_of(card)).to_have_text("failed")
    expect(card.locator('[data-field="error"]')).to_have_text(
        "TimeoutError: partner API did not answer within 30 s (in step upload)"
    )
    expect(card.locator('[data-field="suggested-actions"]')).to_contain_text("Transient: retry the job.")
    expect(card.locator('[data-field="grade"]')).to_have_text("health: poor")

    card.get_by_role("link", name="partner-api-upload").click()
    expect(page.page.get_by_role("heading", level=1)).to_have_text("partner-api-upload")
    main = page.page.locator("main")
    expect(main.locator('[data-field="suggested-actions"]')).to_contain_text("Transient: retry the job.")
    expect(main.locator(".timeline li")).to_have_count(2)
    expect(main.locator('.timeline li[data-state="failed"]')).to_contain_text("upload")
    main.get_by_text("Stack trace").click()
    expect(main.locator("details pre")).to_contain_text(
        re.compile(r"^Traceback .*\nTimeoutError: partner API did not answer within 30 s", re.DOTALL)
    )
    expect(main.get_by_role("heading", name="Control", exact=True)).to_be_hidden()
    page.screenshot("job-failed")


def test_filters_narrow_the_list_and_live_in_the_url(console_sidecar, console):
    page = console(console_sidecar.url).open()
    wait_live(page)
    imports, uploads = JobEmitter(uuid.uuid4().hex), JobEmitter(uuid.uuid4().hex)
    post_logs(
        console_sidecar.url,
        [
            imports.start(name="nightly-orders-import", job_type="csv_import", total=100),
            uploads.start(name="crm-contacts-upload", job_type="api_upload", total=100),
        ],
    )
    import_card, upload_card = page.card(imports.job_id), page.card(uploads.job_id)
    expect(import_card).to_be_visible()
    expect(upload_card).to_be_visible()

    page.page.get_by_label("Job type").select_option("csv_import")
    expect(upload_card).to_be_hidden()
    expect(import_card).to_be_visible()
    page.page.get_by_label("Job type").select_option("")
    page.page.get_by_label("Search").fill("contacts")
    expect(import_card).to_be_hidden()
    expect(upload_card).to_be_visible()
    page.page.get_by_label("failed", exact=True).check()
    expect(upload_card).to_be_hidden()
    page.page.get_by_label("running", exact=True).check()
    expect(upload_card).to_be_visible()
    assert re.search(r"#/active\?status=running&status=failed&q=contacts$", page.page.url), page.page.url

    shared = console(console_sidecar.url)
    shared.page.goto(page.page.url)
    wait_live(shared)
    expect(shared.card(uploads.job_id)).to_be_visible()
    expect(shared.card(imports.job_id)).to_be_hidden()
    expect(shared.page.get_by_label("Search")).to_have_value("contacts")
    expect(shared.page.get_by_label("running", exact=True)).to_be_checked()
    shared.page.get_by_role("button", name="Clear filters").click()
    expect(shared.card(imports.job_id)).to_be_visible()
    post_logs(console_sidecar.url, [imports.end(processed=100), uploads.end(processed=100)])


def test_history_searches_pages_and_shows_a_past_jobs_log(console_sidecar, console):
    probe = f"history-probe-{uuid.uuid4().hex[:8]}"
    jobs = [JobEmitter(uuid.uuid4().hex) for _ in range(27)]
    records = []
    for number, job in enumerate(jobs):
        records += [
            job.start(name=f"{probe}-{number:02d}", job_type="csv_import", total=10),
            job.log(f"row {number} read", level="info"),
            job.log(f"row {number} looks odd", level="warning"),
            job.end(processed=10),
        ]
    post_logs(console_sidecar.url, records)

    page = console(console_sidecar.url).open(f"history?name={probe}&limit=25&sort=name")
    main = page.page.locator("main")
    expect(main.locator("caption")).to_have_text("25 of 27 matching jobs")
    expect(main.locator("tbody tr").first).to_contain_text(f"{probe}-00")
    main.get_by_role("link", name="Next page").click()
    expect(main.locator("caption")).to_have_text("2 of 27 matching jobs (a later page)")
    expect(main.locator("tbody tr").nth(1)).to_contain_text(f"{probe}-26")

    main.get_by_role("link", name=f"{probe}-26").click()
    expect(page.page.get_by_role("heading", level=1)).to_have_text(f"{probe}-26")
    log = main.get_by_role("list", name=f"Log lines of {probe}-26")
    expect(log.locator("li")).to_have_count(2)
    main.get_by_label("Minimum level").select_option("warning")
    expect(log.locator("li")).to_have_count(1)
    expect(log.locator("li")).to_contain_text("row 26 looks odd")
    with page.page.expect_download() as download:
        main.get_by_role("link", name="Download (NDJSON)").click()
    lines = [json.loads(line) for line in download.value.path().read_text().splitlines()]
    assert [(line["level"], line["message"]) for line in lines] == [("warning", "row 26 looks odd")]
    assert download.value.suggested_filename == f"{jobs[26].job_id}.ndjson"


def test_an_analytics_card_and_its_charts_tell_the_same_story(console_sidecar, console):
    """One name with a failed run and a running one: 0 % success in the summary and on the chart (the
    running run has not ended; it is no success yet). One with a single running run: "1 run", no rate,
    no point. And both charts end on the same day."""
    url = console_sidecar.url
    probe = uuid.uuid4().hex[:8]
    mixed, running = f"analytics-mixed-{probe}", f"analytics-running-{probe}"
    going, failed, alone = (JobEmitter(uuid.uuid4().hex) for _ in range(3))
    post_logs(
        url,
        [
            going.start(name=mixed, job_type="csv_import", total=10),
            failed.start(name=mixed, job_type="csv_import", total=10),
            failed.end(status="failed", processed=3),
            alone.start(name=running, job_type="csv_import", total=10),
        ],
    )

    def stored() -> bool:
        answer = console_sidecar.get("/api/analytics", group_by="name").json()
        groups = {group["key"]: group for group in answer["groups"]}
        return groups.get(mixed, {}).get("failed") == 1 and running in groups

    wait_for(stored)
    page = console(url).open("analytics?group_by=name")
    main = page.page.locator("main")
    cards = {name: main.get_by_role("article", name=name, exact=True) for name in (mixed, running)}
    expect(cards[mixed].locator(".meta")).to_contain_text("2 runs · success 0.0 % ·")
    expect(cards[running].locator(".meta")).to_contain_text("1 run · success — ·")
    charts = {name: card.locator("figure", has_text="Success rate").locator("svg") for name, card in cards.items()}
    expect(charts[mixed]).to_have_attribute("aria-label", re.compile(r"completed over ended runs: .*: 0\.0 %$"))
    expect(charts[mixed].locator(".series circle")).to_have_count(1)
    expect(charts[running]).to_have_attribute("aria-label", re.compile(r": none ended$"))
    expect(charts[running].locator(".series circle")).to_have_count(0)
    durations = cards[mixed].locator("figure", has_text="Duration").locator("svg")
    expect(durations).to_have_attribute("aria-label", re.compile(r"each of 7 windows of 1 day up to now, named by"))
    expect(durations.locator("text.axis").last).to_have_text(charts[mixed].locator("text.axis").last.text_content())
    post_logs(url, [going.end(processed=10), alone.end(processed=10)])


# The log list's lines and its status line, read in one go so that no line arrives between the two.
LOG_NOW = """(list) => [list.children.length, list.parentElement.querySelector('.log-status').textContent]"""
PAUSE_AND_COUNT = """(list) => {
  list.parentElement.querySelector('button[aria-pressed]').click();
  return list.children.length;
}"""


def test_a_running_jobs_log_is_tailed_live_by_level_and_scrolling_pauses(console_sidecar, console, busy_job):
    trace_id = wait_for(lambda: (job := console_sidecar.job(busy_job)) and job.trace_id, timeout=20)
    page = console(console_sidecar.url).open(f"job/{busy_job}")
    wait_live(page)
    main = page.page.locator("main")
    expect(page.page.get_by_role("heading", level=1)).to_have_text("orders-csv-import")
    expect(main.locator('[data-field="trace-id"]')).to_have_text(trace_id)

    log = main.get_by_role("list", name="Log lines of orders-csv-import")
    main.get_by_label("Minimum level").select_option("warning")
    shown = log.locator("li").count()
    expect(log.locator("li").nth(shown)).to_be_attached()  # a warning logged since, arrived live
    expect(log.locator('li:not([data-level="warning"])')).to_have_count(0)

    pause = main.get_by_role("button", name="Pause scrolling")
    # Clicked and counted in one task, so that no line arrives between the two.
    lines = log.evaluate(PAUSE_AND_COUNT)
    expect(pause).to_have_attribute("aria-pressed", "true")
    # Six warnings (every 97th row) span more than 400 rows: an info line (every 400th), not shown at
    # this level, came in between, and is not counted.
    expect(main.locator(".log-status")).to_contain_text(re.compile(r"Scrolling paused: ([6-9]|\d\d+) new below"))
    lines_now, status = log.evaluate(LOG_NOW)
    assert re.search(rf"Scrolling paused: {lines_now - lines} new below", status), "the lines shown since the pause"
    pause.click()
    expect(pause).to_have_attribute("aria-pressed", "false")
    expect(main.locator(".log-status")).not_to_contain_text("paused")


def test_silences_are_created_and_expired(console_sidecar, console):
    page = console(console_sidecar.url).open("alerts")
    main = page.page.locator("main")
    job_name = f"quiet-{uuid.uuid4().hex[:8]}"
    main.get_by_label("Rule").fill("job_failed")
    main.get_by_label("Job name").fill(job_name)
    main.get_by_label("For").fill("2")
    main.get_by_label("Unit").select_option("hours")
    main.get_by_label("Reason").fill("partner outage")
    main.get_by_role("button", name="Create silence").click()
    row = main.locator("tr", has_text=f"job = {job_name}")
    expect(row).to_contain_text("rule = job_failed")
    expect(row).to_contain_text("partner outage")
    [silence] = [s for s in console_sidecar.get("/api/alerts/silences").json() if s["job_name"] == job_name]
    assert silence["active"]
    row.get_by_role("button", name=re.compile("^Expire")).click()
    expect(row).to_have_count(0)
    assert all(s["job_name"] != job_name for s in console_sidecar.get("/api/alerts/silences").json())


def test_a_delivery_opens_to_list_each_attempt(console_sidecar, console):
    url = console_sidecar.url
    config = f"{url}/api/monitor/config"
    with HttpReceiver() as receiver:
        receiver.fail("/console-hook", 1)
        channel = {"name": "console-hook", "url": receiver.url("json", "/console-hook"), "tags": ["console-tests"]}
        # Notifications of the alerts other tests left firing are held back: only the test message goes out.
        changes = {"notifications_enabled": False, "channels": [channel], "delivery": {"base_delay_s": 0.05}}
        assert loopback.patch(config, json={"alerting": changes}, timeout=30).status_code == 200
        try:
            sent = console_sidecar.post("/api/notifications/test", json={"channel": "console-hook"})
            assert [(r["result"], r["attempts"]) for r in sent.json()["results"]] == [("sent", 2)], sent.text
        finally:
            undo = {name: None for name in changes}
            assert loopback.patch(config, json={"alerting": undo}, timeout=30).status_code == 200
    [notification] = console_sidecar.get("/api/notifications", channel="console-hook").json()["items"]
    page = console(url).open("alerts")
    main = page.page.locator("main")
    row = main.locator(f'tr[data-notification-id="{notification["id"]}"]')
    toggle = row.get_by_role("button", name="2 attempts")
    attempts = main.locator(f"#notification-{notification['id']}-attempts")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(attempts).to_be_hidden()
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    listed = attempts.locator("tbody tr")
    expect(listed).to_have_count(2)
    expect(listed.nth(0).locator(".badge")).to_have_text("failed")
    expect(listed.nth(0)).to_contain_text("error=500")
    expect(listed.nth(1).locator(".badge")).to_have_text("ok")
    assert page.axe_violations() == []
    page.screenshot("alerts-attempts")
    toggle.click()
    expect(attempts).to_be_hidden()


HEALTH_AND_BACKOFF = """async () => {
  const base = new URL('.', document.querySelector('script[type=module]').src).href;
  const { healthGrade } = await import(base + 'health.js');
  const { backoffDelay } = await import(base + 'feed.js');
  const job = (fields) => ({ status: 'running', processed: 1000, failed: 0, execution_time_s: 50, eta_s: 40,
                             expected_duration_s: 100, rate_per_s: 20, ...fields });
  const grades = {
    onPace: healthGrade(job({})),
    fewErrors: healthGrade(job({ failed: 5 })),
    someErrors: healthGrade(job({ failed: 30 })),
    manyErrors: healthGrade(job({ failed: 100 })),
    late: healthGrade(job({ eta_s: 80 })),
    veryLate: healthGrade(job({ eta_s: 120 })),
    lateAndErrors: healthGrade(job({ eta_s: 80, failed: 5 })),
    stalled: healthGrade(job({ expected_duration_s: null, rate_per_s: 0 })),
    failed: healthGrade(job({ status: 'failed' })),
    lost: healthGrade(job({ status: 'lost' })),
    nothingYet: healthGrade(job({ status: 'pending', processed: 0, expected_duration_s: null })),
    completedClean: healthGrade(job({ status: 'completed', expected_duration_s: null, eta_s: null })),
  };
  const delays = [0, 1, 2, 3, 4, 5, 10].map((attempt) => [
    backoffDelay(attempt, { random: () => 0 }), backoffDelay(attempt, { random: () => 0.999999 })]);
  return { grades: Object.fromEntries(Object.entries(grades).map(([k, v]) => [k, v && v.grade])), delays };
}"""


def test_the_health_grade_rule_and_the_reconnect_backoff(console_sidecar, console):
    page = console(console_sidecar.url).open()
    result = page.page.evaluate(HEALTH_AND_BACKOFF)
    assert result["grades"] == {
        "onPace": "excellent",
        "fewErrors": "good",
        "someErrors": "fair",
        "manyErrors": "poor",
        "late": "fair",
        "veryLate": "poor",
        "lateAndErrors": "fair",
        "stalled": "fair",
        "failed": "poor",
        "lost": "poor",
        "nothingYet": None,
        "completedClean": "excellent",
    }
    # Equal jitter: between half the cap and the cap; the cap doubles from 0.5 s up to 10 s.
    assert [(round(low), round(high)) for low, high in result["delays"]] == [
        (250, 500),
        (500, 1000),
        (1000, 2000),
        (2000, 4000),
        (4000, 8000),
        (5000, 10000),
        (5000, 10000),
    ]
