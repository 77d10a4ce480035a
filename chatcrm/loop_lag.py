"""Event-loop lag: how late the service's event loop runs a timer, the wait a request met.

A task sleeps `tick_s` at a time and records how much later than due it woke up. Whatever held
the loop meanwhile (a long callback, a garbage collection, the process waiting for a CPU)
delayed every webhook and request ready at that moment by as much; a stall is seen within
`tick_s` of its length. `GET /healthz` shows the worst lag of the last `window_s` seconds and
since start-up (see docs/architecture.md#application-lifecycle).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque

TICK_S = 0.01
WINDOW_S = 10


class LoopLag:
    """The worst lag per second of the last `window_s` seconds, and the worst since start."""

    def __init__(self, tick_s: float = TICK_S, window_s: int = WINDOW_S) -> None:
        self.tick_s = tick_s
        self.window_s = window_s
        self.worst_s = 0.0
        """The worst lag since the monitor started."""
        self._seconds: deque[tuple[int, float]] = deque(maxlen=window_s)
        """(second of the loop clock, worst lag in it), newest last."""

    def record(self, lag_s: float, now: float) -> None:
        """Note a timer that ran `lag_s` late at loop time `now`."""
        self.worst_s = max(self.worst_s, lag_s)
        second = math.floor(now)
        if self._seconds and self._seconds[-1][0] == second:
            self._seconds[-1] = (second, max(self._seconds[-1][1], lag_s))
        else:
            self._seconds.append((second, lag_s))

    def recent_s(self, now: float) -> float:
        """The worst lag in the `window_s` seconds up to `now`."""
        since = math.floor(now) - self.window_s
        return max((lag for second, lag in self._seconds if second > since), default=0.0)

    def view(self) -> dict[str, float]:
        """As `GET /healthz` shows it: milliseconds, recent and since start."""
        now = asyncio.get_running_loop().time()
        return {
            f"last_{self.window_s}s": round(self.recent_s(now) * 1000, 1),
            "since_start": round(self.worst_s * 1000, 1),
        }

    async def run(self) -> None:
        """Measure until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.tick_s
            await asyncio.sleep(self.tick_s)
            now = loop.time()
            self.record(max(0.0, now - due), now)
