"""Attachments: uploaded over HTTP, recognised by content, kept by SHA-256, sent with a message.

Uploads are real multipart POSTs over loopback (httpx), by a visitor with an open chat (uploads
are taken only then); a refused upload keeps nothing on disk and a message naming a file that
was never uploaded stores nothing. Files are kept under ``files/<workspace>/<channel>/``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from trunkline import Attachment, Contact
from trunkline import events as ev
from trunkline_webchat.files import (
    FileRefused,
    channel_directory,
    check_type,
    clean_filename,
    sniff,
)

from .conftest import (
    CHANNEL,
    WORKSPACE,
    Chat,
    RunChat,
    new_visitor,
    tenants_config,
    webchat_channel,
)

pytestmark = pytest.mark.anyio

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(40)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(40)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"
GIF = b"GIF89a" + bytes(20)
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(20)
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + bytes(40)
HTML = b"<html><script>alert(1)</script></html>"


def kept_files(files_dir: Path, workspace: str = WORKSPACE, channel: str = CHANNEL) -> list[str]:
    """The names kept in a channel's directory of ``files_dir``."""
    directory = files_dir / workspace / channel
    return sorted(p.name for p in directory.glob("*")) if directory.exists() else []


# Uploading and downloading --------------------------------------------------------------------


async def test_an_upload_is_kept_by_its_sha256_and_served_back(
    run_chat: RunChat, tmp_path: Path
) -> None:
    async with run_chat() as chat:
        answer = await chat.upload(PNG, filename="receipt.png", content_type="image/png")
        assert answer.status_code == 200, answer.text
        sha256 = hashlib.sha256(PNG).hexdigest()
        assert answer.json() == {
            "sha256": sha256,
            "filename": "receipt.png",
            "content_type": "image/png",
            "size": len(PNG),
        }
        assert kept_files(tmp_path / "files") == [sha256, f"{sha256}.json"]

        download = await chat.http.get(f"{chat.url}/chat/{CHANNEL}/files/{sha256}")
        assert download.status_code == 200
        assert download.content == PNG
        assert download.headers["content-type"] == "image/png"
        assert download.headers["content-disposition"] == 'attachment; filename="receipt.png"'
        assert download.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in download.headers["content-security-policy"]


async def test_an_undeclared_type_is_recognised_by_content(run_chat: RunChat) -> None:
    async with run_chat() as chat:
        answer = await chat.upload(PDF, filename="invoice", content_type="application/octet-stream")
        assert answer.status_code == 200, answer.text
        assert answer.json()["content_type"] == "application/pdf"


async def test_a_text_file_is_served_as_plain_text(run_chat: RunChat) -> None:
    async with run_chat() as chat:
        text = b"order 7: two boxes, one missing\n"
        answer = await chat.upload(text, filename="notes.txt", content_type="text/plain")
        assert answer.status_code == 200, answer.text
        sha256 = answer.json()["sha256"]
        download = await chat.http.get(f"{chat.url}/chat/{CHANNEL}/files/{sha256}")
        assert download.headers["content-type"] == "text/plain; charset=utf-8"


async def test_a_name_with_a_path_or_odd_characters_is_cleaned(run_chat: RunChat) -> None:
    async with run_chat() as chat:
        answer = await chat.upload(
            PDF, filename="../../etc/\u202eGrüße.pdf", content_type="application/pdf"
        )
        assert answer.json()["filename"] == "Grüße.pdf"
        download = await chat.http.get(f"{chat.url}/chat/{CHANNEL}/files/{answer.json()['sha256']}")
        assert download.headers["content-disposition"] == (
            "attachment; filename*=utf-8''Gr%C3%BC%C3%9Fe.pdf"
        )


