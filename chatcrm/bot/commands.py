"""The bot's commands: one table of handlers, each a match step and an answer step.

As python-telegram-bot's handlers, matching is separate from answering: `find` decides which
command a text is (cheap, no I/O: the webhook route uses `looks_like_command` on every text
message); the lane then calls the command's answer step. A command has an English slash word
(``/customer``; Telegram's ``/customer@shop_bot`` too) and Thai keywords (``ลูกค้า``). Thai
is written without spaces between words, so a keyword may run straight into its arguments
(``รายงานวันนี้``). A text that is not a command is an ordinary customer message.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from chatcrm.bot import answers
from chatcrm.bot.answers import Answer, Ask
from chatcrm.bot.texts import plain
from chatcrm.domain import ROLES
from chatcrm.store.chat_admins import normalise_code

Answerer = Callable[[Ask], Awaitable[Answer]]


def _anything(args: str) -> bool:
    return True


def _code(args: str) -> bool:
    return normalise_code(args) is not None


@dataclass(frozen=True)
class Command:
    """One handler: its words (the slash word first), who may use it, its answer step."""

    name: str
    words: tuple[str, ...]
    answer: Answerer
    roles: tuple[str, ...] = ROLES
    """Chat admin roles that may use it; () for a command of non-admins (``/link``)."""
    thai_accepts: Callable[[str], bool] = _anything
    """Whether arguments after a Thai keyword make the text this command (``ผูก`` needs a
    code: ``ผูก`` is also an everyday word)."""
    listed: bool = True
    """Shown by ``/help``."""

    def match(self, text: str) -> str | None:
        """The arguments when `text` (normalised by `find`) is this command, else None."""
        head, _, rest = text.partition(" ")
        if head.startswith("/"):
            return rest.strip() if head.lower().split("@", 1)[0] in self.words else None
        for word in self.words:
            if not word.startswith("/") and text.startswith(word):
                args = text[len(word) :].strip()
                return args if self.thai_accepts(args) else None
        return None


async def _help(ask: Ask) -> Answer:
    role = str((ask.admin or {}).get("role"))
    lines = [ask.say("help.title", shop=plain(ask.shop.name), role=answers.role_name(ask))]
    lines += [ask.say(f"help.{c.name}") for c in COMMANDS if c.listed and role in c.roles]
    return Answer("\n".join(lines))


COMMANDS: tuple[Command, ...] = (
    Command("help", ("/help", "/start", "ช่วยเหลือ", "ช่วย"), _help),
    Command("customer", ("/customer", "ลูกค้า"), answers.customer),
    Command("top", ("/top", "ท็อป"), answers.top),
    Command("report", ("/report", "รายงาน"), answers.report),
    Command("export", ("/export", "ส่งออก"), answers.export),
    Command("link", ("/link", "ผูก"), answers.link, roles=(), thai_accepts=_code, listed=False),
    Command("unlink", ("/unlink", "เลิกผูก"), answers.unlink),
)
"""Every command, in the order ``/help`` lists them; a Thai keyword that begins another one
(``ช่วยเหลือ`` / ``ช่วย``) comes first."""

UNKNOWN = Command("unknown", (), answers.unknown, listed=False)
"""What an admin's text that is no command gets."""

_THAI_WORDS = tuple(w for c in COMMANDS for w in c.words if not w.startswith("/"))


def normalise(text: str) -> str:
    """A typed text as commands are matched: NFC, trimmed, runs of spaces as one space."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def find(text: str) -> tuple[Command, str] | None:
    """The command `text` is and its arguments; `UNKNOWN` for an unknown slash command; None
    for an ordinary message."""
    clean = normalise(text)
    for command in COMMANDS:
        args = command.match(clean)
        if args is not None:
            return command, args
    if clean.startswith("/"):
        return UNKNOWN, clean
    return None


def looks_like_command(text: str) -> bool:
    """Cheap test for the webhook route: could `text` be a command (or an unknown one)?"""
    clean = text.lstrip()
    return clean.startswith("/") or clean.startswith(_THAI_WORDS)


def is_link(text: str | None) -> bool:
    """True for a ``/link`` text: never stored as a customer message (it carries a code)."""
    found = find(text) if text else None
    return found is not None and found[0].name == "link"
