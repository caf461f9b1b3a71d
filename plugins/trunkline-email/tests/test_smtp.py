"""Inbound SMTP: 250 only once stored, limits, STARTTLS and AUTH, refusals that lose nothing.

Each bad-input test first stores a good message and checks, after the bad one, that it is
still there: a refusal must never cost what was accepted before.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import ssl
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest

from trunkline import Runtime, hookimpl
from trunkline_email.adapter import EmailChannel

from .conftest import SUPPORT, WORKSPACE, all_messages, plugin_manager, run_swaks, running

pytestmark = pytest.mark.anyio

CUSTOMER = "cust@example.test"


def mail(subject: str = "help", body: str = "hello", **headers: str) -> bytes:
    lines = [f"From: Customer <{CUSTOMER}>", f"To: {SUPPORT}", f"Subject: {subject}"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n" + body + "\r\n").encode()


async def send(
    channel: EmailChannel, raw: bytes, *, sender: str = CUSTOMER, to: tuple[str, ...] = (SUPPORT,)
) -> tuple[int, str]:
    """One SMTP transaction; the DATA reply (or the first refusal) as (code, text)."""
    assert channel.smtp_port is not None
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=channel.smtp_port, timeout=10) as smtp:
        code, text = await smtp.mail(sender)
        for rcpt in to:
            code, text = await smtp.execute_command(b"RCPT", f"TO:<{rcpt}>".encode())
            if code >= 400:
                return code, text
        try:
            reply = await smtp.data(raw)
        except aiosmtplib.SMTPResponseException as exc:
            return exc.code, exc.message
        return reply.code, reply.message


async def kept(runtime: Runtime) -> list[str]:
    return [m.body for m in await all_messages(runtime)]


async def test_swaks_mail_becomes_a_contact_with_subject_body_and_attachment(
    tmp_path: Path, swaks: str
) -> None:
    attachment = tmp_path / "invoice.pdf"
    attachment.write_bytes(b"%PDF-1.4 invoice 42\n")
    async with running(tmp_path) as (runtime, channel):
        assert channel.smtp_port is not None
        result = await run_swaks(
            swaks, channel.smtp_port, "--to", SUPPORT, "--from", CUSTOMER,
            "--header", "Subject: my invoice", "--body", "please check", "--attach", f"@{attachment}",
        )  # fmt: skip
        assert "<-  250 2.0.0 OK: stored as ms_" in result.stdout, result.stdout
        [message] = await all_messages(runtime)
        contact = await runtime.store.contact(WORKSPACE, message.contact_id)
        assert contact is not None
        assert contact.subject == "my invoice"
        assert contact.channel_kind == "email"
        assert str(contact.address) == f"email:{CUSTOMER}" or contact.address.value == CUSTOMER
        assert "please check" in message.body
        names = {a.filename: a for a in message.attachments}
        pdf = names["invoice.pdf"]
        assert pdf.sha256 == hashlib.sha256(attachment.read_bytes()).hexdigest()
        assert channel.blobs.get(pdf.sha256) == attachment.read_bytes()
        raw = channel.blobs.get(names["original.eml"].sha256)
        assert b"Subject: my invoice" in raw
        # What the agent desktop opens through the API: the same bytes, or None when not kept.
        assert await channel.read_attachment(pdf.sha256) == attachment.read_bytes()
        assert await channel.read_attachment("0" * 64) is None
        assert await channel.read_attachment("../etc/passwd") is None


async def test_the_250_names_a_message_already_in_the_store(tmp_path: Path) -> None:
    async with running(tmp_path) as (runtime, channel):
        code, text = await send(channel, mail())
        assert code == 250
        message_id = text.split("stored as ")[1].split()[0]
        assert message_id in {m.id for m in await all_messages(runtime)}
        # The same message again (same Message-ID) is a duplicate, still 250.
        raw = mail(Message_ID="<once@example.test>")
        first = await send(channel, raw)
        again = await send(channel, raw)
        assert again[0] == 250
        assert "already stored as" in again[1]
        assert again[1].split("as ")[1] == first[1].split("as ")[1]
        assert len(await all_messages(runtime)) == 2


async def test_oversize_gets_552_with_the_limit_and_nothing_before_is_lost(tmp_path: Path) -> None:
    async with running(tmp_path, {"max_message_bytes": 4096}) as (runtime, channel):
        assert (await send(channel, mail(body="small")))[0] == 250
        code, text = await send(channel, mail(body=("x" * 70 + "\r\n") * 80))
        assert code == 552
        assert "4096" in text
        # Announced up front with SIZE=: refused at MAIL, before any data is sent.
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=channel.smtp_port) as smtp:
            with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
                await smtp.mail(CUSTOMER, options=["SIZE=999999"])
            assert refused.value.code == 552
            assert "4096" in refused.value.message
        assert await kept(runtime) == ["small"]


async def test_too_many_recipients_get_452_and_the_message_still_arrives_once(
    tmp_path: Path,
) -> None:
    settings = {"max_recipients": 2, "addresses": ["@cc.test"]}
    async with running(tmp_path, settings) as (runtime, channel):
        assert (await send(channel, mail(body="before")))[0] == 250
        code, text = await send(channel, mail(), to=("a@cc.test", "b@cc.test", "c@cc.test"))
        assert code == 452
        assert "at most 2" in text
        assert await kept(runtime) == ["before"]


async def test_an_address_the_channel_does_not_serve_gets_550(tmp_path: Path) -> None:
    async with running(tmp_path) as (runtime, channel):
        code, text = await send(channel, mail(), to=("someone@elsewhere.test",))
        assert code == 550
        assert "no such mailbox" in text
        assert await kept(runtime) == []


async def test_a_store_failure_answers_451_never_250_and_a_retry_is_stored(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as (runtime, channel):
        assert (await send(channel, mail(body="before")))[0] == 250
        append = runtime.store.append
        failures = [OSError("disk full")]

        async def failing(events: Any) -> int:
            if failures:
                raise failures.pop()
            return await append(events)

        runtime.store.append = failing  # type: ignore[method-assign]
        raw = mail(body="during", Message_ID="<retry@example.test>")
        code, text = await send(channel, raw)
        assert code == 451, text
        assert await kept(runtime) == ["before"]
        code, _ = await send(channel, raw)  # the sender retries
        assert code == 250
        assert await kept(runtime) == ["before", "during"]


class CrashingFilter:
    @hookimpl
    def trunkline_inbound_filter(self, message: Any, workspace: str) -> str | None:
        if "crash" in message.body:
            raise RuntimeError("the filter plugin crashed")
        if "spam" in message.body:
            return "looks like spam"
        return None


async def test_a_crashing_filter_plugin_loses_nothing_and_a_refusal_is_550(
    tmp_path: Path,
) -> None:
    pm = plugin_manager()
    pm.register_plugin(CrashingFilter(), "crashing-filter")
    async with running(tmp_path, pm=pm) as (runtime, channel):
        assert (await send(channel, mail(body="before")))[0] == 250
        code, _ = await send(channel, mail(body="please crash"))
        assert code == 250  # the plugin is isolated; the message is kept
        code, text = await send(channel, mail(body="buy spam"))
        assert code == 550
        assert "looks like spam" in text
        assert await kept(runtime) == ["before", "please crash"]


def raw_mail(*headers: bytes, body: bytes = b"hello") -> bytes:
    """A message from its header lines as bytes, sent as they are (8-bit, not encoded)."""
    lines = [f"To: {SUPPORT}".encode(), *headers]
    if not any(line.lower().startswith(b"from:") for line in headers):
        lines.insert(0, f"From: Customer <{CUSTOMER}>".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body + b"\r\n"


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (b"Message-ID: <m-\xff@example.test>", "the Message-ID header contains"),
        (b"From: Customer <cust\xfe@example.test>", "the From header contains"),
        (b"Subject: caf\xe9 (Latin-1, not UTF-8)", "the Subject header contains"),
        (b"In-Reply-To: <earlier-\xff@example.test>", "the In-Reply-To header contains"),
        (b"References: <a@example.test> <b\x80@example.test>", "the References header contains"),
    ],
)
async def test_a_header_that_is_not_utf8_gets_a_permanent_5xx_and_nothing_is_lost(
    tmp_path: Path, header: bytes, problem: str
) -> None:
    # The parser keeps such bytes as lone surrogates (surrogateescape); the SQLite lookups
    # could not encode them: 451, and the sending server retried for days.
    async with running(tmp_path) as (runtime, channel):
        assert (await send(channel, mail(body="before", Message_ID="<ok@example.test>")))[0] == 250
        code, text = await send(channel, raw_mail(header))
        assert code == 554, text
        assert text.startswith("5.6.0 Malformed message: "), text
        assert problem in text
        assert "which is not UTF-8" in text
        assert await kept(runtime) == ["before"]
        # What was accepted before is still there, and recognised when it comes again.
        again = await send(channel, mail(body="before", Message_ID="<ok@example.test>"))
        assert (again[0], "already stored as" in again[1]) == (250, True)


async def test_utf8_headers_are_read_as_utf8(tmp_path: Path) -> None:
    # RFC 6532: with SMTPUTF8, headers may be UTF-8 as they are, without encoded words.
    async with running(tmp_path) as (runtime, channel):
        raw = raw_mail(
            "Subject: Café ☕ für Jürgen".encode(), "From: Jürgen <j@example.test>".encode()
        )
        code, text = await send(channel, raw)
        assert code == 250, text
        [message] = await all_messages(runtime)
        contact = await runtime.store.contact(WORKSPACE, message.contact_id)
        assert contact is not None
        assert contact.subject == "Café ☕ für Jürgen"


async def test_broken_mime_is_accepted_and_its_raw_bytes_kept(tmp_path: Path, swaks: str) -> None:
    broken = (
        b"From: cust@example.test\r\nSubject: =?utf-8?q?broken=ZZ?=\r\n"
        b'Content-Type: multipart/mixed; boundary="never-closed"\r\n\r\n'
        b"--never-closed\r\nContent-Type: text/plain; charset=no-such-charset\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n%%%not base64\xff\xfe\r\n"
    )
    data = tmp_path / "broken.eml"
    data.write_bytes(broken)
    async with running(tmp_path) as (runtime, channel):
        assert (await send(channel, mail(body="before")))[0] == 250
        assert channel.smtp_port is not None
        result = await run_swaks(
            swaks, channel.smtp_port, "--to", SUPPORT, "--from", CUSTOMER, "--data", str(data)
        )
        assert "<-  250 2.0.0 OK: stored as" in result.stdout, result.stdout
        messages = await all_messages(runtime)
        assert len(messages) == 2
        raw = next(a for a in messages[1].attachments if a.filename == "original.eml")
        unix = channel.blobs.get(raw.sha256).replace(b"\r\n", b"\n")
        assert unix.rstrip(b"\n") == broken.replace(b"\r\n", b"\n").rstrip(b"\n")


async def test_a_malformed_command_gets_a_5xx_and_the_session_goes_on(tmp_path: Path) -> None:
    async with running(tmp_path) as (runtime, channel):
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=channel.smtp_port) as smtp:
            code, _ = await smtp.execute_command(b"MAIL", b"FROM:")
            assert code == 501
            code, _ = await smtp.execute_command(b"DATA")
            assert code == 503
            code, _ = await smtp.execute_command(b"NONSENSE")
            assert 500 <= code < 600
            assert (await smtp.noop())[0] == 250
        assert (await send(channel, mail(body="after")))[0] == 250
        assert await kept(runtime) == ["after"]


async def test_our_own_mail_coming_back_is_refused_as_a_loop(tmp_path: Path) -> None:
    async with running(tmp_path) as (runtime, channel):
        assert (await send(channel, mail(body="before")))[0] == 250
        code, text = await send(channel, mail(body="x", X_Loop="trunkline@cc.test"))
        assert (code, text.split()[0]) == (554, "5.4.6")
        code, _ = await send(channel, mail(body="y", Message_ID="<tl.123.456@cc.test>"))
        assert code == 554
        hops = "".join(f"Received: from hop{i} by hop{i + 1}\r\n" for i in range(31))
        code, text = await send(channel, hops.encode() + mail(body="z"))
        assert code == 554
        assert "31 Received" in text
        assert await kept(runtime) == ["before"]


@pytest.mark.parametrize(
    ("sender", "headers", "why"),
    [
        ("", {}, "bounce: null sender <>"),
        ("MAILER-DAEMON@relay.example", {}, "bounce: from MAILER-DAEMON@relay.example"),
        (CUSTOMER, {"Auto-Submitted": "auto-replied"}, "Auto-Submitted: auto-replied"),
        (CUSTOMER, {"Precedence": "bulk"}, "Precedence: bulk"),
        (CUSTOMER, {"List-Id": "<news.example.test>"}, "List-Id: mailing list"),
    ],
)
async def test_automatic_mail_is_stored_and_marked_not_to_be_answered(
    tmp_path: Path, sender: str, headers: dict[str, str], why: str
) -> None:
    async with running(tmp_path) as (runtime, channel):
        raw = mail(**{k.replace("-", "_"): v for k, v in headers.items()})
        code, _ = await send(channel, raw, sender=sender)
        assert code == 250
        [message] = await all_messages(runtime)
        contact = await runtime.store.contact(WORKSPACE, message.contact_id)
        assert contact is not None
        assert contact.attributes["email_auto_reply"] is False
        assert contact.attributes["email_automatic"] == why


async def test_a_person_s_mail_may_be_answered(tmp_path: Path) -> None:
    async with running(tmp_path) as (runtime, channel):
        assert (await send(channel, mail(Auto_Submitted="no")))[0] == 250
        [message] = await all_messages(runtime)
        contact = await runtime.store.contact(WORKSPACE, message.contact_id)
        assert contact is not None
        assert contact.attributes["email_auto_reply"] is True
        assert "email_automatic" not in contact.attributes


# STARTTLS and AUTH ---------------------------------------------------------------------------


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[dict[str, str], ssl.SSLContext]:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server = ca.issue_cert("mx.cc.test", "127.0.0.1")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    server.cert_chain_pems[0].write_to_path(str(cert))
    for pem in server.cert_chain_pems[1:]:
        with cert.open("ab") as out:
            out.write(pem.bytes())
    server.private_key_pem.write_to_path(str(key))
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return {"tls_cert": str(cert), "tls_key": str(key)}, client


async def test_starttls_then_auth_and_wrong_auth_is_535_and_loses_nothing(
    tmp_path: Path, certificate: tuple[dict[str, str], ssl.SSLContext]
) -> None:
    tls, client = certificate
    settings = {
        **tls,
        "require_tls": True,
        "auth_required": True,
        "auth_username": "scanner",
        "auth_password": {"env": "SMTP_PASSWORD"},
    }
    env = {"SMTP_PASSWORD": "s3cret"}
    async with running(tmp_path, settings, env=env) as (runtime, channel):
        port = channel.smtp_port

        async def session(password: str | None, body: str) -> int:
            async with aiosmtplib.SMTP(
                hostname="127.0.0.1", port=port, tls_context=client, start_tls=True
            ) as smtp:
                if password is not None:
                    try:
                        await smtp.login("scanner", password)
                    except aiosmtplib.SMTPAuthenticationError as exc:
                        return exc.code
                try:
                    await smtp.sendmail(CUSTOMER, [SUPPORT], mail(body=body))
                except aiosmtplib.SMTPResponseException as exc:
                    return exc.code
                return 250

        assert await session("s3cret", "with the right password") == 250
        assert await session("wrong", "with a wrong password") == 535
        assert await session(None, "without logging in") == 530
        # Without STARTTLS the server asks for it first.
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False) as plain:
            code, text = await plain.execute_command(b"MAIL", f"FROM:<{CUSTOMER}>".encode())
            assert code == 530
            assert "STARTTLS" in text
        assert await kept(runtime) == ["with the right password"]


async def test_swaks_over_starttls_with_auth(
    tmp_path: Path, swaks: str, certificate: tuple[dict[str, str], ssl.SSLContext]
) -> None:
    tls, _ = certificate
    settings = {
        **tls,
        "auth_username": "scanner",
        "auth_password": {"env": "P"},
        "auth_required": True,
    }
    async with running(tmp_path, settings, env={"P": "pw"}) as (runtime, channel):
        assert channel.smtp_port is not None
        ok = await run_swaks(
            swaks, channel.smtp_port, "--to", SUPPORT, "--from", CUSTOMER, "-tls",
            "--auth", "PLAIN", "--auth-user", "scanner", "--auth-password", "pw", "--body", "via swaks",
        )  # fmt: skip
        assert "<~  250 2.0.0 OK: stored as" in ok.stdout, ok.stdout + ok.stderr
        bad = await run_swaks(
            swaks, channel.smtp_port, "--to", SUPPORT, "--from", CUSTOMER, "-tls",
            "--auth", "PLAIN", "--auth-user", "scanner", "--auth-password", "nope",
        )  # fmt: skip
        assert "<~* 535" in bad.stdout, bad.stdout
        assert await kept(runtime) == ["via swaks"]


def test_auth_without_tls_is_refused_in_the_settings() -> None:
    from trunkline_email.settings import EmailSettings

    with pytest.raises(ValueError, match="only over TLS"):
        EmailSettings(auth_username="u")


def test_received_mail_parses_back(tmp_path: Path) -> None:
    # The helper's own output is a real message (guards the other tests' premise).
    parsed = email.message_from_bytes(mail(subject="x", body="y"), policy=email.policy.default)
    assert parsed["subject"] == "x"
