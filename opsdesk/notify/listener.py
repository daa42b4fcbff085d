"""The SMTP listener behind `opsdesk mail listen`: aiosmtpd, storing every message first.

A message is accepted (250) once it is stored as `InboundMail`; if it cannot even be
stored (the database is down), the sender is told to try again later (451), so nothing
is lost either way. Processing runs in a worker thread, never in the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.controller import Controller
from django.db import close_old_connections, connection

from opsdesk.notify.inbound import receive

logger = logging.getLogger(__name__)

#: Larger messages are refused by the SMTP server (552) before anything is stored.
MAX_MESSAGE_BYTES = 32 * 1024 * 1024


def _store(raw: bytes, mail_from: str, rcpt_to: list[str]) -> int:
    """Runs in an executor thread: its database connection is closed after each message, so
    no idle connection is left behind in a pool thread."""
    close_old_connections()
    try:
        return receive(raw, mail_from=mail_from, rcpt_to=rcpt_to).pk
    finally:
        connection.close()


class DeskHandler:
    """aiosmtpd handler: accept any recipient (unknown ones are kept for review)."""

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        mail_from = envelope.mail_from or "<>"
        rcpt_to = list(envelope.rcpt_tos)
        loop = asyncio.get_running_loop()
        try:
            pk = await loop.run_in_executor(None, _store, raw, mail_from, rcpt_to)
        except Exception:
            logger.exception("could not store a message from %s", mail_from)
            return "451 4.3.0 Could not store the message; try again later"
        logger.info("stored inbound mail %s from %s", pk, mail_from)
        return "250 2.0.0 Message accepted"


def start_listener(host: str = "127.0.0.1", port: int = 2525) -> Controller:
    """Start the listener in its own thread; call ``.stop()`` on the result to end it."""
    controller = Controller(
        DeskHandler(), hostname=host, port=port, data_size_limit=MAX_MESSAGE_BYTES
    )
    controller.start()
    return controller
