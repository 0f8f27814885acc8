"""Prefect tasks: thin wrappers over sigpipe/ and storage/ that own retries and caching.

The per-document tasks carry no tags on purpose. Prefect 3.8 asks the API server for tag concurrency slots
before every tagged task run, even when no limit exists. On the local SQLite server that request waits
whenever the server is writing, and it stalled both workers for about 2 s every ~8 s. Without tags, a
1,000-page audit took 47 s instead of 57-59 s. How many tasks run at once is the flow's task runner's
``max_workers``; a deployment's work pool or deployment concurrency limit caps the flow runs.
"""

from sigpipe.runtime import configure as _configure

_configure()
