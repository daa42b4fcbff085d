"""Log records carry the request id, so one request can be followed across log lines."""

from __future__ import annotations

import logging

from opsdesk.core.context import current_request_id


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id() or "-"
        return True
