"""Status streams without gap or duplicate: live fan-out over the durable event log.

Owns: ``events`` (the in-process bus the store publishes commits to), ``feeds`` (tails of
the log for WatchJob and WatchJobs) and ``cursors`` (resume and page tokens).
May import: ``store`` and ``core``; it reads what ``jobs`` wrote, never calls it.
"""
