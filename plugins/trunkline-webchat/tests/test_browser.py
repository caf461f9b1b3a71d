"""The chat page and the widget in a real browser: Debian's chromium, driven by Playwright.

Hostile text from a customer or an agent is shown as text and never runs; a message typed while
the store is down survives a reload and is stored once; the widget on another site opens the
chat in its panel, and a site not allowed cannot frame it. Chromium is the system's
(``apt-get install -y chromium``), never one downloaded by ``playwright install``: these tests
skip without ``/usr/bin/chromium``, and fail without it under ``CI=true``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import anyio
import pytest
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from trunkline import TemporaryFailure
from trunkline import events as ev
from trunkline.plugins import load_plugins
from trunkline.testing import wait_for_event
from trunkline_testsupport.browser import chromium_path, launched_chromium
from trunkline_web import server
from trunkline_web.demo import WEBCHAT, DemoOptions, demo_config, demo_workspace

from .conftest import CHANNEL, WORKSPACE, Chat, RunChat

pytestmark = pytest.mark.anyio

HOSTILE_CUSTOMER = '<img src=x onerror="window.__pwned = 1"> <b>bold?</b>'
HOSTILE_AGENT = '<script>window.__pwned = 2</script><img src=x onerror="window.__pwned = 3">'
HOSTILE_TITLE = '<img src=x onerror="window.__pwned = 4">Help'


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with launched_chromium(chromium_path()) as launched:
        yield launched


async def page_of(browser: Any) -> tuple[Any, list[str]]:
    """A new page in a fresh context, and the list its dialogs (alert…) are recorded in."""
    context = await browser.new_context()
    page = await context.new_page()
    dialogs: list[str] = []

    async def dismiss(dialog: Any) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", dismiss)
    return page, dialogs


async def contact_id(chat: Chat) -> str:
    [visitor_contact] = [
        c
        for c in await chat.runtime.store.contacts_of(WORKSPACE, await customer_id(chat))
        if c.channel == CHANNEL
    ]
    return str(visitor_contact.id)


async def customer_id(chat: Chat) -> str:
    [created] = [
        e
        for e in (s.event for s in await chat.runtime.store.read(WORKSPACE))
        if isinstance(e, ev.CustomerCreated)
    ]
    return str(created.customer.id)


async def reply(chat: Chat, text: str) -> None:
    events = chat.runtime.subscribe()
    message = await chat.runtime.reply(WORKSPACE, await contact_id(chat), text)
    await wait_for_event(
        events, lambda e: isinstance(e, ev.MessageSent) and e.message_id == message.id
    )


async def received_bodies(chat: Chat) -> list[str]:
    return [
        s.event.message.body
        for s in await chat.runtime.store.read(WORKSPACE)
        if isinstance(s.event, ev.MessageReceived)
    ]


# The chat page --------------------------------------------------------------------------------


async def test_the_chat_page_shows_hostile_text_as_text(run_chat: RunChat, browser: Any) -> None:
    from playwright.async_api import expect

    async with run_chat({"title": HOSTILE_TITLE}) as chat:
        page, dialogs = await page_of(browser)
        await page.goto(chat.page_url)
        await expect(page.locator("#status")).to_have_text("Connected")
        await expect(page.locator("#title")).to_have_text(HOSTILE_TITLE)

        await page.locator("#text").fill(HOSTILE_CUSTOMER)
        await page.locator("#text").press("Enter")
        sent = page.locator("#messages li.inbound[data-id]")
        await expect(sent).to_have_count(1)  # acknowledged: stored
        assert await received_bodies(chat) == [HOSTILE_CUSTOMER]
        await expect(sent.locator(".body")).to_have_text(HOSTILE_CUSTOMER)

        await reply(chat, HOSTILE_AGENT)
        answer = page.locator("#messages li.outbound .body")
        await expect(answer).to_have_text(HOSTILE_AGENT)

        assert await page.locator("#messages img, #messages b, #messages script").count() == 0
        assert await page.evaluate("window.__pwned") is None
        assert dialogs == []


async def test_a_message_typed_during_an_outage_survives_a_reload(
    run_chat: RunChat, browser: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.async_api import expect

    async with run_chat() as chat:
        page, _ = await page_of(browser)
        await page.goto(chat.page_url)
        await expect(page.locator("#status")).to_have_text("Connected")
        await page.locator("#text").fill("before the outage")
        await page.locator("#send").click()
        await expect(page.locator("#messages li[data-id]")).to_have_count(1)

        append = chat.runtime.store.append

        async def failing(events: Any) -> int:
            raise TemporaryFailure("the disk is full")

        monkeypatch.setattr(chat.runtime.store, "append", failing)
        await page.locator("#text").fill("during the outage")
        await page.locator("#send").click()
        pending = page.locator("#messages li[data-pending]")
        await expect(pending).to_have_count(1)
        await expect(pending.locator(".state")).to_have_text("sending…")

        # The visitor reloads while it is not stored: the page still has it, and sends it again.
        await page.reload()
        await expect(page.locator("#messages li[data-pending] .body")).to_have_text(
            "during the outage"
        )
        monkeypatch.setattr(chat.runtime.store, "append", append)
        await expect(page.locator("#messages li[data-pending]")).to_have_count(0, timeout=10_000)
        await expect(page.locator("#messages li .body")).to_have_text(
            ["before the outage", "during the outage"]
        )
        assert await received_bodies(chat) == ["before the outage", "during the outage"]

        # The visitor leaves; the agent answers; the visitor comes back to the answer.
        await page.close()
        await reply(chat, "Sorry for the wait!")
        page = await page.context.new_page()
        await page.goto(chat.page_url)
        await expect(page.locator("#messages li .body")).to_have_text(
            ["before the outage", "during the outage", "Sorry for the wait!"]
        )


async def test_an_agent_typing_shows_on_the_page(run_chat: RunChat, browser: Any) -> None:
    from playwright.async_api import expect

    from trunkline import Signal

    async with run_chat() as chat:
        page, _ = await page_of(browser)
        await page.goto(chat.page_url)
        await page.locator("#text").fill("hello")
        await page.locator("#text").press("Enter")
        await expect(page.locator("#messages li[data-id]")).to_have_count(1)
        await chat.runtime.signal(Signal(WORKSPACE, await contact_id(chat), "typing", "agent"))
        await expect(page.locator("#typing")).to_be_visible()


async def test_a_file_is_uploaded_and_sent_from_the_page(
    run_chat: RunChat, browser: Any, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    async with run_chat() as chat:
        page, _ = await page_of(browser)
        await page.goto(chat.page_url)
        await expect(page.locator("#status")).to_have_text("Connected")
        # Files are taken within an open chat only: the button waits for a first message.
        await expect(page.locator("#file")).to_be_disabled()
        await expect(page.locator("label.attach")).to_have_attribute(
            "title", "Send a message first, then attach files"
        )
        await page.locator("#text").fill("hello")
        await page.locator("#text").press("Enter")
        await expect(page.locator("#file")).to_be_enabled()
        note = tmp_path / "<img src=x onerror=alert(1)>.txt"
        note.write_text("my order number is 7\n", encoding="utf-8")
        await page.locator("#file").set_input_files(str(note))
        await expect(page.locator("#staged .chip")).to_have_count(1)
        await page.locator("#send").click()
        link = page.locator("#messages li[data-id] .files a")
        await expect(link).to_have_text("<img src=x onerror=alert(1)>.txt")
        [_, stored] = [
            s.event.message
            for s in await chat.runtime.store.read(WORKSPACE)
            if isinstance(s.event, ev.MessageReceived)
        ]
        assert [a.filename for a in stored.attachments] == ["<img src=x onerror=alert(1)>.txt"]

        # Reloaded with the chat open, the welcome says so and files can be attached at once.
        await page.reload()
        await expect(page.locator("#status")).to_have_text("Connected")
        await expect(page.locator("#file")).to_be_enabled()
        assert await link.get_attribute("href") == f"files/{stored.attachments[0].sha256}"


# The widget -----------------------------------------------------------------------------------


def shop(port: int) -> Route:
    """A page of the customer's own website (another origin: localhost) with the widget."""

    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(
            "<!doctype html><title>Shop</title><h1>Our shop</h1>"
            f'<script src="http://127.0.0.1:{port}/chat/{CHANNEL}/widget.js" async></script>'
        )

    return Route("/shop", page)


