"""``jobpulse demo``: a sidecar plus realistic ETL jobs, on embedded defaults."""
