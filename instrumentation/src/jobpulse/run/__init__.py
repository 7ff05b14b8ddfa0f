"""``jobpulse run -- CMD``: any command as a watched job, built on the job side alone.

The wrapper is a job whose work is the command: the command's output passes through unchanged and
is read for log lines, progress and steps; its process tree is sampled for the heartbeat; control
commands become signals to its process group; its exit ends the job. See docs/run.md.
"""
