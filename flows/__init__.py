"""Prefect flows: composition only. Importing this package configures the offline runtime first."""

from sigpipe.runtime import configure as _configure

_configure()
