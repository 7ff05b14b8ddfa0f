"""Tests of the job-side instrumentation (jobs run in subprocesses for fresh OTel state)."""
