"""The platforms chatcrm connects to: one line per platform module, everything else derived.

Each listed module defines ``CONNECTOR``, a `connectors.base.Connector` subclass that declares
the platform. The channel API, the CLI, the report filters, the export labels, the webhook
route and the OpenAPI document all read the platforms from here.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from chatcrm.domain import DomainError
from connectors.base import Connector, Labels, Secret

PLATFORM_MODULES = (
    "connectors.line",
    "connectors.telegram",
    "connectors.messenger",
    "connectors.whatsapp",
)
"""The platform units, in the order they are offered."""


def _load(modules: tuple[str, ...]) -> dict[str, type[Connector]]:
    found: dict[str, type[Connector]] = {}
    for name in modules:
        connector: type[Connector] = importlib.import_module(name).CONNECTOR
        found[connector.platform] = connector
    return found


CONNECTORS: Mapping[str, type[Connector]] = _load(PLATFORM_MODULES)
"""Connector classes by platform name (``Channel.platform``)."""

PLATFORMS: tuple[str, ...] = tuple(CONNECTORS)
"""Platforms a channel can be connected to."""

CHANNEL_LABELS: Mapping[str, Labels] = {
    channel: labels
    for connector in CONNECTORS.values()
    for channel, labels in connector.customer_channels.items()
}
"""Labels of every customer ``channel`` value (Instagram contacts come through Messenger)."""

CUSTOMER_CHANNELS: tuple[str, ...] = tuple(CHANNEL_LABELS)
"""Values of a customer's ``channel``."""


def _secrets_by_name(connectors: Mapping[str, type[Connector]]) -> dict[str, Secret]:
    """One secret per name; a name that platforms explain differently explains each one."""
    found: dict[str, dict[str, Secret]] = {}
    for connector in connectors.values():
        for secret in connector.secrets:
            found.setdefault(secret.name, {})[connector.labels["en"]] = secret
    merged: dict[str, Secret] = {}
    for name, by_label in found.items():
        helps = dict.fromkeys(secret.help for secret in by_label.values())
        if len(helps) == 1:
            merged[name] = next(iter(by_label.values()))
        else:
            text = "; ".join(f"{label}: {secret.help}" for label, secret in by_label.items())
            merged[name] = Secret(name, text)
    return merged


SECRETS: Mapping[str, Secret] = _secrets_by_name(CONNECTORS)
"""Every secret of every platform by name (a CLI option each, with the help of each platform
that uses the name); each connector checks its own."""


def connector_class(platform: object) -> type[Connector]:
    """The connector of `platform`, or DomainError naming the field ``platform``."""
    if not isinstance(platform, str) or platform not in CONNECTORS:
        raise DomainError(f"platform must be one of {', '.join(PLATFORMS)}", field="platform")
    return CONNECTORS[platform]


def channel_label(channel: str, locale: str) -> str | None:
    """How sellers read a customer ``channel`` in `locale`; None for an unknown value."""
    labels = CHANNEL_LABELS.get(channel)
    return None if labels is None else labels.get(locale, labels["en"])


def secrets_description() -> str:
    """Which secrets each platform needs, for API and CLI help."""
    return "; ".join(f"{p}: {', '.join(s.name for s in c.secrets)}" for p, c in CONNECTORS.items())
