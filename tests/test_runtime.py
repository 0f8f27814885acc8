"""sigpipe.runtime's heap release and the tasks that call it as they end."""

from __future__ import annotations

import inspect
import platform

import pytest

from sigpipe import runtime


def test_release_heap_finds_glibc_malloc_trim_and_runs():
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.skip("malloc_trim is glibc's")
    assert runtime._malloc_trim() is not None
    runtime.release_heap()  # nothing to see but that it returns


def test_heavy_tasks_release_the_heap_as_they_end_returning_or_raising(monkeypatch):
    import tasks.common as common
    from tasks.detect import detect_documents
    from tasks.verify import audit_documents, carry_references, catalog_signatures, embed_signatures

    calls = []
    monkeypatch.setattr(common, "release_heap", lambda: calls.append(1))

    @common.releases_heap
    def ok(a: int, b: str = "x") -> str:
        return f"{a}{b}"

    @common.releases_heap
    def bad() -> None:
        raise ValueError("no")

    assert ok(1, b="y") == "1y" and calls == [1]
    with pytest.raises(ValueError, match="no"):
        bad()
    assert calls == [1, 1]
    assert inspect.signature(ok) == inspect.signature(ok.__wrapped__)  # Prefect binds parameters by it
    for t in (detect_documents, embed_signatures, carry_references, audit_documents, catalog_signatures):
        assert t.fn.__wrapped__.__name__ == t.fn.__name__, t.name