async def test_the_widget_opens_the_chat_on_an_allowed_site(
    run_chat: RunChat, browser: Any
) -> None:
    from playwright.async_api import expect

    sock = await server.listen("127.0.0.1", 0, what="web-chat tests")
    port = sock.getsockname()[1]
    settings = {"allowed_origins": [f"http://localhost:{port}"], "title": HOSTILE_TITLE}
    async with run_chat(settings, extra_routes=[shop(port)], sock=sock) as chat:
        page, dialogs = await page_of(browser)
        await page.goto(f"http://localhost:{port}/shop")
        button = page.locator("[data-trunkline-webchat] button")
        await expect(button).to_have_attribute("aria-label", HOSTILE_TITLE)
        await button.click()
        frame = page.frame_locator("[data-trunkline-webchat] iframe")
        await expect(frame.locator("#status")).to_have_text("Connected")
        await frame.locator("#text").fill(HOSTILE_CUSTOMER)
        await frame.locator("#text").press("Enter")
        await expect(frame.locator("#messages li[data-id]")).to_have_count(1)
        assert await received_bodies(chat) == [HOSTILE_CUSTOMER]

        await reply(chat, HOSTILE_AGENT)
        await expect(frame.locator("#messages li.outbound .body")).to_have_text(HOSTILE_AGENT)

        # With the panel closed, a reply lights the button's dot.
        dot = page.locator("[data-trunkline-webchat] button span")
        await button.click()
        await expect(dot).to_be_hidden()
        await reply(chat, "Anything else?")
        await expect(dot).to_be_visible()

        assert await page.locator("[data-trunkline-webchat] img").count() == 0
        assert await frame.locator("#messages img").count() == 0
        assert await page.evaluate("window.__pwned") is None
        assert dialogs == []


