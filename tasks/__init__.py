"""Prefect tasks: thin wrappers over sigpipe/ and storage/ that own retries, tags and caching."""

from sigpipe.runtime import configure as _configure

_configure()