async def test_an_upload_over_max_attachment_bytes_gets_413_and_keeps_nothing(
    run_chat: RunChat, tmp_path: Path
) -> None:
    async with run_chat({"max_attachment_bytes": 1000}) as chat:
        fits = await chat.upload(b"a" * 1000, filename="fits.txt", content_type="text/plain")
        assert fits.status_code == 200
        answer = await chat.upload(b"a" * 1001, filename="big.txt", content_type="text/plain")
        assert answer.status_code == 413
        assert answer.json() == {
            "error": "the file is larger than 1000 bytes (max_attachment_bytes)"
        }
        # Far over the limit: refused from Content-Length, before the body is kept.
        huge = await chat.upload(b"a" * 30_000, filename="huge.txt", content_type="text/plain")
        assert huge.status_code == 413
        assert kept_files(tmp_path / "files") == sorted(
            [fits.json()["sha256"], fits.json()["sha256"] + ".json"]
        )


async def test_a_chunked_upload_is_counted_while_it_is_read(
    run_chat: RunChat, tmp_path: Path
) -> None:
    boundary = "b0undary"

    async def body(size: int) -> AsyncIterator[bytes]:  # no Content-Length: chunked
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="token"\r\n\r\n'
            f"{visitor.token}\r\n--{boundary}\r\nContent-Disposition: form-data; "
            f'name="file"; filename="big.txt"\r\nContent-Type: text/plain\r\n\r\n'
        ).encode()
        for _ in range(size // 1000):
            yield b"a" * 1000
        yield f"\r\n--{boundary}--\r\n".encode()

    async with run_chat({"max_attachment_bytes": 20_000}) as chat:
        visitor = await chat.chatting()
        url = f"{chat.url}/chat/{CHANNEL}/files"
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        fits = await chat.http.post(url, content=body(20_000), headers=headers)
        assert fits.status_code == 200, fits.text
        assert "content-length" not in fits.request.headers
        big = await chat.http.post(url, content=body(40_000), headers=headers)
        assert big.status_code == 413
        assert len(kept_files(tmp_path / "files")) == 2  # the first file and its description


@pytest.mark.parametrize(
    ("content", "declared", "error"),
    [
        (
            HTML,
            "image/png",
            "the file is declared as image/png but its content is text/plain; accepted types: "
            "image/png, image/jpeg, application/pdf, text/plain",
        ),
        (
            EXE,
            "application/octet-stream",
            "the file's content is not one of the accepted types "
            "(image/png, image/jpeg, application/pdf, text/plain)",
        ),
        (
            PNG,
            "application/pdf",
            "the file is declared as application/pdf but its content is image/png; "
            "accepted types: image/png, image/jpeg, application/pdf, text/plain",
        ),
        (
            GIF,
            "image/gif",
            "files of type image/gif are not accepted "
            "(accepted: image/png, image/jpeg, application/pdf, text/plain)",
        ),
    ],
)
async def test_a_type_not_accepted_or_not_what_it_claims_gets_415(
    run_chat: RunChat, tmp_path: Path, content: bytes, declared: str, error: str
) -> None:
    async with run_chat() as chat:
        answer = await chat.upload(content, filename="x", content_type=declared)
        assert answer.status_code == 415
        assert answer.json() == {"error": error}
        assert kept_files(tmp_path / "files") == []


async def test_accepted_types_are_a_setting(run_chat: RunChat) -> None:
    async with run_chat({"attachment_types": ["image/gif"]}) as chat:
        assert (await chat.upload(GIF, content_type="image/gif")).status_code == 200
        assert (await chat.upload(PNG, content_type="image/png")).status_code == 415


NO_TOKEN = (
    'the field "token" must be the token the chat\'s welcome gave (or, for a signed-in '
    'visitor, the field "identity" the JSON of the hello\'s identity)'
)


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"token": "short"}, NO_TOKEN),
        ({"token": new_visitor() + "x"}, NO_TOKEN),
        ({"visitor": new_visitor()}, NO_TOKEN),  # the field of old widgets: no longer a key
        ({}, NO_TOKEN),
        ({"token": "chatting", "no_file": True}, 'the field "file" must be a file'),
    ],
)
async def test_a_bad_upload_form_gets_400(
    run_chat: RunChat, form: dict[str, object], error: str
) -> None:
    async with run_chat() as chat:
        if form.get("token") == "chatting":
            form["token"] = (await chat.chatting()).token
        field = "attachment" if form.pop("no_file", False) else "file"
        files = {field: ("a.png", PNG, "image/png")}
        data = {str(k): str(v) for k, v in form.items()} or {"other": "x"}
        answer = await chat.http.post(f"{chat.url}/chat/{CHANNEL}/files", data=data, files=files)
        assert answer.status_code == 400
        assert answer.json() == {"error": error}