async def test_the_demos_widget_snippet_opens_the_chat_on_another_sites_page(
    run_chat: RunChat, browser: Any
) -> None:
    """``trunkline demo`` prints a snippet to put "on any page": its chat settings let it."""
    from playwright.async_api import expect

    pm = load_plugins({"TRUNKLINE_PLUGINS": "webchat,web"})
    workspace = demo_config(DemoOptions(), pm).workspaces[demo_workspace(pm)]
    (chat_channel,) = [c for c in workspace.channels if c.name == WEBCHAT]
    demo_settings = {"allowed_origins": list(chat_channel.settings.allowed_origins)}
    sock = await server.listen("127.0.0.1", 0, what="web-chat tests")
    port = sock.getsockname()[1]
    async with run_chat(demo_settings, extra_routes=[shop(port)], sock=sock):
        page, _ = await page_of(browser)
        await page.goto(f"http://localhost:{port}/shop")  # another origin than 127.0.0.1
        await page.locator("[data-trunkline-webchat] button").click()
        frame = page.frame_locator("[data-trunkline-webchat] iframe")
        await expect(frame.locator("#status")).to_have_text("Connected")


async def test_a_site_not_allowed_cannot_frame_the_chat(run_chat: RunChat, browser: Any) -> None:
    sock = await server.listen("127.0.0.1", 0, what="web-chat tests")
    port = sock.getsockname()[1]
    async with run_chat(extra_routes=[shop(port)], sock=sock) as chat:  # allowed_origins = []
        page, _ = await page_of(browser)
        refused = anyio.Event()

        def console(message: Any) -> None:
            if "frame-ancestors" in message.text:  # chromium says why it refused the frame
                refused.set()

        page.on("console", console)
        await page.goto(f"http://localhost:{port}/shop")
        await page.locator("[data-trunkline-webchat] button").click()
        with anyio.fail_after(10):
            await refused.wait()
        frame = page.frame_locator("[data-trunkline-webchat] iframe")
        assert await frame.locator("#composer").count() == 0
        assert await chat.runtime.store.read(WORKSPACE) == []


# Around the conversation: greeting, place in line, agent, forms -----------------------------------


async def open_contact_of(chat: Chat) -> Any:
    [found] = [
        c
        for c in await chat.runtime.store.contacts_of(WORKSPACE, await customer_id(chat))
        if c.channel == CHANNEL
    ]
    return found


