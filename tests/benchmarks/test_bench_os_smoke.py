"""The benchmarks across three OS-process nodes run end to end in their quick mode (no
timing assertions): RO (cluster registry), P1O and PO (tracker, partition and heal)."""

import pytest
from test_bench_smoke import assert_measured, assert_printed, quick_run


@pytest.mark.timeout(300)
def test_registry_benchmark_across_os_nodes_quick_prints_its_figures() -> None:
    lines = quick_run("registry.py", "--only", "RO")
    assert_printed(lines, "RO register on n1 visible on n2 and n3", "median", "p99")
    assert_measured(lines, "RO registrations/s, 3 OS nodes (vs pg joins)")
    assert_measured(lines, "RO registrations/s, 3 OS nodes (vs plain sends)")


@pytest.mark.timeout(300)
def test_presence_benchmark_across_os_nodes_quick_prints_its_figures() -> None:
    lines = quick_run("presence.py", "--only", "P1O,PO")
    assert_measured(lines, "P1O tracks/s", "PO 3 OS nodes", "PO the same from the reconnection")
