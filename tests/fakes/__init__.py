"""Fake LINE, Telegram and Meta Graph API servers on 127.0.0.1 for offline tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from aiohttp import web

__all__ = ["FakeServer", "Headers", "RecordedCall", "recorded_call"]


class Headers(dict[str, str]):
    """Plain dict of request headers whose keys are stored and looked up in lower case."""

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        super().__init__()
        for key, value in (items or {}).items():
            super().__setitem__(key.lower(), value)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(key.lower(), value)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        """Return the header value for ``key`` (any case) or ``default``."""
        return super().get(key.lower(), default)


@dataclass
class RecordedCall:
    """One HTTP request received by a fake server, with the status it was answered with."""

    method: str
    path: str
    headers: Headers
    query: dict[str, str]
    json: Any | None
    body: bytes = b""
    params: dict[str, Any] | None = None
    status: int | None = None

    @property
    def text(self) -> str:
        """Return the raw request body decoded as UTF-8."""
        return self.body.decode("utf-8", errors="replace")


# Where the middleware stores the RecordedCall on the request (RequestKey needs aiohttp >= 3.12).
_CALL_KEY: Any = (
    web.RequestKey("chatcrm_recorded_call", RecordedCall)
    if hasattr(web, "RequestKey")
    else "chatcrm_recorded_call"
)


def recorded_call(request: web.Request) -> RecordedCall:
    """Return the RecordedCall the fake's middleware attached to ``request``."""
    return request[_CALL_KEY]


def _decode_json(body: bytes, content_type: str) -> Any | None:
    if not body or "json" not in content_type:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


class FakeServer:
    """Base of the fakes: an aiohttp app on 127.0.0.1 that records calls and injects failures."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.calls: list[RecordedCall] = []
        self._failures: list[dict[str, Any]] = []
        self._stalls: list[float] = []
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    # ---------------------------------------------------------------- lifecycle
    @property
    def base_url(self) -> str:
        """Return ``http://127.0.0.1:PORT`` (only after :meth:`start`)."""
        if self._base_url is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._base_url

    async def start(self) -> Self:
        """Start listening; returns ``self`` so ``fake = await FakeX().start()`` works."""
        if self._runner is not None:
            return self
        app = web.Application(middlewares=[self._middleware], client_max_size=16 * 1024**2)
        self._setup_routes(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        _host, port = runner.addresses[0][:2]
        self.port = port
        self._base_url = f"http://{self.host}:{port}"
        return self

    async def close(self) -> None:
        """Stop the server (idempotent)."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ---------------------------------------------------------------- test helpers
    def fail_next(self, n: int = 1, status: int = 500, **options: Any) -> None:
        """Answer the next ``n`` requests (any route, before auth) with an error ``status``."""
        if n < 0:
            raise ValueError("n must be >= 0")
        self._failures.extend({"status": status, **options} for _ in range(n))

    def stall_next(self, n: int = 1, seconds: float = 1.0) -> None:
        """Hold the next ``n`` requests for ``seconds`` before answering them (a slow platform)."""
        self._stalls.extend(seconds for _ in range(n))

    @property
    def pending_failures(self) -> int:
        """Return how many injected failures are still queued."""
        return len(self._failures)

    def find_calls(self, method: str | None = None, path: str | None = None) -> list[RecordedCall]:
        """Return recorded calls filtered by HTTP method and/or exact path."""
        return [
            c
            for c in self.calls
            if (method is None or c.method == method.upper()) and (path is None or c.path == path)
        ]

    def reset(self) -> None:
        """Forget recorded calls and queued failures."""
        self.calls.clear()
        self._failures.clear()
        self._stalls.clear()

    # ---------------------------------------------------------------- internals
    def _setup_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def _failure_response(self, status: int, **options: Any) -> web.StreamResponse:
        raise NotImplementedError

    def _finalize(self, response: web.StreamResponse) -> None:
        """Hook for subclasses to add headers to every answer."""

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.read()
        call = RecordedCall(
            method=request.method,
            path=request.path,
            headers=Headers(request.headers),
            query=dict(request.query),
            json=_decode_json(body, request.content_type),
            body=body,
        )
        self.calls.append(call)
        request[_CALL_KEY] = call
        if self._stalls:
            await asyncio.sleep(self._stalls.pop(0))
        if self._failures:
            failure = self._failures.pop(0)
            response = self._failure_response(**failure)
        else:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                response = web.Response(status=exc.status, text=exc.text or exc.reason)
        call.status = response.status
        self._finalize(response)
        return response
