"""Output sinks: each turns metrics.Sample objects into one format."""