async def test_the_chat_greets_then_shows_the_place_in_line_and_the_agents_name(
    run_chat: RunChat, browser: Any
) -> None:
    from playwright.async_api import expect

    from trunkline import AgentStatus, Router

    greeting = "Hi! <b>Ask</b> us anything."
    async with run_chat({"greeting": greeting}) as chat:
        page, _ = await page_of(browser)
        await page.goto(chat.page_url)
        await expect(page.locator("#messages .note.greeting")).to_have_text(greeting)
        await expect(page.locator("#status")).to_have_text("Connected")
        await expect(page.locator("#progress")).to_be_hidden()
        await page.locator("#text").fill("Where is my parcel?")
        await page.locator("#text").press("Enter")
        await expect(page.locator("#messages li.inbound[data-id]")).to_have_count(1)
        progress = page.locator("#progress")
        await expect(progress).to_have_text("You are next in line.")

        await chat.runtime.set_agent_status(WORKSPACE, "alice", AgentStatus.AVAILABLE)
        await expect(progress).to_have_text("Connecting you to an agent…")
        engine = chat.runtime.desk(WORKSPACE).engine
        assert isinstance(engine, Router)
        [offer] = engine.offers.values()
        await chat.runtime.accept(WORKSPACE, offer.id)
        await expect(progress).to_have_text("You are chatting with Alice.")
        await expect(page.locator("#messages .note.joined")).to_have_text("Alice joined the chat.")

        await page.reload()  # the server says where the chat is, in its welcome
        await expect(page.locator("#progress")).to_have_text("You are chatting with Alice.")
        await expect(page.locator("#messages li .body")).to_have_text(["Where is my parcel?"])
        assert await page.locator("#messages b").count() == 0


async def test_the_pre_chat_form_asks_for_what_is_required_before_the_chat(
    run_chat: RunChat, browser: Any
) -> None:
    from playwright.async_api import expect

    async with run_chat({"prechat_name": "required", "prechat_email": "optional"}) as chat:
        page, _ = await page_of(browser)
        await page.goto(chat.page_url)
        form = page.locator("#prechat")
        await expect(form).to_be_visible()
        await expect(page.locator("#composer")).to_be_hidden()
        await expect(form.locator("#prechat-email-field .optional")).to_be_visible()
        await expect(form.locator("#prechat-name-field .optional")).to_be_hidden()

        await form.get_by_role("button", name="Start the chat").click()
        await expect(form.locator("#prechat-error")).to_have_text("Please tell us your name.")
        await form.get_by_label("Name").fill("Ana Lima")
        await form.get_by_label("Email").fill("ana at example")
        await form.get_by_role("button", name="Start the chat").click()
        await expect(form.locator("#prechat-error")).to_have_text(
            "That email address does not look right: write it as name@example.com."
        )
        await form.get_by_label("Email").fill("ana@example.com")
        await form.get_by_role("button", name="Start the chat").click()
        await expect(form).to_be_hidden()
        await page.locator("#text").fill("Hello!")
        await page.locator("#text").press("Enter")
        await expect(page.locator("#messages li.inbound[data-id]")).to_have_count(1)
        contact = await open_contact_of(chat)
        assert dict(contact.attributes) == {"name": "Ana Lima", "email": "ana@example.com"}
        customer = await chat.runtime.store.customer_by_address(WORKSPACE, contact.address)
        assert customer is not None
        assert customer.name == "Ana Lima"  # what agents see, not the address

        await page.reload()  # in a conversation: not asked again
        await expect(page.locator("#composer")).to_be_visible()
        await expect(page.locator("#prechat")).to_be_hidden()


async def test_while_nobody_can_answer_the_offline_form_leaves_a_message_as_a_contact(
    run_chat: RunChat, browser: Any
) -> None:
    from playwright.async_api import expect

    message = "Please call me back about order 12 <script>window.__pwned = 5</script>"
    settings = {"offline_form": True, "offline_message": "We are closed. Write to us!"}
    async with run_chat(settings) as chat:  # alice is offline: nobody can answer
        page, _ = await page_of(browser)
        await page.goto(chat.page_url)
        form = page.locator("#offline")
        await expect(form).to_be_visible()
        await expect(form.locator("#offline-text")).to_have_text("We are closed. Write to us!")
        await expect(page.locator("#composer")).to_be_hidden()
        await form.get_by_label("Message").fill(message)
        await form.get_by_role("button", name="Leave the message").click()
        await expect(form.locator("#offline-error")).to_have_text(
            "Please give your email address, such as name@example.com, so we can answer you."
        )
        await form.get_by_label("Name").fill("Ana")
        await form.get_by_label("Email").fill("ana@example.com")
        await form.get_by_role("button", name="Leave the message").click()
        await expect(page.locator("#messages li.inbound[data-id] .body")).to_have_text(message)
        await expect(page.locator("#messages .note.left")).to_have_text(
            "Thank you. We will answer you at ana@example.com."
        )
        assert await received_bodies(chat) == [message]
        contact = await open_contact_of(chat)
        assert dict(contact.attributes) == {
            "name": "Ana",
            "email": "ana@example.com",
            "offline": True,
        }
        assert contact.subject == "Message left while the chat was offline"

        await page.reload()  # the message is there; the conversation goes on in the chat
        await expect(page.locator("#messages li .body")).to_have_text([message])
        await expect(page.locator("#composer")).to_be_visible()
        assert await page.evaluate("window.__pwned") is None


