"""Report e-mails: subject, text and HTML parts, the attachment or a download link (no I/O
but reading the attachment file).

Everything a customer or a seller typed (shop and report names, customer names, tags) is
escaped in the HTML part; the text part is plain text.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from chatcrm.domain import Shop
from connectors.registry import channel_label
from reports.columns import currency_exponent

TOP_SPENDERS = 10
TOP_TAGS = 10
_MONTHS = {
    "en": ("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec").split(),
    "th": ("ม.ค. ก.พ. มี.ค. เม.ย. พ.ค. มิ.ย. ก.ค. ส.ค. ก.ย. ต.ค. พ.ย. ธ.ค.").split(),
}
LABELS = {
    "en": {
        "report": "Report",
        "period": "Period",
        "all": "all customers up to",
        "customers": "Customers",
        "paid": "Paid total",
        "channels": "Customers per channel",
        "tags": "Top tags",
        "top": "Biggest spenders",
        "name": "Name",
        "channel": "Channel",
        "orders": "Orders",
        "attached": "The customer list is attached",
        "rows": "rows",
        "link": "The customer list is too large to attach; download it (link valid until {})",
        "too_large": "The customer list is too large to attach, and this service has no public "
        "address for a download link (CHATCRM_PUBLIC_URL): ask its operator.",
        "none": "none",
        "footer": "Sent by chatcrm for {}.",
    },
    "th": {
        "report": "รายงาน",
        "period": "ช่วงเวลา",
        "all": "ลูกค้าทั้งหมดจนถึง",
        "customers": "จำนวนลูกค้า",
        "paid": "ยอดชำระแล้ว",
        "channels": "ลูกค้าตามช่องทาง",
        "tags": "แท็กที่ใช้มากที่สุด",
        "top": "ลูกค้าที่ใช้จ่ายสูงสุด",
        "name": "ชื่อ",
        "channel": "ช่องทาง",
        "orders": "คำสั่งซื้อ",
        "attached": "แนบรายชื่อลูกค้าไว้ในอีเมลนี้",
        "rows": "แถว",
        "link": "รายชื่อลูกค้ามีขนาดใหญ่เกินกว่าจะแนบได้ ดาวน์โหลดได้ที่ลิงก์นี้ (ใช้ได้ถึง {})",
        "too_large": "รายชื่อลูกค้ามีขนาดใหญ่เกินกว่าจะแนบได้ และบริการนี้ไม่มีที่อยู่สาธารณะสำหรับลิงก์"
        "ดาวน์โหลด (CHATCRM_PUBLIC_URL) โปรดติดต่อผู้ดูแลระบบ",
        "none": "ไม่มี",
        "footer": "ส่งโดย chatcrm สำหรับ {}",
    },
}


@dataclass(frozen=True)
class Attachment:
    """The export file that goes with the e-mail."""

    path: Path
    filename: str
    """As the recipient sees it (any Unicode; sent RFC 2231-encoded)."""
    content_type: str


@dataclass(frozen=True)
class DownloadLink:
    """Where to fetch an export too large to attach, and until when."""

    url: str
    expires_at: datetime


@dataclass(frozen=True)
class ReportMail:
    """Everything one report e-mail says."""

    shop: Shop
    title: str
    """The schedule's name."""
    fire_at: datetime
    period: tuple[date, date] | None
    """The shop-local days covered (both included); None: every customer."""
    summary: dict[str, Any]
    """`reports.summary.shape_summary` of the report's customers."""
    top: list[dict[str, Any]]
    """The biggest spenders, as report rows."""
    rows: int | None = None
    """Rows of the export (None: the summary only)."""
    attachment: Attachment | None = None
    link: DownloadLink | None = None
    too_large: bool = False
    """The export is too large to attach and no download link could be made."""

    @property
    def language(self) -> str:
        """``th`` or ``en``."""
        return "th" if self.shop.locale.startswith("th") else "en"

    def label(self, key: str) -> str:
        """A fixed text in the shop's language."""
        return LABELS[self.language][key]

    def day(self, value: date) -> str:
        """A day as the shop reads it: ``23 Nov 2026``, or ``23 พ.ย. 2569`` (Buddhist era)."""
        year = value.year + 543 if self.language == "th" else value.year
        return f"{value.day} {_MONTHS[self.language][value.month - 1]} {year}"

    @property
    def local_day(self) -> date:
        """The shop-local day of the fire time."""
        return self.fire_at.astimezone(ZoneInfo(self.shop.timezone)).date()

    def money(self, minor: int) -> str:
        """Minor units as ``1,250.00 THB``."""
        exponent = currency_exponent(self.shop.currency)
        value = Decimal(int(minor)).scaleb(-exponent)
        return f"{value:,.{exponent}f} {self.shop.currency}"

    def period_text(self) -> str:
        """What the report covers, in words."""
        if self.period is None:
            return f"{self.label('all')} {self.day(self.local_day)}"
        first, last = self.period
        return self.day(first) if first == last else f"{self.day(first)} – {self.day(last)}"

    def channel(self, name: str | None) -> str:
        """A channel as sellers read it."""
        return (channel_label(name, self.language) or name) if name else "-"


def subject(mail: ReportMail) -> str:
    """``<shop>: <report> — <date>`` in the shop's language (no line breaks)."""
    text = f"{mail.shop.name}: {mail.label('report')} {mail.title} — {mail.day(mail.local_day)}"
    return " ".join(text.split())


