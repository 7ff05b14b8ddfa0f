"""Defaults that cannot be walked into: no authentication only on loopback, unless the risk is accepted by name.

The refusal must come before anything is bound: the sidecar runs with an audit hook that reports
every ``socket.bind`` the process attempts. 192.0.2.1 (TEST-NET-1) is never connected to; where the
sidecar is allowed to start, binding it fails at once because no interface has that address.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jobpulse.sidecar.auth.exposure import auth_required, exposure_error, is_loopback
from tests.support.ports import free_port
from tests.support.sidecar import REPO

NOT_LOOPBACK = "192.0.2.1"

# Reports every bind the process attempts, then runs the jobpulse command line.
LAUNCHER = textwrap.dedent(
    """
    import sys
    def report_binds(event, args):
        if event == "socket.bind":
            print(f"BIND ATTEMPTED {args[1]!r}", file=sys.stderr, flush=True)
    sys.addaudithook(report_binds)
    from jobpulse.sidecar.cli import main
    sys.argv = ["jobpulse", *sys.argv[1:]]
    main()
    """
)


def jobpulse(workdir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": ":".join(filter(None, [str(REPO), *sys.path])),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", LAUNCHER, *args],
        cwd=workdir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("command", ["sidecar", "demo"])
def test_auth_off_on_a_network_address_refuses_to_start_before_binding(tmp_path, command):
    result = jobpulse(
        tmp_path, command, "--host", NOT_LOOPBACK, "--port", str(free_port()), JOBPULSE_AUTH_ENABLED="false"
    )
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"one clear message, got:\n{result.stderr}"
    message = lines[0]
    assert f"refusing to listen on {NOT_LOOPBACK} with authentication off" in message
    assert "jobpulse tokens create NAME --role admin" in message and "--insecure-no-auth" in message
    assert "BIND ATTEMPTED" not in result.stderr
    assert list(tmp_path.iterdir()) == [], "nothing was started: not even the database was created"


@pytest.mark.parametrize(
    ("flags", "env", "logged"),
    [
        ([], {}, "authentication is on and no usable token exists"),
        (["--insecure-no-auth"], {"JOBPULSE_AUTH_ENABLED": "false"}, "authentication is OFF (insecure_no_auth)"),
    ],
    ids=["auth-on-by-default", "risk-accepted"],
)
def test_a_network_address_starts_with_auth_on_or_with_the_risk_accepted_and_logged(tmp_path, flags, env, logged):
    result = jobpulse(tmp_path, "sidecar", "--host", NOT_LOOPBACK, "--port", str(free_port()), *flags, **env)
    # It got as far as binding, which fails: no interface here has that address.
    assert f"BIND ATTEMPTED ('{NOT_LOOPBACK}'" in result.stderr, result.stderr
    assert result.returncode != 0
    assert logged in result.stderr


def test_loopback_is_recognised():
    for host in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST."):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "", NOT_LOOPBACK, "10.0.0.5", "sidecar", "localhost.example.com", "fe80::1"):
        assert not is_loopback(host), host


def test_when_authentication_is_on():
    assert not auth_required("127.0.0.1", None, insecure_no_auth=False), "the zero-config demo"
    assert auth_required("0.0.0.0", None, insecure_no_auth=False)
    assert auth_required("127.0.0.1", True, insecure_no_auth=False)
    assert not auth_required("0.0.0.0", None, insecure_no_auth=True)
    assert exposure_error("0.0.0.0", False, insecure_no_auth=False) is not None
    assert exposure_error("0.0.0.0", False, insecure_no_auth=True) is None
    assert exposure_error("127.0.0.1", False, insecure_no_auth=False) is None
    assert "contradict" in (exposure_error("127.0.0.1", True, insecure_no_auth=True) or "")
