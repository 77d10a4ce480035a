"""The SMTP client against a real server: STARTTLS, implicit TLS, authentication, refusals."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chatcrm.config import SmtpServer
from chatcrm.mailer import MailError, SmtpMailer
from tests.fakes.smtp import FakeSmtp

MESSAGE = b"From: a@shop.example\r\nTo: b@shop.example\r\nSubject: hi\r\n\r\nhello\r\n"
USERS = {"reports@shop.example": "s3cret pass"}


@pytest.fixture
def tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    """A server context for 127.0.0.1 whose self-signed certificate the client trusts."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_path))  # the client's trust store
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context


@pytest.fixture
async def starttls_server(tls: ssl.SSLContext) -> AsyncIterator[FakeSmtp]:
    server = await FakeSmtp(users=USERS, tls=tls).start()
    yield server
    await server.stop()


@pytest.fixture
async def tls_server(tls: ssl.SSLContext) -> AsyncIterator[FakeSmtp]:
    server = await FakeSmtp(users=USERS, tls=tls, implicit_tls=True).start()
    yield server
    await server.stop()


def login(port: int, *, implicit_tls: bool = False, password: str | None = None) -> SmtpServer:
    secret = USERS["reports@shop.example"] if password is None else password
    return SmtpServer("127.0.0.1", port, implicit_tls, "reports@shop.example", secret)


async def test_starttls_then_login(starttls_server: FakeSmtp) -> None:
    mailer = SmtpMailer(login(starttls_server.port))
    result = await mailer.send(
        MESSAGE, sender="a@shop.example", recipients=["b@shop.example"], name="m1"
    )
    assert result.accepted == ["b@shop.example"] and result.where.startswith("127.0.0.1:")
    assert [m.recipients for m in starttls_server.messages] == [["b@shop.example"]]


async def test_implicit_tls_then_login(tls_server: FakeSmtp) -> None:
    mailer = SmtpMailer(login(tls_server.port, implicit_tls=True))
    result = await mailer.send(
        MESSAGE, sender="a@shop.example", recipients=["b@shop.example"], name="m2"
    )
    assert result.accepted == ["b@shop.example"]
    assert len(tls_server.messages) == 1


async def test_a_wrong_password_is_permanent_with_the_servers_words(
    starttls_server: FakeSmtp,
) -> None:
    mailer = SmtpMailer(login(starttls_server.port, password="wrong"))
    with pytest.raises(MailError) as err:
        await mailer.send(
            MESSAGE, sender="a@shop.example", recipients=["b@shop.example"], name="m3"
        )
    assert not err.value.temporary and str(err.value).startswith("535")
    assert starttls_server.messages == []


async def test_credentials_are_never_sent_in_clear_to_a_remote_server() -> None:
    assert SmtpServer("smtp.example.com", 587, False, "u", "p").require_starttls
    assert not SmtpServer("smtp.example.com", 465, True, "u", "p").require_starttls
    assert not SmtpServer("127.0.0.1", 25, False, "u", "p").require_starttls
