"""A chaos run: jobs and watchers against gateways killed with kill -9 at random moments.

``fleet`` starts and kills the ``serve`` processes; ``workload`` draws the jobs; ``clients``
submits them (retrying with the same request id) and follows them (resuming with the last
token); ``killer`` picks the moments; ``ledger`` reads the store afterwards; ``verdict``
says what is wrong; ``run`` puts them together. ``bench/chaos.py`` is the full run,
``tests/server/test_chaos.py`` the short one CI makes every time.
"""
