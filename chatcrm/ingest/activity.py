"""What the webhook routes tell the inbox workers of the same process: new events, busy acks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class IngestActivity:
    """In-process signals between the webhook routes and the inbox workers (no I/O).

    `stored` wakes an idle worker at once. `acknowledging` brackets a webhook request or a chat
    command being answered (`chatcrm.bot.lane`), so a worker can let them go first
    (`until_quiet`): the platforms wait on acknowledgements (LINE allows 2 s) and sellers on
    answers, while the backlog only has to be processed soon.
    """

    def __init__(self) -> None:
        self.wakeup = asyncio.Event()
        self.in_flight = 0
        self._quiet = asyncio.Event()
        self._quiet.set()

    def stored(self) -> None:
        """New events are in the inbox."""
        self.wakeup.set()

    @contextlib.contextmanager
    def acknowledging(self) -> Iterator[None]:
        """Bracket one webhook request, or one command being answered."""
        self._enter()
        try:
            yield
        finally:
            self._leave()

    @contextlib.contextmanager
    def aside(self) -> Iterator[None]:
        """Within `acknowledging`: a long stretch that need not go first (a command's export
        file), during which the workers may claim."""
        self._leave()
        try:
            yield
        finally:
            self._enter()

    def _enter(self) -> None:
        self.in_flight += 1
        self._quiet.clear()

    def _leave(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._quiet.set()

    async def until_quiet(self, max_wait: float) -> None:
        """Return once nothing bracketed is in flight, or after `max_wait` seconds at most."""
        if self._quiet.is_set() or max_wait <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._quiet.wait(), max_wait)

    async def wait_for_events(self, seconds: float) -> bool:
        """Wait until `stored` is called (True) or `seconds` pass (False)."""
        try:
            await asyncio.wait_for(self.wakeup.wait(), seconds)
        except TimeoutError:
            return False
        finally:
            self.wakeup.clear()
        return True