async def test_the_offline_form_gives_way_to_the_chat_when_an_agent_becomes_available(
    run_chat: RunChat, browser: Any
) -> None:
    from playwright.async_api import expect

    from trunkline import AgentStatus

    async with run_chat({"offline_form": True}) as chat:
        page, _ = await page_of(browser)
        await page.goto(chat.page_url)
        await expect(page.locator("#offline")).to_be_visible()
        await chat.runtime.set_agent_status(WORKSPACE, "alice", AgentStatus.AVAILABLE)
        await expect(page.locator("#composer")).to_be_visible()
        await expect(page.locator("#offline")).to_be_hidden()


async def test_the_offline_form_shows_while_the_queue_is_closed(
    run_chat: RunChat, browser: Any
) -> None:
    from playwright.async_api import expect

    from trunkline import AgentStatus

    closed = {"never": {"timezone": "UTC"}}  # no opening hours at all
    async with run_chat(
        {"offline_form": True}, queue={"hours": "never", "when_closed": "queue"}, hours=closed
    ) as chat:
        await chat.runtime.set_agent_status(WORKSPACE, "alice", AgentStatus.AVAILABLE)
        page, _ = await page_of(browser)
        await page.goto(chat.page_url)
        await expect(page.locator("#offline")).to_be_visible()
        await page.locator("#offline-email").fill("ana@example.com")
        await page.locator("#offline-message").fill("Are you open on Sunday?")
        await page.locator("#offline").get_by_role("button", name="Leave the message").click()
        await expect(page.locator("#messages li.inbound[data-id]")).to_have_count(1)
        # The queue takes contacts while closed (when_closed = "queue"): it waits for Monday.
        events = [s.event for s in await chat.runtime.store.read(WORKSPACE)]
        assert any(isinstance(e, ev.ContactQueued) for e in events)


async def test_the_widget_opens_full_screen_on_a_phone_and_draws_its_icon_in_svg(
    run_chat: RunChat, browser: Any
) -> None:
    from playwright.async_api import expect

    sock = await server.listen("127.0.0.1", 0, what="web-chat tests")
    port = sock.getsockname()[1]
    settings = {"allowed_origins": [f"http://localhost:{port}"]}
    async with run_chat(settings, extra_routes=[shop(port)], sock=sock):
        context = await browser.new_context(viewport={"width": 390, "height": 844})
        page = await context.new_page()
        await page.goto(f"http://localhost:{port}/shop")
        button = page.locator("[data-trunkline-webchat] button")
        # The icon is drawn, not a character: no emoji font is needed.
        await expect(button.locator("svg").first).to_be_visible()
        assert await button.evaluate("b => b.textContent") == ""
        await button.click()
        panel = page.locator("[data-trunkline-webchat] [role=dialog]")
        await expect(panel).to_be_visible()
        assert await panel.bounding_box() == {"x": 0, "y": 0, "width": 390, "height": 844}
        frame = page.frame_locator("[data-trunkline-webchat] iframe")
        await expect(frame.locator("#status")).to_have_text("Connected")
        assert await page.locator("[data-trunkline-webchat] iframe").bounding_box() == {
            "x": 0,
            "y": 0,
            "width": 390,
            "height": 844,
        }
        await expect(button).to_be_hidden()  # it would cover the chat's Send button
        send = await frame.locator("#send").bounding_box()
        assert send is not None
        assert send["x"] + send["width"] <= 390
        assert send["y"] + send["height"] <= 844

        await frame.get_by_role("button", name="Close the chat").click()
        await expect(panel).to_be_hidden()
        await expect(button).to_be_visible()
        await context.close()


# Who the visitor is ---------------------------------------------------------------------------

TOKEN_KEY = f"trunkline-webchat:{CHANNEL}:token"
SECRET = "the-key-the-site-signs-user-ids-with"


