"""Job control: operators pause, resume and cancel jobs; jobs long-poll for the commands."""
