"""Sending e-mail: SMTP through aiosmtplib, or .eml files in the outbox when no SMTP_URL is set.

Failures come back classified: temporary ones (no connection, a 4xx answer) are worth another
attempt later; permanent ones (a 5xx answer) are not. The server's own words are kept.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import aiosmtplib

from chatcrm.config import Settings, SmtpServer

log = logging.getLogger(__name__)

SMTP_TIMEOUT = 60.0


class MailError(Exception):
    """Sending failed for every recipient; `temporary` tells whether trying later may help."""

    def __init__(self, message: str, *, temporary: bool) -> None:
        super().__init__(message)
        self.temporary = temporary


@dataclass
class SendResult:
    """What the server did with each recipient of one message."""

    accepted: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    """Permanently refused recipients (5xx), with the server's answer."""
    deferred: dict[str, str] = field(default_factory=dict)
    """Temporarily refused recipients (4xx), with the server's answer: try them again later."""
    where: str = ""
    """The SMTP server, or the .eml file written."""


class Mailer(Protocol):
    """Hands one message to its recipients."""

    async def send(
        self, message: bytes, *, sender: str, recipients: list[str], name: str
    ) -> SendResult:
        """Send `message` (`name`: a file-safe name for it); MailError when nobody got it."""
        ...


def _answer(code: int, message: str) -> str:
    return f"{code} {' '.join(message.split())}"


class SmtpMailer:
    """SMTP with STARTTLS or implicit TLS and authentication, one connection per message."""

    def __init__(self, server: SmtpServer, timeout: float = SMTP_TIMEOUT) -> None:
        self.server = server
        self.timeout = timeout

    async def send(
        self, message: bytes, *, sender: str, recipients: list[str], name: str
    ) -> SendResult:
        """Send over SMTP; per-recipient refusals are reported, whole failures raised."""
        server = self.server
        client = aiosmtplib.SMTP(
            hostname=server.host,
            port=server.port,
            username=server.username,
            password=server.password,
            use_tls=server.implicit_tls,
            start_tls=True if server.require_starttls else None,
            timeout=self.timeout,
            local_hostname=socket.gethostname(),
        )
        where = f"{server.host}:{server.port}"
        try:
            async with client:
                errors, _ = await client.sendmail(sender, recipients, message)
        except aiosmtplib.SMTPRecipientsRefused as err:
            errors = {r.recipient: r for r in err.recipients}
        except aiosmtplib.SMTPResponseException as err:
            raise MailError(
                _answer(err.code, err.message), temporary=400 <= err.code < 500
            ) from err
        except OSError as err:  # no connection, a timeout, a server that hung up
            raise MailError(f"cannot deliver to {where}: {err}", temporary=True) from err
        except aiosmtplib.SMTPException as err:  # STARTTLS or AUTH unavailable, and the like
            raise MailError(f"{where}: {err}", temporary=False) from err
        result = SendResult(where=where)
        for recipient in recipients:
            answer = errors.get(recipient)
            if answer is None:
                result.accepted.append(recipient)
            elif 400 <= answer.code < 500:
                result.deferred[recipient] = _answer(answer.code, answer.message)
            else:
                result.refused[recipient] = _answer(answer.code, answer.message)
        return result


class OutboxMailer:
    """Writes each message as ``<outbox>/<name>.eml`` (the embedded default: nothing to set up).

    The file of a message is written whole or not at all, and writing it again replaces it.
    """

    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox

    async def send(
        self, message: bytes, *, sender: str, recipients: list[str], name: str
    ) -> SendResult:
        """Write the message file and log its path; every recipient counts as reached."""
        path = await asyncio.to_thread(self._write, message, name)
        log.info("report e-mail for %s written to %s", ", ".join(recipients), path)
        return SendResult(accepted=list(recipients), where=str(path))

    def _write(self, message: bytes, name: str) -> Path:
        self.outbox.mkdir(parents=True, exist_ok=True)
        path = self.outbox / f"{name}.eml"
        partial = path.with_suffix(".eml.partial")
        partial.write_bytes(message)
        os.replace(partial, path)
        return path


def mailer_for(settings: Settings) -> Mailer:
    """SMTP when ``SMTP_URL`` is set, else the outbox under the data directory."""
    if settings.smtp is not None:
        return SmtpMailer(settings.smtp)
    return OutboxMailer(settings.data_dir / "outbox")
