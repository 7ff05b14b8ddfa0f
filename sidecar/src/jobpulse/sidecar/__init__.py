"""The jobpulse sidecar service."""
