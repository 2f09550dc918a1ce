"""CPU bandwidth of the task groups that have a quota: the kernel's own
counters (cpu.stat's nr_periods, nr_throttled, throttled_time and the
quota and period), named as cAdvisor names the same counters for a
container (container_cpu_cfs_periods_total, ..._throttled_periods_total,
..._throttled_seconds_total, container_spec_cpu_quota/_period), so that a
dashboard made for one reads the other.  The counters only grow while the
group exists; a group removed leaves no series."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from orchestrator import units
from orchestrator.analysis import currencies
from orchestrator.records import Group

PREFIX = "lottery_group"


def families(groups: Mapping[int, Group], most: int) -> list[Metric]:
    """One series per limited group, by its path; at most `most` of them,
    the most throttled first (a host with a limit on every pod has many)."""
    limited = sorted((g for g in groups.values() if g.quota_ns and g.kind == "cgroup"),
                     key=lambda g: (-g.throttled_ns, g.id))[:most]
    paths = currencies.Paths(groups)
    labels = ["group"]
    periods = CounterMetricFamily(f"{PREFIX}_cfs_periods", "Enforcement periods in which the "
                                  "group had runnable tasks (cpu.stat nr_periods).",
                                  labels=labels)
    throttled_periods = CounterMetricFamily(
        f"{PREFIX}_cfs_throttled_periods", "Periods in which the group used its whole quota "
        "and was throttled (cpu.stat nr_throttled).", labels=labels)
    throttled = CounterMetricFamily(
        f"{PREFIX}_throttled_seconds", "Time the group's run queues were throttled, summed "
        "over its CPUs (cpu.stat throttled_time).", labels=labels)
    quota = GaugeMetricFamily(f"{PREFIX}_spec_cpu_quota_seconds", "CPU time the group may "
                              "run per period (cfs_quota_us, cpu.max).", labels=labels)
    period = GaugeMetricFamily(f"{PREFIX}_spec_cpu_period_seconds", "The enforcement period "
                               "(cfs_period_us, cpu.max).", labels=labels)
    for g in limited:
        label = [paths[g.id]]
        periods.add_metric(label, g.periods)
        throttled_periods.add_metric(label, g.throttled_periods)
        throttled.add_metric(label, g.throttled_ns / units.NS_PER_S)
        quota.add_metric(label, g.quota_ns / units.NS_PER_S)
        period.add_metric(label, g.period_ns / units.NS_PER_S)
    return [periods, throttled_periods, throttled, quota, period]