async def test_an_upload_that_is_not_multipart_gets_400(run_chat: RunChat) -> None:
    async with run_chat() as chat:
        answer = await chat.http.post(f"{chat.url}/chat/{CHANNEL}/files", json={"file": "x"})
        assert answer.status_code == 400
        assert "multipart/form-data" in answer.json()["error"]


async def test_an_empty_file_gets_400(run_chat: RunChat) -> None:
    async with run_chat() as chat:
        answer = await chat.upload(b"", filename="empty.txt", content_type="text/plain")
        assert (answer.status_code, answer.json()) == (400, {"error": "the file is empty"})


async def test_uploads_count_towards_the_rate_limit(run_chat: RunChat) -> None:
    async with run_chat({"rate_limit": 3}) as chat:
        token = (await chat.chatting()).token  # its "hi" counts too
        for _ in range(2):
            assert (await chat.upload(PDF, token=token)).status_code == 200
        answer = await chat.upload(PDF, token=token)
        assert answer.status_code == 429
        assert answer.json() == {"error": "slow down"}
        assert 1 <= int(answer.headers["retry-after"]) <= 10


async def test_an_upload_from_an_origin_not_allowed_gets_403(run_chat: RunChat) -> None:
    async with run_chat({"allowed_origins": ["https://shop.example.com"]}) as chat:
        refused = await chat.upload(PDF, headers={"Origin": "https://evil.example"})
        assert refused.status_code == 403
        assert refused.json() == {
            "error": "origin https://evil.example may not upload to this chat"
        }
        allowed = await chat.upload(PDF, headers={"Origin": "https://shop.example.com"})
        assert allowed.status_code == 200


@pytest.mark.parametrize("name", ["0" * 64, "not-a-hash", "A" * 64, "0" * 63])
async def test_an_unknown_file_gets_404(run_chat: RunChat, name: str) -> None:
    async with run_chat() as chat:
        answer = await chat.http.get(f"{chat.url}/chat/{CHANNEL}/files/{name}")
        assert answer.status_code == 404
        assert answer.json() == {"error": f"no file with the SHA-256 {name} here"}


# Attachments on messages ------------------------------------------------------------------------


async def test_a_message_carries_the_files_uploaded_before(run_chat: RunChat) -> None:
    async with run_chat() as chat:
        visitor = await chat.chatting()
        png = (await chat.upload(PNG, token=visitor.token, filename="a.png")).json()
        pdf = (await chat.upload(PDF, token=visitor.token, filename="b.pdf")).json()
        answer = await visitor.say("see attached", attachments=[png["sha256"], pdf["sha256"]])
        assert answer["type"] == "ack"
        contact = await chat.runtime.store.open_contact(WORKSPACE, f"{CHANNEL}:{visitor.id}")
        assert contact is not None
        [_, message] = await chat.runtime.store.messages(WORKSPACE, contact.id)
        assert message.attachments == (
            Attachment("a.png", "image/png", len(PNG), png["sha256"]),
            Attachment("b.pdf", "application/pdf", len(PDF), pdf["sha256"]),
        )
        # And the history shows them.
        back = await chat.connect(visitor.token)
        [_, shown] = (await back.hello())["messages"]
        assert [a["sha256"] for a in shown["attachments"]] == [png["sha256"], pdf["sha256"]]
        assert shown["attachments"][0] == png


