"""The chaos suite (issue 15): the services as separate processes, two of each, over one PostgreSQL, one NATS
and the filesystem storage; faults under load; checks that nothing was lost, done twice or left behind.

`python -m shoebox.chaos` (`make chaos`) runs the full set of faults; `tests/test_chaos_bounded.py` a short
one inside `make test`.
"""
