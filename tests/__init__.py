"""Test suite of jobpulse."""