async def test_a_message_with_only_a_file_is_accepted(run_chat: RunChat) -> None:
    async with run_chat() as chat:
        visitor = await chat.chatting()
        sha256 = (await chat.upload(PDF, token=visitor.token)).json()["sha256"]
        assert (await visitor.say("", attachments=[sha256]))["type"] == "ack"


async def test_a_message_naming_a_file_never_uploaded_stores_nothing(run_chat: RunChat) -> None:
    async with run_chat() as chat:
        visitor = await chat.visitor()
        await visitor.say("kept")
        missing = hashlib.sha256(b"never uploaded").hexdigest()
        answer = await visitor.say("see attached", id="c-2", attachments=[missing])
        assert answer == {
            "type": "error",
            "id": "c-2",
            "error": f"no uploaded file has the SHA-256 {missing}; upload it to files first",
        }
        contact = await chat.runtime.store.open_contact(WORKSPACE, f"{CHANNEL}:{visitor.id}")
        assert contact is not None
        bodies = [m.body for m in await chat.runtime.store.messages(WORKSPACE, contact.id)]
        assert bodies == ["kept"]


async def test_an_agent_reply_with_a_file_is_pushed_with_it(run_chat: RunChat) -> None:
    async with run_chat() as chat:
        visitor = await chat.visitor()
        await visitor.say("send me the form")
        uploaded = (await chat.upload(PDF, token=visitor.token, filename="form.pdf")).json()
        contact = await chat.runtime.store.open_contact(WORKSPACE, f"{CHANNEL}:{visitor.id}")
        assert contact is not None
        attachment = Attachment("form.pdf", "application/pdf", len(PDF), uploaded["sha256"])
        await chat.runtime.reply(WORKSPACE, contact.id, "here it is", attachments=[attachment])
        frame = await visitor.expect("message")
        assert frame["message"]["attachments"] == [uploaded]


# Recognising types on their own -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (GIF, "image/gif"),
        (WEBP, "image/webp"),
        (PDF, "application/pdf"),
        ("Grüße\tund\r\nDank\f".encode(), "text/plain"),
        (EXE, None),
        (b"text with a NUL\x00 inside", None),
        (b"\xff\xfe not UTF-8", None),
        (b"", None),
    ],
)
def test_sniff_recognises_types_by_their_first_bytes(content: bytes, kind: str | None) -> None:
    assert sniff(content) == kind


def test_declared_aliases_are_understood() -> None:
    assert check_type(JPEG, "image/jpg", ("image/jpeg",)) == "image/jpeg"
    assert check_type(PNG, "IMAGE/PNG; name=x", ("image/png",)) == "image/png"
    with pytest.raises(FileRefused) as refused:
        check_type(PNG, "image/jpeg", ("image/png", "image/jpeg"))
    assert refused.value.status == 415


@pytest.mark.parametrize(
    ("name", "clean"),
    [
        ("report.pdf", "report.pdf"),
        ("C:\\Users\\ann\\report.pdf", "report.pdf"),
        ("../../../etc/passwd", "passwd"),
        ("\u202etxt.exe", "txt.exe"),  # no right-to-left override to disguise the extension
        ("...", "file"),
        ("", "file"),
        ("a" * 300, "a" * 200),
    ],
)
def test_file_names_are_cleaned(name: str, clean: str) -> None:
    assert clean_filename(name) == clean


# One files_dir, many tenants --------------------------------------------------------------------


def two_tenants() -> dict[str, object]:
    """acme's site-chat and globex's chat-b, keeping files in the same files_dir."""
    return tenants_config(
        {WORKSPACE: webchat_channel(CHANNEL), "globex": webchat_channel("chat-b")}
    )


async def contact(chat: Chat) -> Contact:
    """globex's one contact."""
    [found] = [
        s.event.contact
        for s in await chat.runtime.store.read("globex")
        if isinstance(s.event, ev.ContactReceived)
    ]
    return found


