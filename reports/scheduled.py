"""A scheduled report's content: the customers it covers, their summary, the biggest spenders
and the export file, made with the report's own summary and export code.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatcrm.domain import CustomerFilters, Shop, Sort
from chatcrm.report_query import parse_filters
from chatcrm.schedules import Cadence, report_period
from chatcrm.segments import resolve_segment
from reports.exports import DEFAULT_LIMITS, ExportLimits, ExportRequest, export_customers
from reports.mail import TOP_SPENDERS, Attachment, DownloadLink, ReportMail, attachment_name
from reports.rows import customer_row
from reports.summary import shape_summary

if TYPE_CHECKING:
    from chatcrm.store import ShopStore

BIGGEST_FIRST = Sort("paid_total", ascending=False)
"""The order of a report e-mail's export when its segment sets none."""


@dataclass(frozen=True)
class FileLimits:
    """What happens to a large export: attached up to `attach_bytes`, else a download link."""

    attach_bytes: int = 10 * 1024 * 1024
    public_url: str | None = None
    """The service's public base URL (CHATCRM_PUBLIC_URL); without it no link can be made."""
    link_days: int = 7


def covered(schedule: dict[str, Any], fire_at: datetime) -> tuple[date, date] | None:
    """The shop-local days a report fired at `fire_at` covers; None when it covers everyone."""
    if schedule.get("period", "cadence") == "all":
        return None
    return report_period(Cadence.from_doc(schedule["cadence"]), schedule["timezone"], fire_at)


async def report_filters(
    shop_store: ShopStore, shop: Shop, schedule: dict[str, Any], period: tuple[date, date] | None
) -> tuple[CustomerFilters, Sort]:
    """The customers a report covers (its segment, narrowed to its period) and their order.

    NotFoundError when its segment was deleted: such a report is never sent to everyone.
    """
    params: dict[str, Any] = {}
    if period is not None:
        params = {"updated_from": period[0].isoformat(), "updated_to": period[1].isoformat()}
    if schedule.get("segment_id"):
        params["segment"] = schedule["segment_id"]
    filters = parse_filters(params, shop.timezone)
    filters, segment_sort = await resolve_segment(shop_store, shop.timezone, filters)
    return filters, segment_sort or BIGGEST_FIRST


async def build_report(
    shop_store: ShopStore,
    shop: Shop,
    schedule: dict[str, Any],
    fire_at: datetime,
    *,
    actor: str,
    workdir: Path,
    limits: FileLimits,
    now: datetime,
    export_limits: ExportLimits = DEFAULT_LIMITS,
) -> ReportMail:
    """Everything the e-mail of `schedule` fired at `fire_at` says, its file in `workdir`.

    The export is the API's (`export_customers`, split into a ZIP of parts when large, and
    audited); the summary is the report summary's. An export over `limits.attach_bytes`
    becomes a download link stored with the shop.
    """
    period = covered(schedule, fire_at)
    filters, sort = await report_filters(shop_store, shop, schedule, period)
    summary = shape_summary(await shop_store.customers.summary(filters), shop.currency)
    top, _ = await shop_store.customers.search(filters, BIGGEST_FIRST, limit=TOP_SPENDERS)
    mail = ReportMail(
        shop, schedule["name"], fire_at, period, summary, [customer_row(d) for d in top]
    )
    if schedule.get("format", "xlsx") == "none":
        return mail
    described = {"schedule_id": schedule["_id"], "segment": schedule.get("segment_id")}
    if period is not None:
        described["period"] = [period[0].isoformat(), period[1].isoformat()]
    request = ExportRequest("filtered", schedule["format"], filters, sort, True, described)
    result = await export_customers(
        shop_store, shop, request, actor=actor, workdir=workdir, limits=export_limits
    )
    name = attachment_name(schedule["name"], mail.local_day, result.filename.rsplit(".", 1)[-1])
    attachment = Attachment(result.path, name, result.content_type)
    return await _attach(shop_store, replace(mail, rows=result.rows), attachment, limits, now)


async def _attach(
    shop_store: ShopStore,
    mail: ReportMail,
    attachment: Attachment,
    limits: FileLimits,
    now: datetime,
    export_limits: ExportLimits = DEFAULT_LIMITS,
) -> ReportMail:
    """`mail` with its export attached, or linked (for `limits.link_days`) when too large."""
    size = attachment.path.stat().st_size
    if size <= limits.attach_bytes:
        return replace(mail, attachment=attachment)
    if limits.public_url is None:
        return replace(mail, too_large=True)
    expires = now + timedelta(days=limits.link_days)
    token = await shop_store.downloads.put(
        attachment.path,
        filename=attachment.filename,
        content_type=attachment.content_type,
        now_ms=int(now.timestamp() * 1000),
        expires_ms=int(expires.timestamp() * 1000),
    )
    link = DownloadLink(f"{limits.public_url}/downloads/{token}", expires)
    return replace(mail, link=link)
