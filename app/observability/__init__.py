"""How the processes can be watched: logs with task and request ids, Prometheus metrics, optional tracing.

`logs` and `metrics` are set up by every process (`app.broker`, which api, worker and scheduler import first);
`tracing` is imported only when OTEL_EXPORTER_OTLP_ENDPOINT is set. See docs/operations.md.
"""
