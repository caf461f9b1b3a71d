"""Parsing, HTML to text, threading tokens, loops, bounces and authenticity: no network."""

from __future__ import annotations

from pathlib import Path

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from trunkline_email.auth_results import authentication_results, dkim_verify, verdict
from trunkline_email.bounces import parse_bounce
from trunkline_email.html_text import html_to_text
from trunkline_email.parse import parse_mail
from trunkline_email.state import MailState
from trunkline_email.threads import add_token, find_token, reply_subject, thread_of, token_for

ALTERNATIVE = b"""From: =?iso-8859-1?q?J=FCrgen_M=FCller?= <Juergen@Example.TEST>
Subject: =?utf-8?b?UmVjaG51bmcgw7xiZXIgMTAwIOKCrA==?=
Message-ID: <abc@example.test>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Gr=FC=DFe aus K=F6ln
--alt
Content-Type: text/html; charset=utf-8

<p>HTML version</p>
--alt--
--outer
Content-Type: image/png
Content-ID: <logo@example.test>
Content-Disposition: inline
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--outer
Content-Type: application/pdf; name="r.pdf"
Content-Disposition: attachment; filename="=?utf-8?q?Rechnung_=C3=BC.pdf?="
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--outer--
"""


def test_alternative_picks_the_text_part_and_decodes_charsets_and_encoded_words() -> None:
    mail = parse_mail(ALTERNATIVE)
    assert mail.sender == "juergen@example.test"
    assert mail.sender_name == "Jürgen Müller"
    assert mail.subject == "Rechnung über 100 €"
    assert mail.text == "Grüße aus Köln"
    assert mail.message_id == "<abc@example.test>"
    image, pdf = mail.parts
    assert (image.content_type, image.inline, image.content_id) == (
        "image/png",
        True,
        "<logo@example.test>",
    )
    assert image.data.startswith(b"\x89PNG")
    assert (pdf.filename, pdf.data, pdf.inline) == ("Rechnung ü.pdf", b"%PDF-1.4\n", False)


def test_html_only_mail_becomes_safe_text() -> None:
    raw = (
        b"From: a@b.test\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><head><style>p{color:red}</style><script>alert(1)</script></head>"
        b"<body><p>Hello &amp; welcome&nbsp;&lt;you&gt;</p><ul><li>one<li>two</ul>"
        b'<a href="https://shop.test/o/1">your order</a><img src=x onerror="evil()"></body></html>'
    )
    text = parse_mail(raw).text
    assert "alert" not in text
    assert "color" not in text
    assert "<" not in text.replace("<you>", "")
    assert "Hello & welcome <you>" in text
    assert "- one\n- two" in text
    assert "your order [https://shop.test/o/1]" in text
    assert "onerror" not in text


def test_html_to_text_survives_unclosed_and_nested_markup() -> None:
    assert html_to_text("<script>x<script>y</script>after") == "after"
    assert html_to_text("<p>a<p>b") == "a\n\nb"
    assert html_to_text("") == ""


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_parse_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    mail = parse_mail(raw)
    assert mail.message_id.startswith("<")
    assert "\x00" not in mail.sender + mail.message_id


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                b"Content-Type: multipart/mixed; boundary=b\r\n",
                b"--b\r\n",
                b"--b--\r\n",
                b"Content-Transfer-Encoding: base64\r\n",
                b"Content-Type: text/html\r\n",
                b"Subject: =?utf-8?q?x=FF?=\r\n",
                b"\r\n",
                b"<p>x</p>\r\n",
                b"\xff\xfe\r\n",
                b"Content-Type: message/rfc822\r\n",
                b"From: <>\r\n",
                b"Message-ID: <a@b>\r\n",
            ]
        ),
        max_size=40,
    )
)
def test_parse_never_raises_on_mime_shaped_garbage(lines: list[bytes]) -> None:
    parse_bounce(parse_mail(b"".join(lines)))  # neither may raise


@given(st.text(max_size=200), st.text(min_size=1, max_size=100))
def test_a_subject_token_round_trips(subject: str, root: str) -> None:
    assume(find_token(subject) is None)
    token = token_for(root)
    tagged = add_token(subject, token)
    assert find_token(tagged) == token
    assert find_token(reply_subject(tagged)) == token
    assert add_token(tagged, token) == tagged


def test_reply_subject_folds_prefixes() -> None:
    assert reply_subject("AW: Re: RE: order 17") == "Re: order 17"
    assert reply_subject("") == "Re: your message"


