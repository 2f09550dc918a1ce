"""The Prometheus exporter: one more reader of an instance, whose numbers
are counters per group of tasks that never go back (totals.py), served as
fresh metric families at every scrape (collector.py)."""