def _customer_name(row: dict[str, Any]) -> str:
    return row.get("name") or row.get("platform_user_id") or row["id"]


def _file_line(mail: ReportMail) -> str | None:
    if mail.attachment is not None:
        rows = f"{mail.rows:,} {mail.label('rows')}"
        return f"{mail.label('attached')}: {mail.attachment.filename} ({rows})"
    if mail.link is not None:
        return mail.label("link").format(mail.day(mail.link.expires_at.date()))
    if mail.too_large:
        return mail.label("too_large")
    return None


def text_body(mail: ReportMail) -> str:
    """The plain-text part."""
    summary = mail.summary
    lines = [
        f"{mail.label('report')}: {mail.title}",
        f"{mail.label('period')}: {mail.period_text()}",
        "",
        f"{mail.label('customers')}: {summary['customers']:,}",
        f"{mail.label('paid')}: {mail.money(summary['paid_total'])}",
        "",
        f"{mail.label('channels')}:",
        *(f"  {mail.channel(c['channel'])}: {c['customers']:,}" for c in summary["channels"]),
        "",
        f"{mail.label('tags')}:",
        *(f"  {t['tag']}: {t['customers']:,}" for t in summary["tags"][:TOP_TAGS]),
        "",
        f"{mail.label('top')}:",
        *(
            f"  {i}. {_customer_name(r)} ({mail.channel(r['channel'])}) "
            f"{mail.money(r['paid_total'])}, {r['order_count']} {mail.label('orders')}"
            for i, r in enumerate(mail.top, 1)
        ),
    ]
    file_line = _file_line(mail)
    if file_line:
        lines += ["", file_line]
        if mail.link is not None:
            lines.append(mail.link.url)
    lines += ["", "-- ", mail.label("footer").format(mail.shop.name)]
    return "\n".join(lines) + "\n"


def _cells(*values: str, tag: str = "td") -> str:
    return "<tr>" + "".join(f"<{tag}>{html.escape(v)}</{tag}>" for v in values) + "</tr>"


def html_body(mail: ReportMail) -> str:
    """The HTML part: the same content as the text part, every dynamic text escaped."""
    e = html.escape
    summary = mail.summary
    channels = [
        _cells(mail.channel(c["channel"]), f"{c['customers']:,}") for c in summary["channels"]
    ]
    tags = [_cells(t["tag"], f"{t['customers']:,}") for t in summary["tags"][:TOP_TAGS]]
    head = (mail.label("name"), mail.label("channel"), mail.label("paid"), mail.label("orders"))
    top = [_cells(*head, tag="th")] + [
        _cells(
            _customer_name(r),
            mail.channel(r["channel"]),
            mail.money(r["paid_total"]),
            str(r["order_count"]),
        )
        for r in mail.top
    ]
    file_line = _file_line(mail)
    file_html = f"<p>{e(file_line)}</p>" if file_line else ""
    if mail.link is not None:
        file_html += f'<p><a href="{e(mail.link.url)}">{e(mail.link.url)}</a></p>'
    none = f"<tr><td>{e(mail.label('none'))}</td></tr>"
    return (
        f'<!DOCTYPE html><html lang="{mail.language}"><head><meta charset="utf-8">'
        f"<title>{e(subject(mail))}</title></head>"
        '<body style="font-family:sans-serif">'
        f"<h2>{e(mail.label('report'))}: {e(mail.title)}</h2>"
        f"<p>{e(mail.shop.name)}<br>{e(mail.label('period'))}: {e(mail.period_text())}</p>"
        "<table>"
        + _cells(mail.label("customers"), f"{summary['customers']:,}")
        + _cells(mail.label("paid"), mail.money(summary["paid_total"]))
        + f"</table><h3>{e(mail.label('channels'))}</h3><table>{''.join(channels) or none}</table>"
        f"<h3>{e(mail.label('tags'))}</h3><table>{''.join(tags) or none}</table>"
        f"<h3>{e(mail.label('top'))}</h3><table>{''.join(top)}</table>"
        f"{file_html}<p><small>{e(mail.label('footer').format(mail.shop.name))}</small></p>"
        "</body></html>"
    )


_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


def attachment_name(title: str, day: date, extension: str) -> str:
    """The attachment's file name: the report's name and the day (any Unicode, no path)."""
    base = " ".join(_UNSAFE_NAME.sub(" ", title).split())[:80].strip(" .") or "report"
    return f"{base} {day.isoformat()}.{extension}"


def compose(
    mail: ReportMail, *, sender: str, recipients: list[str], message_id: str, now: datetime
) -> bytes:
    """The whole message as bytes (reads the attachment: call it in a worker thread)."""
    message = EmailMessage(policy=SMTP)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject(mail)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text_body(mail))
    message.add_alternative(html_body(mail), subtype="html")
    if mail.attachment is not None:
        kind, *options = (part.strip() for part in mail.attachment.content_type.split(";"))
        maintype, _, subtype = kind.partition("/")
        message.add_attachment(
            mail.attachment.path.read_bytes(),
            maintype=maintype,
            subtype=subtype,
            filename=mail.attachment.filename,
            params=dict(option.partition("=")[::2] for option in options),
        )
    return message.as_bytes()
