"""Job state: the events a job emits, the state they fold into, and the views served from it."""
