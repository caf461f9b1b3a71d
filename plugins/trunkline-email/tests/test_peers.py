"""Against real mail software: replies through Postfix into a Maildir, a mailbox polled from
Dovecot over IMAP, and CPython's email test corpus replayed through our SMTP server."""

from __future__ import annotations

import email
import email.message
import email.policy
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiosmtplib
import anyio
import pytest

from trunkline import events as ev
from trunkline.testing import wait_for_event

from . import peers
from .conftest import SUPPORT, WORKSPACE, all_messages, run_swaks, running
from .test_smtp import mail, send

pytestmark = pytest.mark.anyio


async def until(check: Callable[[], Awaitable[bool]], within: float = 15.0) -> None:
    """Poll ``check`` (a file appearing, a counter rising: nothing to wait on as an event)."""
    with anyio.fail_after(within):
        while not await check():  # noqa: ASYNC110 - files and peers signal nothing
            await anyio.sleep(0.05)


async def test_a_reply_goes_through_postfix_into_the_customer_s_maildir(
    tmp_path: Path, mail_peers: tuple[peers.Postfix, peers.Dovecot]
) -> None:
    postfix, _ = mail_peers
    before = set(postfix.delivered("cust"))
    settings = {"from_address": SUPPORT, "relay_port": postfix.port, "from_name": "Support"}
    async with running(tmp_path, settings) as (runtime, channel):
        raw = mail(subject="Lieferung", Message_ID="<ask@cc.test>").replace(
            b"cust@example.test", b"cust@cc.test"
        )
        await send(channel, raw, sender="cust@cc.test")
        [question] = await all_messages(runtime)
        events = runtime.subscribe()
        reply = await runtime.reply(WORKSPACE, question.contact_id, "Grüße, it ships today")
        sent = await wait_for_event(
            events, lambda e: isinstance(e, ev.MessageSent) and e.message_id == reply.id
        )

        async def delivered() -> bool:
            return bool(set(postfix.delivered("cust")) - before)

        await until(delivered)
        [path] = set(postfix.delivered("cust")) - before
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(msg, email.message.EmailMessage)
        assert msg["Message-ID"] == sent.provider_id  # type: ignore[attr-defined]
        assert msg["In-Reply-To"] == "<ask@cc.test>"
        assert msg["References"] == "<ask@cc.test>"
        assert str(msg["From"]) == "Support <support@cc.test>"
        assert re.fullmatch(r"Re: Lieferung \[#[A-Z2-7]{10}\]", str(msg["Subject"]))
        assert "relay.cc.test" in str(msg["Received"])  # it really went through Postfix
        text = msg.get_body(preferencelist=("plain",))
        assert text is not None
        assert text.get_content().strip() == "Grüße, it ships today"


async def test_imap_polling_is_idempotent_marks_seen_and_survives_uidvalidity_changes(
    tmp_path: Path, mail_peers: tuple[peers.Postfix, peers.Dovecot], swaks: str
) -> None:
    import aioimaplib

    postfix, dovecot = mail_peers
    for n in (1, 2):
        result = await run_swaks(
            swaks, postfix.port, "--to", "support@cc.test", "--from", "cust@example.test",
            "--header", f"Subject: polled {n}", "--body", f"mail number {n}",
        )  # fmt: skip
        assert "250 2.0.0 Ok: queued" in result.stdout, result.stdout

    async def both_delivered() -> bool:
        return len(postfix.delivered("support")) >= 2

    await until(both_delivered)
    settings = {
        "smtp_enabled": False,
        "imap_host": "127.0.0.1",
        "imap_port": dovecot.port,
        "imap_ssl": False,
        "imap_username": "support",
        "imap_password": {"env": "IMAP_PASSWORD"},
        "imap_poll_interval": 0.1,
    }
    env = {"IMAP_PASSWORD": dovecot.password}

    async def polled(channel: object, rounds: int) -> None:
        start = channel.poller.rounds  # type: ignore[attr-defined]

        async def done() -> bool:
            return bool(channel.poller.rounds >= start + rounds)  # type: ignore[attr-defined]

        await until(done)

    async with running(tmp_path, settings, env=env) as (runtime, channel):
        await polled(channel, 2)
        assert channel.poller.last_error is None
        bodies = sorted(m.body for m in await all_messages(runtime))
        assert bodies == ["mail number 1", "mail number 2"]

    client = aioimaplib.IMAP4(host="127.0.0.1", port=dovecot.port)
    await client.wait_hello_from_server()
    await client.login("support", dovecot.password)
    await client.select("INBOX")
    unseen = await client.uid_search("UNSEEN")
    assert bytes(unseen.lines[0]).split() == []  # both were marked \Seen

    # A restart polls again from the saved UID: nothing is stored twice.
    async with running(tmp_path, settings, env=env) as (runtime, channel):
        await polled(channel, 2)
        assert len(await all_messages(runtime)) == 2
        # The server renumbers the mailbox (new UIDVALIDITY) and the mail is unread again:
        # it is fetched again, and recognised as duplicates by its Message-ID.
        channel.state.set_imap_position("INBOX", 1, 999)
        await client.uid("store", "1:*", "-FLAGS", "(\\Seen)")
        await polled(channel, 2)
        assert len(await all_messages(runtime)) == 2
        assert channel.poller.last_error is None
    await client.noop()  # let this session see the poller's flag changes
    again = await client.uid_search("UNSEEN")
    assert bytes(again.lines[0]).split() == []
    await client.logout()


def corpus() -> Path:
    try:
        import test.test_email  # type: ignore[import-not-found]
    except ImportError:
        peers.missing(
            "CPython's email test corpus (test.test_email) is not installed with this Python; "
            "apt-get install -y libpython3.11-testsuite gives the same files"
        )
        raise
    return Path(test.test_email.__file__).parent / "data"


async def test_cpython_s_email_corpus_is_accepted_or_refused_properly_and_kept(
    tmp_path: Path,
) -> None:
    files = sorted(corpus().glob("msg_*.txt"))
    assert len(files) > 40
    outcomes: dict[str, str] = {}
    async with running(tmp_path, {"max_message_bytes": 200_000}) as (runtime, channel):
        for path in files:
            raw = path.read_bytes()
            with anyio.fail_after(10):  # none may stall the server
                async with aiosmtplib.SMTP(hostname="127.0.0.1", port=channel.smtp_port) as smtp:
                    try:
                        _, reply = await smtp.sendmail("replay@example.test", [SUPPORT], raw)
                        outcomes[path.name] = f"250 {reply}"
                    except aiosmtplib.SMTPResponseException as exc:
                        outcomes[path.name] = f"{exc.code} {exc.message}"
        stored = {m.id for m in await all_messages(runtime)}
        for name, outcome in outcomes.items():
            code = int(outcome[:3])
            assert code == 250 or 500 <= code < 600, f"{name}: {outcome}"
            if code == 250:
                found = re.search(r"stored as (ms_\w+) in (ct_\w+)", outcome)
                assert found is not None, f"{name}: {outcome}"
                assert found.group(1) in stored, f"{name} was acknowledged but is not stored"
                contact = await runtime.store.contact(WORKSPACE, found.group(2))
                assert contact is not None, f"{name}: no contact {found.group(2)}"
        accepted = [n for n, o in outcomes.items() if o.startswith("250")]
        assert len(accepted) >= len(files) - 5, outcomes  # nearly all are fine mail
        assert (await send(channel, mail(body="still serving")))[0] == 250
