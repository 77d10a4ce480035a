"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives; tests script answers."""

from __future__ import annotations

import asyncio
import email
import ssl
import warnings
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


@dataclass
class Received:
    """One message the server accepted."""

    sender: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        """The message parsed as a mail client would."""
        parsed = email.message_from_bytes(self.data, policy=default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class FakeSmtp:
    """An SMTP server on the running event loop.

    `data_answers` are given, in order, to the next DATA commands instead of accepting (e.g.
    ``"451 4.3.0 Try again later"``); `rcpt_answers` refuse single recipients. With `users`
    the server requires AUTH; with `tls` it offers STARTTLS (required), or with
    `implicit_tls` speaks TLS from the first byte.
    """

    users: dict[str, str] | None = None
    tls: ssl.SSLContext | None = None
    implicit_tls: bool = False
    data_answers: list[str] = field(default_factory=list)
    rcpt_answers: dict[str, str] = field(default_factory=dict)
    messages: list[Received] = field(default_factory=list)
    connections: int = 0
    port: int = 0
    _server: asyncio.base_events.Server | None = None

    async def start(self, port: int = 0) -> FakeSmtp:
        """Listen on `port` (a free one by default) of 127.0.0.1."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol,
            "127.0.0.1",
            port,
            ssl=self.tls if self.implicit_tls else None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def _protocol(self) -> SMTP:
        self.connections += 1
        starttls = self.tls is not None and not self.implicit_tls
        with warnings.catch_warnings():  # AUTH without STARTTLS is fine over implicit TLS
            warnings.simplefilter("ignore", UserWarning)
            return self._smtp(starttls)

    def _smtp(self, starttls: bool) -> SMTP:
        return SMTP(
            self,
            hostname="localhost",
            tls_context=self.tls if starttls else None,
            require_starttls=starttls,
            auth_required=self.users is not None,
            auth_require_tls=starttls,  # with implicit TLS the whole session is encrypted
            authenticator=self._authenticate if self.users is not None else None,
        )

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and self.users is not None
            and self.users.get(data.login.decode()) == data.password.decode()
        )
        return AuthResult(success=ok, handled=False)

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        """Accept a recipient unless a refusal is scripted for it."""
        if address in self.rcpt_answers:
            return self.rcpt_answers[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        """Keep the message, unless an answer is scripted for this DATA."""
        if self.data_answers:
            return self.data_answers.pop(0)
        self.messages.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                bytes(envelope.original_content or envelope.content),
            )
        )
        return "250 2.0.0 Message accepted"

    def to(self, recipient: str) -> list[Received]:
        """The messages that reached `recipient`."""
        return [m for m in self.messages if recipient in m.recipients]
