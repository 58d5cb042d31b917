"""The gRPC edge: requests in, domain calls, statuses and messages out.

Owns: ``servicers`` (thin), ``job_messages``/``backend_messages`` (proto <-> domain),
``interceptors``/``wrapping`` (errors to statuses, observing calls), ``auth``, ``audit``,
``limits`` (open streams per user), ``peers`` (per-host log lines and failures).
May import: ``jobs``, ``streams``, ``executors``, ``store``, ``core`` and the contract.
"""
