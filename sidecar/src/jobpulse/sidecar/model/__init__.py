"""Job state: the events a job emits, the state they fold into, and the figures derived from it."""