async def test_the_page_keeps_the_token_the_server_issued_and_agents_see_only_its_hash(
    run_chat: RunChat, browser: Any
) -> None:
    from playwright.async_api import expect

    async with run_chat() as chat:
        page, _ = await page_of(browser)
        await page.goto(chat.page_url)  # first, an older page's visitor id is in its storage
        old_key = f"trunkline-webchat:{CHANNEL}:visitor"
        await page.evaluate("key => localStorage.setItem(key, crypto.randomUUID())", old_key)
        await page.reload()
        await expect(page.locator("#status")).to_have_text("Connected")
        token = await page.evaluate("key => localStorage.getItem(key)", TOKEN_KEY)
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
        assert await page.evaluate("key => localStorage.getItem(key)", old_key) is None
        await page.locator("#text").fill("Where is my parcel?")
        await page.locator("#text").press("Enter")
        await expect(page.locator("#messages li.inbound[data-id]")).to_have_count(1)

        contact = await open_contact_of(chat)
        assert contact.address.value == hashlib.sha256(token.encode()).hexdigest()
        customer = await chat.runtime.store.customer_by_address(WORKSPACE, contact.address)
        assert customer is not None
        assert re.fullmatch(r"Visitor \d{4}", customer.name)

        await page.reload()  # the same token, the same conversation
        await expect(page.locator("#messages li .body")).to_have_text(["Where is my parcel?"])
        assert await page.evaluate("key => localStorage.getItem(key)", TOKEN_KEY) == token


def signed_shop(port: int, identity: Mapping[str, str]) -> Route:
    """A page of the site for a signed-in user: the site's server signed their id."""

    async def page(request: Request) -> HTMLResponse:
        said = json.dumps({"identity": identity})
        return HTMLResponse(
            f"<!doctype html><title>Shop</title><h1>Hello {identity['name']}</h1>"
            f"<script>window.TrunklineChat = {said};</script>"
            f'<script src="http://127.0.0.1:{port}/chat/{CHANNEL}/widget.js" async></script>'
        )

    return Route("/account", page)


async def test_a_signed_in_visitor_chats_as_themselves_in_every_browser_until_signing_out(
    run_chat: RunChat, browser: Any
) -> None:
    from playwright.async_api import expect

    user = "user-42"
    signature = hmac.new(SECRET.encode(), user.encode(), hashlib.sha256).hexdigest()
    identity = {"id": user, "hash": signature, "name": "Ana Lima"}
    sock = await server.listen("127.0.0.1", 0, what="web-chat tests")
    port = sock.getsockname()[1]
    settings = {
        "allowed_origins": [f"http://localhost:{port}"],
        "identity_secret": {"env": "CHAT_IDENTITY_SECRET"},
    }
    routes = [signed_shop(port, identity)]
    async with run_chat(
        settings, extra_routes=routes, sock=sock, env={"CHAT_IDENTITY_SECRET": SECRET}
    ) as chat:
        phone, _ = await page_of(browser)
        await phone.goto(f"http://localhost:{port}/account")
        await phone.locator("[data-trunkline-webchat] button").click()
        frame = phone.frame_locator("[data-trunkline-webchat] iframe")
        await expect(frame.locator("#status")).to_have_text("Connected")
        await frame.locator("#text").fill("Asked on my phone")
        await frame.locator("#text").press("Enter")
        await expect(frame.locator("#messages li.inbound[data-id]")).to_have_count(1)
        contact = await open_contact_of(chat)
        address = "u-" + hashlib.sha256(user.encode()).hexdigest()[:40]
        assert contact.address.value == address
        customer = await chat.runtime.store.customer_by_address(WORKSPACE, contact.address)
        assert customer is not None
        assert customer.name == "Ana Lima"
        # The hash went by postMessage: not in the frame's address, not in its storage.
        src = await phone.locator("[data-trunkline-webchat] iframe").get_attribute("src")
        assert src == f"{chat.url}/chat/{CHANNEL}/#widget"
        handle = await phone.locator("[data-trunkline-webchat] iframe").element_handle()
        inner = await handle.content_frame()
        assert inner is not None
        kept = "(() => { try { return JSON.stringify(localStorage); } catch (e) { return ''; } })()"
        assert signature not in await inner.evaluate(kept)  # (a framed page may have none)

        laptop, _ = await page_of(browser)  # another browser, the same person
        await laptop.goto(f"http://localhost:{port}/account")
        await laptop.locator("[data-trunkline-webchat] button").click()
        other = laptop.frame_locator("[data-trunkline-webchat] iframe")
        await expect(other.locator("#messages li .body")).to_have_text(["Asked on my phone"])

        # Signing out on the site: the chat starts again as an anonymous visitor.
        await laptop.evaluate("window.TrunklineChat.identify(null)")
        await expect(other.locator("#status")).to_have_text("Connected")
        await expect(other.locator("#messages li.message")).to_have_count(0)