async def test_a_channel_serves_and_attaches_only_its_own_files(
    run_chat: RunChat, tmp_path: Path
) -> None:
    async with run_chat(config=two_tenants()) as chat:
        uploaded = await chat.upload(PDF, filename="acme-invoice.pdf")
        assert uploaded.status_code == 200
        sha256 = uploaded.json()["sha256"]
        assert kept_files(tmp_path / "files") == [sha256, f"{sha256}.json"]

        # Another tenant's channel does not serve it (main served it: one store for all)…
        other = await chat.http.get(f"{chat.url}/chat/chat-b/files/{sha256}")
        assert other.status_code == 404
        assert other.json() == {"error": f"no file with the SHA-256 {sha256} here"}
        # …takes no message carrying it…
        visitor = await chat.chatting(channel="chat-b")
        answer = await visitor.say("look", id="c-2", attachments=[sha256])
        assert answer["error"] == (
            f"no uploaded file has the SHA-256 {sha256}; upload it to files first"
        )
        # …and reads none of it for its agents.
        chat_b = chat.runtime.channel("chat-b")
        assert await chat_b.read_attachment(sha256) is None  # type: ignore[attr-defined]
        assert await chat.channel.read_attachment(sha256) == PDF

        # The same content uploaded to chat-b is kept there, apart; both are served.
        again = await chat.upload(PDF, token=visitor.token, filename="globex.pdf", channel="chat-b")
        assert again.status_code == 200
        assert kept_files(tmp_path / "files", "globex", "chat-b") == [sha256, f"{sha256}.json"]
        mine = await chat.http.get(f"{chat.url}/chat/{CHANNEL}/files/{sha256}")
        theirs = await chat.http.get(f"{chat.url}/chat/chat-b/files/{sha256}")
        assert 'filename="acme-invoice.pdf"' in mine.headers["content-disposition"]
        assert 'filename="globex.pdf"' in theirs.headers["content-disposition"]
        # Nothing chat-b kept touched acme's file or its name.
        assert kept_files(tmp_path / "files") == [sha256, f"{sha256}.json"]
        stored = chat.runtime.store
        assert [m.body for m in await stored.messages("globex", (await contact(chat)).id)] == ["hi"]


async def test_files_kept_the_earlier_way_stay_and_are_no_longer_served(
    run_chat: RunChat, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files = tmp_path / "files"
    files.mkdir()
    sha256 = hashlib.sha256(PDF).hexdigest()
    (files / sha256).write_bytes(PDF)  # as main kept them: straight in files_dir
    meta = {"filename": "old.pdf", "content_type": "application/pdf", "size": len(PDF)}
    (files / f"{sha256}.json").write_text(json.dumps(meta))
    with caplog.at_level(logging.WARNING, logger="trunkline_webchat"):
        async with run_chat() as chat:
            answer = await chat.http.get(f"{chat.url}/chat/{CHANNEL}/files/{sha256}")
            assert answer.status_code == 404
            assert await chat.channel.read_attachment(sha256) is None
    assert (files / sha256).read_bytes() == PDF  # left where it was
    [warning] = [r.getMessage() for r in caplog.records if "the earlier way" in r.getMessage()]
    assert f"are no longer served: 1 in {files}; move this channel's into" in warning
    assert str(files / WORKSPACE / CHANNEL) in warning


@pytest.mark.parametrize(
    ("workspace", "channel", "part"),
    [
        ("acme", "site-chat", "acme/site-chat"),
        ("..", "..", "%2E%2E/%2E%2E"),
        ("a/../b", "x.y", "a%2F%2E%2E%2Fb/x%2Ey"),
        ("Grüße", "50%", "Gr%C3%BC%C3%9Fe/50%25"),
    ],
)
def test_a_channels_directory_stays_inside_files_dir(
    tmp_path: Path, workspace: str, channel: str, part: str
) -> None:
    directory = channel_directory(tmp_path, workspace, channel)
    assert directory == tmp_path / part
    assert directory.resolve().is_relative_to(tmp_path.resolve())
