"""The one error a metric raises when it cannot be computed here (missing weights, image too small)."""

from __future__ import annotations

from semcom_exp.errors import SemcomError


class MetricUnavailable(SemcomError):
    """A metric cannot be computed in this environment or for this input.

    Pipelines catch it and record the metric as unavailable with ``reason`` (never a placeholder
    number); uncaught, the runner prints the message, which says what to install or change.
    """

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)
