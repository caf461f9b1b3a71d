"""Threads, replies, bounces and authenticity through a running channel (relay: a bare sink)."""

from __future__ import annotations

import email
import email.message
import email.policy
from pathlib import Path

import pytest

from trunkline import Address
from trunkline import events as ev
from trunkline.testing import wait_for_event

from .conftest import SUPPORT, WORKSPACE, all_messages, running, sink
from .test_smtp import CUSTOMER, mail, send

pytestmark = pytest.mark.anyio


def parsed(raw: bytes) -> email.message.EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


async def test_a_reply_threads_both_ways_and_survives_a_restart(tmp_path: Path) -> None:
    async with sink() as relay:
        settings = {"from_address": SUPPORT, "relay_port": relay.port}
        async with running(tmp_path, settings) as (runtime, channel):
            raw = mail(subject="order 17", body="where is it?", Message_ID="<q1@example.test>")
            await send(channel, raw)
            [question] = await all_messages(runtime)
            events = runtime.subscribe()
            reply = await runtime.reply(WORKSPACE, question.contact_id, "on its way")
            await wait_for_event(
                events, lambda e: isinstance(e, ev.MessageSent) and e.message_id == reply.id
            )
            sent = parsed(relay.received[0][2])
            assert sent["In-Reply-To"] == "<q1@example.test>"
            assert sent["References"] == "<q1@example.test>"
            assert sent["Message-ID"].startswith("<tl.")
            assert sent["Message-ID"].endswith("@cc.test>")
            assert sent["X-Trunkline-Message"] == reply.id
            assert sent["Subject"].startswith("Re: order 17 [#")
            assert sent["X-Loop"] == "trunkline@cc.test"
            assert sent.get_content_type() == "multipart/alternative"
            html = sent.get_body(preferencelist=("html",))
            assert html is not None
            assert "<p>on its way</p>" in html.get_content()
            our_id = sent["Message-ID"]
        # After a restart the customer answers our reply (In-Reply-To only, like some clients).
        async with running(tmp_path, settings) as (runtime, channel):
            code, _ = await send(channel, mail(body="thanks", In_Reply_To=our_id))
            assert code == 250
            *_, answer = await all_messages(runtime)
            assert answer.contact_id == question.contact_id
            events = runtime.subscribe()
            again = await runtime.reply(WORKSPACE, question.contact_id, "you're welcome")
            await wait_for_event(
                events, lambda e: isinstance(e, ev.MessageSent) and e.message_id == again.id
            )
            second = parsed(relay.received[1][2])
            assert second["References"].split()[:2] == ["<q1@example.test>", our_id]
            assert second["In-Reply-To"] != our_id  # it answers the customer's latest


async def test_a_new_mail_starts_a_new_contact_and_a_token_joins_the_old(tmp_path: Path) -> None:
    async with sink() as relay:
        settings = {"from_address": SUPPORT, "relay_port": relay.port}
        async with running(tmp_path, settings) as (runtime, channel):
            await send(channel, mail(subject="first", Message_ID="<a@example.test>"))
            await send(channel, mail(subject="second topic", Message_ID="<b@example.test>"))
            first, second = await all_messages(runtime)
            assert first.contact_id != second.contact_id
            events = runtime.subscribe()
            reply = await runtime.reply(WORKSPACE, first.contact_id, "ok")
            await wait_for_event(events, lambda e: isinstance(e, ev.MessageSent))
            subject = str(parsed(relay.received[0][2])["Subject"])
            assert reply.id
            # A reply from a client that drops In-Reply-To and References: the token joins.
            await send(channel, mail(subject=f"RE: {subject}", body="by token"))
            *_, joined = await all_messages(runtime)
            assert joined.contact_id == first.contact_id


async def test_a_bounce_lands_on_the_contact_of_the_message_that_bounced(tmp_path: Path) -> None:
    async with sink() as relay:
        settings = {"from_address": SUPPORT, "relay_port": relay.port}
        async with running(tmp_path, settings) as (runtime, channel):
            await send(channel, mail(Message_ID="<q@example.test>"))
            [question] = await all_messages(runtime)
            events = runtime.subscribe()
            reply = await runtime.reply(WORKSPACE, question.contact_id, "answer")
            await wait_for_event(events, lambda e: isinstance(e, ev.MessageSent))
            sent = parsed(relay.received[0][2])
            dsn = (
                "From: MAILER-DAEMON@relay.cc.test\r\nTo: support@cc.test\r\n"
                "Subject: Undelivered Mail\r\nMIME-Version: 1.0\r\n"
                'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n'
                "--r\r\nContent-Type: text/plain\r\n\r\nSorry.\r\n"
                "--r\r\nContent-Type: message/delivery-status\r\n\r\n"
                "Reporting-MTA: dns; relay.cc.test\r\n\r\n"
                f"Final-Recipient: rfc822; {CUSTOMER}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
                "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n"
                "--r\r\nContent-Type: text/rfc822-headers\r\n\r\n"
                f"Message-ID: {sent['Message-ID']}\r\nSubject: x\r\n\r\n--r--\r\n"
            ).encode()
            code, _ = await send(channel, dsn, sender="")
            assert code == 250
            # The reply is marked failed, with the bounce's reason, in the same append.
            failed = await wait_for_event(
                events, lambda e: isinstance(e, ev.MessageFailed) and e.message_id == reply.id
            )
            assert isinstance(failed, ev.MessageFailed)
            assert f"failed to {CUSTOMER}: 5.1.1" in failed.error
            *_, bounce = await all_messages(runtime)
            assert bounce.contact_id == question.contact_id
            assert f"Our message {reply.id} could not be delivered" in bounce.body
            assert f"failed to {CUSTOMER}: 5.1.1" in bounce.body
            # A second bounce naming the customer's own message fails nothing.
            forged = dsn.replace(sent["Message-ID"].encode(), b"<q@example.test>")
            forged = forged.replace(b"Subject: Undelivered", b"Message-ID: <f@x>\r\nSubject: U")
            assert (await send(channel, forged, sender=""))[0] == 250
            log = await runtime.store.read(WORKSPACE)
            assert [e.event.message_id for e in log if isinstance(e.event, ev.MessageFailed)] == [
                reply.id
            ]


