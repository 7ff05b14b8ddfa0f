"""The client stays a client: using it loads nothing of the sidecar, the job side or their dependencies."""

from __future__ import annotations

import json

from tests.support.job_scripts import run_script
from tests.support.otlp_build import JobEmitter, post_logs

FORBIDDEN = (
    "jobpulse.sidecar",
    "jobpulse.instrumentation",
    "litestar",
    "sqlalchemy",
    "apprise",
    "opentelemetry",
    "uvicorn",
)


def test_a_program_using_the_client_loads_no_server_or_job_module(sidecar) -> None:
    # A sidecar of its own: the program pages through every job it holds, one per request.
    emitter = JobEmitter("boundary-job")
    post_logs(sidecar.url, [emitter.start(name="boundary"), emitter.end(processed=1)])
    done = run_script(
        f"""
        import json, sys
        from jobpulse.client import Client, Filters, Snapshot
        with Client({sidecar.url!r}) as client:
            assert client.wait_for_end({emitter.job_id!r}).status == "completed"
            assert [job.id for job in client.iter_jobs(limit=1)]
            with client.feed(Filters(job_types=["none"])) as feed:
                assert isinstance(next(feed), Snapshot)
        print(json.dumps(sorted(name for name in sys.modules if name.startswith({FORBIDDEN!r}))))
        """,
        None,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