def test_threading_rules(tmp_path: Path) -> None:
    state = MailState(tmp_path / "s.db")
    first = parse_mail(b"From: c@x.test\r\nMessage-ID: <1@x.test>\r\nSubject: hi\r\n\r\nq")
    thread = thread_of(first, state)
    assert thread == token_for("<1@x.test>")
    state.remember_inbound(
        message_id="<1@x.test>", thread=thread, address="c@x.test", contact_id="ct_1", subject="hi"
    )
    state.remember_outbound(
        message_id="<tl.9@cc.test>", thread=thread, contact_id="ct_1", trunkline_id="ms_9"
    )
    in_reply = parse_mail(b"From: c@x.test\r\nIn-Reply-To: <tl.9@cc.test>\r\n\r\nthanks")
    assert thread_of(in_reply, state) == thread
    by_token = parse_mail(f"From: c@x.test\r\nSubject: Re: hi [#{thread}]\r\n\r\nx".encode())
    assert thread_of(by_token, state) == thread
    stranger = parse_mail(f"From: evil@y.test\r\nSubject: [#{thread}]\r\n\r\nx".encode())
    assert thread_of(stranger, state) != thread
    forgotten = parse_mail(b"From: c@x.test\r\nReferences: <root@x.test> <2@x.test>\r\n\r\nx")
    assert thread_of(forgotten, state) == token_for("<root@x.test>")
    assert state.contact("ct_1").references == ("<1@x.test>", "<tl.9@cc.test>")  # type: ignore[union-attr]
    state.close()


DSN = b"""From: MAILER-DAEMON@relay.cc.test
To: support@cc.test
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="r"

--r
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.
--r
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.cc.test

Final-Recipient: rfc822; nobody@cc.test
Original-Recipient: rfc822;nobody@cc.test
Action: failed
Status: 5.1.1
Diagnostic-Code: x-unix; user unknown

--r
Content-Type: text/rfc822-headers

From: support@cc.test
To: nobody@cc.test
Message-ID: <tl.42@cc.test>
X-Trunkline-Message: ms_42
Subject: Re: help

--r--
"""


def test_a_dsn_names_the_original_message_and_the_failed_recipient() -> None:
    bounce = parse_bounce(parse_mail(DSN))
    assert bounce is not None
    assert bounce.failed
    assert (bounce.message_id, bounce.trunkline_id) == ("<tl.42@cc.test>", "ms_42")
    [failure] = bounce.recipients
    assert (failure.recipient, failure.status, failure.diagnostic) == (
        "nobody@cc.test",
        "5.1.1",
        "user unknown",
    )
    assert parse_bounce(parse_mail(ALTERNATIVE)) is None


def test_only_trusted_authentication_results_count() -> None:
    raw = (
        b"Authentication-Results: attacker.test; spf=pass; dkim=pass; dmarc=pass\r\n"
        b"Authentication-Results: mx.cc.test (our MTA); spf=fail smtp.mailfrom=x.test;\r\n"
        b" dkim=fail header.d=x.test; dkim=pass header.d=y.test; dmarc=fail\r\n"
        b"From: a@x.test\r\n\r\nx"
    )
    mail = parse_mail(raw)
    assert authentication_results(mail, ["mx.cc.test"]) == {
        "spf": "fail",
        "dkim": "pass",
        "dmarc": "fail",
    }
    assert authentication_results(mail, []) == {}
    assert verdict(authentication_results(mail, ["mx.cc.test"]))["email_suspected_spoof"] is True
    assert (
        verdict({"spf": "pass", "dkim": "pass", "dmarc": "pass"})["email_suspected_spoof"] is False
    )
    assert verdict({})["email_spf"] == "none"


def test_dkim_is_verified_with_dkimpy() -> None:
    import dkim
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    import base64

    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)

    def dns(name: bytes, timeout: int = 5) -> bytes:
        return record if name == b"sel._domainkey.x.test." else b""

    message = b"From: a@x.test\r\nTo: s@cc.test\r\nSubject: signed\r\n\r\nbody\r\n"
    signature = dkim.sign(
        message, b"sel", b"x.test", private, include_headers=[b"from", b"subject"]
    )
    assert dkim_verify(signature + message, dnsfunc=dns) == "pass"
    assert dkim_verify(signature + message.replace(b"body", b"tampered"), dnsfunc=dns) == "fail"
    assert dkim_verify(message, dnsfunc=dns) == "none"