async def test_a_suspected_spoof_goes_to_the_review_queue(tmp_path: Path) -> None:
    settings = {"trusted_authserv_ids": ["mx.cc.test"], "review_queue": "review"}
    async with running(tmp_path, settings, queues=("support", "review")) as (runtime, channel):
        spoof = b"Authentication-Results: mx.cc.test; spf=fail; dkim=none; dmarc=fail\r\n"
        good = b"Authentication-Results: mx.cc.test; spf=pass; dkim=pass; dmarc=pass\r\n"
        await send(channel, spoof + mail(subject="urgent wire transfer", Message_ID="<s@x>"))
        await send(channel, good + mail(subject="normal", Message_ID="<g@x>"))
        suspicious, normal = await all_messages(runtime)
        s = await runtime.store.contact(WORKSPACE, suspicious.contact_id)
        n = await runtime.store.contact(WORKSPACE, normal.contact_id)
        assert s is not None
        assert n is not None
        assert (s.queue, s.attributes["email_dmarc"], s.attributes["email_suspected_spoof"]) == (
            "review",
            "fail",
            True,
        )
        assert (n.queue, n.attributes["email_spf"], n.attributes["email_suspected_spoof"]) == (
            "support",
            "pass",
            False,
        )


async def test_a_refusing_relay_fails_the_reply_for_good_and_a_deferring_one_retries(
    tmp_path: Path,
) -> None:
    async with sink() as relay:
        settings = {"from_address": SUPPORT, "relay_port": relay.port}
        async with running(tmp_path, settings) as (runtime, channel):
            await send(channel, mail())
            [question] = await all_messages(runtime)
            events = runtime.subscribe()
            relay.answer = "554 5.7.1 rejected by policy"
            refused = await runtime.reply(WORKSPACE, question.contact_id, "one")
            failed = await wait_for_event(
                events, lambda e: isinstance(e, ev.MessageFailed) and e.message_id == refused.id
            )
            assert "554" in failed.error  # type: ignore[attr-defined]
            relay.answer = "451 4.3.0 try later"
            deferred = await runtime.reply(WORKSPACE, question.contact_id, "two")
            attempt = await wait_for_event(
                events,
                lambda e: isinstance(e, ev.SendAttemptFailed) and e.message_id == deferred.id,
            )
            assert "451" in attempt.error  # type: ignore[attr-defined]
            relay.answer = None
            await wait_for_event(
                events, lambda e: isinstance(e, ev.MessageSent) and e.message_id == deferred.id
            )
            assert len(relay.received) == 1


async def test_no_reply_is_sent_to_a_mailer_daemon(tmp_path: Path) -> None:
    async with sink() as relay:
        settings = {"from_address": SUPPORT, "relay_port": relay.port}
        async with running(tmp_path, settings) as (runtime, channel):
            await send(
                channel, mail().replace(CUSTOMER.encode(), b"MAILER-DAEMON@x.test"), sender=""
            )
            [bounce] = await all_messages(runtime)
            events = runtime.subscribe()
            reply = await runtime.reply(WORKSPACE, bounce.contact_id, "hello?")
            failed = await wait_for_event(
                events, lambda e: isinstance(e, ev.MessageFailed) and e.message_id == reply.id
            )
            assert "automatic sender" in failed.error  # type: ignore[attr-defined]
            assert relay.received == []


async def test_a_new_customer_is_named_by_the_from_display_name_and_keeps_it(
    tmp_path: Path,
) -> None:
    def from_ana(name: str, message_id: str) -> bytes:
        lines = [f"From: {name} <ana@example.test>", f"To: {SUPPORT}", "Subject: hello"]
        lines.append(f"Message-ID: {message_id}")
        return ("\r\n".join(lines) + "\r\n\r\nhi\r\n").encode()

    async with sink() as relay:
        settings = {"from_address": SUPPORT, "relay_port": relay.port}
        async with running(tmp_path, settings) as (runtime, channel):
            code, _ = await send(
                channel, from_ana("Ana Lima", "<n1@example.test>"), sender="ana@example.test"
            )
            assert code == 250
            address = Address("email", "ana@example.test")
            customer = await runtime.store.customer_by_address(WORKSPACE, address)
            assert customer is not None
            assert customer.name == "Ana Lima"
            # A later mail under another display name does not rename a known customer.
            await send(channel, from_ana("A. L.", "<n2@example.test>"), sender="ana@example.test")
            assert len(await all_messages(runtime)) == 2
            again = await runtime.store.customer_by_address(WORKSPACE, address)
            assert again is not None
            assert (again.id, again.name) == (customer.id, "Ana Lima")
