"""The job lifecycle: what happens to a job between SubmitJob and its final state.

Owns: ``manager`` and ``recovery`` (the only writers of jobs), ``runs``, ``transitions``,
``scheduler``/``routing``/``ratelimit``/``quotas`` (admission), ``submission``, ``validation``,
``circuit_formats`` (circuits as submitted) and ``result_encoding`` (results as stored).
May import: ``executors``, ``store`` and ``core``; never ``streams``, ``api`` or above.
"""
