"""The agent desktop and the supervisor wallboard, driven in a real browser.

Debian's chromium runs the pages (``apt-get install -y chromium``; never ``playwright
install``) against a server started in-process for each test; customers write in through the
memory channel. Without chromium the tests skip, and fail when ``CI=true``. The last test
saves the screenshots the documentation shows (``docs/screenshots/``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import socket
import struct
import threading
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    WebSocketRoute,
    expect,
)

import trunkline_web
from trunkline import FakeClock, Runtime, load_plugins
from trunkline import events as ev
from trunkline.channels import Signal
from trunkline.model import Address, AgentStatus, Attachment, ContactState, Customer, Offer
from trunkline.testing import build_runtime
from trunkline_testsupport.browser import chromium_path, launched_chromium
from trunkline_web.app import web_port
from trunkline_web.users import hash_password
from trunkline_webchat import plugin as webchat_plugin

pytestmark = pytest.mark.anyio


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


ROOT = Path(__file__).resolve().parents[1]
# The screenshots are taken on every run; they replace the documentation's only when asked
# (TRUNKLINE_SCREENSHOTS=docs), so a test run does not leave changed images in the checkout.
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"
# A customer's site that embeds the chat widget (see ``shop_site``): another origin than the
# server's 127.0.0.1, and on loopback, as chromium refuses a public site a loopback script.
SHOP_PORT = free_port()
SHOP = f"http://localhost:{SHOP_PORT}"
STATIC = Path(trunkline_web.__file__).parent / "static"
VIEWPORT = {"width": 1280, "height": 800}
PASSWORD = "correct horse"
PASSWORD_HASH = hash_password(PASSWORD)
WITHIN = 5.0  # seconds for anything asynchronous to show (as Playwright's expect waits)
XSS_IMG = '<img src=x onerror="window.__xss=1">'
XSS_SCRIPT = "<script>window.__xss=1</script>"
# Unicode's bidirectional controls (Bidi_Control): embeddings and overrides, isolates, marks.
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"

T = TypeVar("T")


def config_data(files_dir: str) -> dict[str, Any]:
    def user(role: str, agent: str = "") -> dict[str, Any]:
        data: dict[str, Any] = {"role": role, "password_hash": PASSWORD_HASH}
        if agent:
            data["agent"] = agent
        return data

    queue = {"offer_timeout": 30, "wrap_up": 120}  # the fake clock stands still: no expiry
    return {
        "web": {"port": 0},
        "workspaces": {
            "acme": {
                "name": "Acme Support",
                "skills": ["en"],
                "dispositions": ["resolved", "follow-up", "refund"],
                "canned": [
                    {
                        "shortcut": "hello",
                        "title": "Greeting",
                        "text": "Hello {{customer.name}}, this is {{agent.name}}.",
                    },
                    {
                        "shortcut": "refund",
                        "title": "Refund policy",
                        "text": "Refunds for order {{order.id}} take 5 days ({{contact.id}}).",
                    },
                    {"shortcut": "bye", "title": "Goodbye", "text": "Thanks for writing!"},
                ],
                "queues": {
                    "support": {
                        "name": "Support",
                        **queue,
                        "alert_longest_wait": 60,
                        "alert_abandonment": 0.5,
                    },
                    "billing": {"name": "Billing", **queue},
                    "sales": {"name": "Sales", **queue},
                },
                "agents": {
                    "ada": {"name": "Ada", "capacity": {"chat": 2}, "queues": ["support"]},
                    "bob": {"name": "Bob", "capacity": {"chat": 1}, "queues": ["support"]},
                    "cleo": {
                        "name": "Cleo",
                        "capacity": {"chat": 2, "email": 2},
                        "queues": ["billing", "sales"],
                    },
                    "dan": {"name": "Dan", "capacity": {"email": 3}, "queues": ["billing"]},
                },
                "users": {
                    "ada": user("agent", "ada"),
                    "bob": user("agent", "bob"),
                    "sue": user("supervisor"),
                },
                "channels": {
                    "web": {"adapter": "memory", "queue": "support"},
                    "mail": {
                        "adapter": "memory",
                        "queue": "billing",
                        "settings": {"kind": "email"},
                    },
                    "shop": {"adapter": "memory", "queue": "sales"},
                    # The web-chat plugin's channel, for the customer's side in a browser.
                    "site": {
                        "adapter": "webchat",
                        "queue": "support",
                        "settings": {"allowed_origins": [SHOP], "files_dir": files_dir},
                    },
                },
            },
            "other": {
                "queues": {"q": {"offer_timeout": 30}},
                "agents": {"ed": {"capacity": {"chat": 1}, "queues": ["q"]}},
                "users": {"ed": user("agent", "ed")},
                "channels": {"other-web": {"adapter": "memory", "queue": "q"}},
            },
        },
    }


# Fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with launched_chromium(chromium_path()) as launched:
        yield launched


@pytest.fixture
async def server(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Runtime]:
    """The server; a test may give acme's agents other capacities with
    ``@pytest.mark.parametrize("server", [{"ada": {"chat": 30}}], indirect=True)``."""
    pm = load_plugins({"TRUNKLINE_PLUGINS": "web"})
    pm.register(webchat_plugin, "webchat")
    data = config_data(str(tmp_path / "files"))
    for agent, capacity in getattr(request, "param", {}).items():
        data["workspaces"]["acme"]["agents"][agent]["capacity"] = capacity
    runtime = build_runtime(pm, data, clock=FakeClock(), serve=True)
    async with runtime.running():
        yield runtime


@pytest.fixture
def shop_site(server: Runtime) -> Iterator[str]:
    """A customer's website embedding the chat widget with its one script tag."""
    widget = f"http://127.0.0.1:{web_port(server)}/chat/site/widget.js"
    page = (
        f'<!doctype html><title>Shop</title><h1>Shop</h1><script src="{widget}" async></script>'
    ).encode()

    class Shop(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            pass

    site = ThreadingHTTPServer(("127.0.0.1", SHOP_PORT), Shop)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        yield SHOP
    finally:
        site.shutdown()
        site.server_close()


Opener = Callable[[], Awaitable[Page]]


@pytest.fixture
async def new_page(browser: Browser, server: Runtime) -> AsyncIterator[Opener]:
    """Open a page in a fresh browser (own cookies); fails the test on any script error."""
    contexts: list[BrowserContext] = []
    problems: list[str] = []

    def console(message: Any) -> None:
        # The Content Security Policy reports what it blocks on the console.
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            problems.append(message.text)

    async def open_page() -> Page:
        context = await browser.new_context(
            viewport=VIEWPORT, base_url=f"http://127.0.0.1:{web_port(server)}"
        )
        contexts.append(context)
        context.on("weberror", lambda error: problems.append(str(error.error)))
        context.on("console", console)
        return await context.new_page()

    yield open_page
    for context in contexts:
        await context.close()
    assert problems == []


# Helpers -------------------------------------------------------------------------------------


async def eventually(check: Callable[[], T | None], within: float = WITHIN) -> T:
    """What ``check`` returns once it is truthy (server-side facts the page cannot show)."""
    deadline = anyio.current_time() + within
    while True:
        result = check()
        if result:
            return result
        if anyio.current_time() > deadline:
            raise TimeoutError(f"not true within {within} s: {check}")
        await anyio.sleep(0.02)


def offer_for(server: Runtime, contact_id: str) -> Offer | None:
    offers = server.desk("acme").engine.offers  # type: ignore[attr-defined]
    return next((o for o in offers.values() if o.contact_id == contact_id), None)


def offer_to(server: Runtime, agent_id: str) -> Offer | None:
    offers = server.desk("acme").engine.offers  # type: ignore[attr-defined]
    return next((o for o in offers.values() if o.agent_id == agent_id), None)


def sent_to(server: Runtime, channel: str, customer: str) -> list[str]:
    return [m.body for to, m in server.channel(channel).sent if to.value == customer]


async def sign_in(page: Page, workspace: str, username: str, lands_on: str) -> Page:
    await page.goto("/login")
    await page.get_by_label("Workspace").fill(workspace)
    await page.get_by_label("User name").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(re.compile(f"{lands_on}$"))
    await expect(page.locator("#connection")).to_have_attribute("data-state", "open")
    return page


async def agent_desktop(new_page: Opener, username: str = "ada", workspace: str = "acme") -> Page:
    page = await sign_in(await new_page(), workspace, username, "/agent")
    await page.get_by_role("button", name="Available").click()
    await expect(page.locator("#my-status")).to_have_text("available")
    return page


async def accept_offer(page: Page, subject: str) -> None:
    offer = page.locator(".offer", has_text=subject)
    await offer.get_by_role("button", name="Accept").click()
    await expect(offer).to_have_count(0)


async def open_tab(page: Page, customer: str) -> Any:
    await page.get_by_role("tab", name=re.compile(customer)).click()
    return page.locator(".conversation:visible")


async def past_contact(server: Runtime, customer: str, body: str, reply: str) -> None:
    """A contact of ``customer`` that bob handled and closed: the customer's history."""
    await server.set_agent_status("acme", "bob", AgentStatus.AVAILABLE)
    ack = await server.channel("web").deliver(customer, body, subject="Earlier question")
    offer = await eventually(lambda: offer_for(server, ack.contact_id))
    await server.accept("acme", offer.id)
    await server.reply("acme", ack.contact_id, reply)
    await server.end_contact("acme", ack.contact_id)
    await server.close_contact("acme", ack.contact_id, "resolved")
    await server.set_agent_status("acme", "bob", AgentStatus.OFFLINE)


# The agent desktop ---------------------------------------------------------------------------


async def test_an_agent_takes_an_offer_sees_the_history_and_replies_to_the_customer(
    server: Runtime, new_page: Opener
) -> None:
    await past_contact(server, "carol", "where is my parcel?", "It left today.")
    page = await sign_in(await new_page(), "acme", "ada", "/agent")
    await expect(page.locator("#my-status")).to_have_text("offline")
    await page.get_by_role("button", name="Available").click()
    await expect(page.locator("#my-status")).to_have_text("available")
    await expect(page.locator("#my-state")).to_have_text("idle")

    await server.channel("web").deliver("carol", "my order is late, again", subject="Order 1234")
    offer = page.locator(".offer")
    await expect(offer).to_contain_text("Order 1234")
    await expect(offer.locator(".preview")).to_have_text("my order is late, again")
    await expect(offer.locator(".countdown")).to_have_text(re.compile(r"^(30|29|28) s$"))
    await expect(page.locator("#my-state")).to_have_text("offered")
    await offer.get_by_role("button", name="Accept").click()

    chat = page.locator(".conversation:visible")
    await expect(chat.locator(".thread .inbound")).to_have_text(
        re.compile("my order is late, again")
    )
    await expect(chat.locator(".history")).to_contain_text("Earlier question")
    await expect(chat.locator(".history")).to_contain_text("where is my parcel?")
    await expect(chat.locator(".history")).to_contain_text("It left today.")
    await expect(page.locator("#my-state")).to_have_text("busy")
    await expect(page.locator("#my-load")).to_have_text("chat 1/2")

    # The customer types, then writes again: both show without a reload.
    contact_id = await chat.get_attribute("data-contact-id")
    assert contact_id is not None
    await server.signal(Signal("acme", contact_id, "typing", "customer"))
    await expect(chat.get_by_text("Customer is typing…")).to_be_visible()
    await server.channel("web").deliver("carol", "hello?")
    await expect(chat.locator(".thread .inbound").last).to_contain_text("hello?")
    await expect(chat.get_by_text("Customer is typing…")).to_be_hidden()

    # While the agent types, the server hears it; Enter sends the reply to the customer.
    signals = server.subscribe_signals()
    with signals:
        box = chat.get_by_label("Reply")
        await box.press_sequentially("Sorry Carol, ")
        with anyio.fail_after(WITHIN):
            signal = await signals.receive()
        assert (signal.who, signal.agent_id, signal.contact_id) == ("agent", "ada", contact_id)
    await box.press_sequentially("it ships today.")
    await box.press("Enter")
    await expect(box).to_have_value("")
    await expect(chat.locator(".thread .outbound")).to_contain_text("Sorry Carol, it ships today.")
    await eventually(lambda: "Sorry Carol, it ships today." in sent_to(server, "web", "carol"))


async def test_wrap_up_closes_the_contact_with_the_chosen_disposition(
    server: Runtime, new_page: Opener
) -> None:
    page = await agent_desktop(new_page)
    ack = await server.channel("web").deliver("dora", "please cancel", subject="Cancel plan")
    await accept_offer(page, "Cancel plan")
    chat = page.locator(".conversation:visible")
    await expect(chat.locator(".messages")).to_contain_text("please cancel")

    events = server.subscribe()
    with events:
        await chat.get_by_role("button", name="End conversation").click()
        await expect(chat.get_by_role("heading", name="Wrap-up")).to_be_visible()
        await expect(chat.get_by_label("Reply")).to_be_hidden()
        await expect(page.locator("#my-state")).to_have_text("wrap-up")
        disposition = chat.get_by_label("Disposition")
        await expect(disposition.locator("option:not([disabled])")).to_have_text(
            ["resolved", "follow-up", "refund"]
        )
        await disposition.select_option("refund")
        await chat.get_by_role("button", name="Close").click()
        await expect(page.locator(".conversation")).to_have_count(0)
        await expect(page.get_by_role("tab")).to_have_count(0)
        await expect(page.locator("#my-state")).to_have_text("idle")
        with anyio.fail_after(WITHIN):
            async for event in events:
                if isinstance(event, ev.ContactClosed):
                    break
    assert (event.contact_id, event.disposition) == (ack.contact_id, "refund")


async def test_two_chats_at_once_each_reply_goes_to_its_own_customer(
    server: Runtime, new_page: Opener
) -> None:
    page = await agent_desktop(new_page)
    web = server.channel("web")
    await web.deliver("erin", "erin's question", subject="From Erin")
    await accept_offer(page, "From Erin")
    await web.deliver("finn", "finn's question", subject="From Finn")
    await accept_offer(page, "From Finn")
    await expect(page.get_by_role("tab")).to_have_count(2)
    await expect(page.locator("#my-load")).to_have_text("chat 2/2")

    for customer in ("erin", "finn"):
        chat = await open_tab(page, customer)
        await expect(chat.locator(".messages")).to_contain_text(f"{customer}'s question")
        await chat.get_by_label("Reply").fill(f"an answer for {customer}")
        await chat.get_by_role("button", name="Send").click()
        await expect(chat.locator(".outbound")).to_contain_text(f"an answer for {customer}")

    # A message to the chat not shown marks its tab, and waits there.
    await web.deliver("erin", "one more thing")
    erin = page.get_by_role("tab", name=re.compile("erin"))
    await expect(erin.locator(".unread")).to_be_visible()
    chat = await open_tab(page, "erin")
    await expect(chat.locator(".messages")).to_contain_text("one more thing")
    await expect(erin.locator(".unread")).to_be_hidden()

    await eventually(lambda: sent_to(server, "web", "finn") == ["an answer for finn"])
    await eventually(lambda: sent_to(server, "web", "erin") == ["an answer for erin"])


async def test_the_desktop_shows_a_lost_connection_and_reconnects(
    server: Runtime, new_page: Opener
) -> None:
    page = await new_page()
    sockets: list[WebSocketRoute] = []
    down = False

    async def route(socket: WebSocketRoute) -> None:
        sockets.append(socket)
        if down:
            await socket.close()  # the server is unreachable for now
        else:
            socket.connect_to_server()

    await page.route_web_socket(re.compile(r"/ws/agent$"), route)
    await sign_in(page, "acme", "ada", "/agent")
    await page.get_by_role("button", name="Available").click()
    await expect(page.locator("#my-status")).to_have_text("available")

    down = True
    await sockets[-1].close()
    connection = page.locator("#connection")
    await expect(connection).to_have_text(re.compile("Disconnected: reconnecting in"))
    await expect(connection).to_have_attribute("data-state", "closed")
    tried = len(sockets)
    await connection.get_by_role("button", name="Retry now").click()
    await eventually(lambda: len(sockets) > tried)
    # While it is down, a customer writes in: once back, the desktop catches up.
    await server.channel("web").deliver("gus", "anyone there?", subject="While away")
    down = False
    await expect(page.locator(".offer")).to_contain_text("While away", timeout=20_000)
    await expect(connection).to_have_attribute("data-state", "open")
    await expect(connection).to_have_text("Connected")


# The agent desktop: profile, canned responses, notes, transfers, search, alerts, timers ----


async def known_customer(server: Runtime, address: str, name: str, *more: Address) -> None:
    """A customer known by name before they write (as an identity plugin would record)."""
    customer = Customer(
        id=f"cu_{address}",
        workspace="acme",
        addresses=(Address("memory", address), *more),
        name=name,
    )
    await server.store.append([ev.CustomerCreated(workspace="acme", at=0, customer=customer)])


async def test_the_profile_shows_the_customers_name_addresses_and_the_contacts_details(
    server: Runtime, new_page: Opener
) -> None:
    await known_customer(server, "olga", "Olga Berg", Address("email", "olga@example.com"))
    await past_contact(server, "olga", "is my plan annual?", "Yes.")
    page = await agent_desktop(new_page)
    await server.channel("web").deliver(
        "olga", "upgrade me", subject="Upgrade", attributes={"plan": "team", "seats": 12}
    )
    offer = page.locator(".offer")
    await expect(offer.locator(".customer")).to_have_text("Olga Berg")
    await accept_offer(page, "Upgrade")
    await expect(page.get_by_role("tab")).to_contain_text("Olga Berg")
    chat = page.locator(".conversation:visible")
    await expect(chat.locator(".meta .customer")).to_have_text("Olga Berg")
    profile = chat.locator(".profile")
    await expect(profile.locator(".profile-name")).to_have_text("Olga Berg")
    await expect(profile.locator(".addresses li")).to_have_text(
        ["memory olga", "email olga@example.com"]
    )
    await expect(profile.locator(".attributes dt")).to_have_text(["plan", "seats"])
    await expect(profile.locator(".attributes dd")).to_have_text(["team", "12"])
    await expect(chat.locator(".history")).to_contain_text("is my plan annual?")
    # Shown once: the name, not the name and the address.
    assert (await page.get_by_role("tab").inner_text()).count("olga") == 0


async def test_a_canned_response_is_picked_with_a_slash_filled_in_and_sent(
    server: Runtime, new_page: Opener
) -> None:
    await known_customer(server, "pia", "Pia Holm")
    page = await agent_desktop(new_page)
    ack = await server.channel("web").deliver("pia", "refund?", subject="Refund")
    await accept_offer(page, "Refund")
    chat = page.locator(".conversation:visible")
    box = chat.get_by_label("Reply")
    await box.press_sequentially("/")
    picker = chat.get_by_role("listbox", name="Canned responses")
    await expect(picker.get_by_role("option")).to_have_count(3)
    await box.press_sequentially("pol")  # finds "Refund policy" by its title
    await expect(picker.get_by_role("option")).to_have_count(1)
    await box.press("Backspace")
    await box.press("Backspace")
    await box.press("Backspace")
    await box.press_sequentially("e")  # in every one: "hello", "refund", "bye"
    await expect(picker.get_by_role("option")).to_have_count(3)
    await box.press("ArrowDown")
    await expect(picker.get_by_role("option", selected=True)).to_contain_text("Refund policy")
    await box.press("Enter")  # chooses; does not send
    await expect(picker).to_be_hidden()
    await expect(box).to_have_value(
        f"Refunds for order {{{{order.id}}}} take 5 days ({ack.contact_id})."
    )
    await expect(chat.locator(".placeholders")).to_have_text("Fill in before sending: {{order.id}}")
    await box.press("Enter")  # a placeholder left is not an error
    await expect(box).to_have_value("")
    await expect(chat.locator(".placeholders")).to_be_hidden()
    await box.press_sequentially("/hello")
    await box.press("Tab")
    await expect(box).to_have_value("Hello Pia Holm, this is Ada.")
    await box.press("Enter")
    await eventually(
        lambda: (
            sent_to(server, "web", "pia")
            == [
                f"Refunds for order {{{{order.id}}}} take 5 days ({ack.contact_id}).",
                "Hello Pia Holm, this is Ada.",
            ]
        )
    )


async def test_a_private_note_is_marked_kept_and_never_sent_to_the_customer(
    server: Runtime, new_page: Opener
) -> None:
    page = await agent_desktop(new_page)
    ack = await server.channel("web").deliver("quin", "my card was charged twice", subject="Card")
    await accept_offer(page, "Card")
    chat = page.locator(".conversation:visible")
    await chat.get_by_role("button", name="Private note").click()
    box = chat.get_by_label("Private note")
    await box.fill("Refund approved by <b>Sue</b>.")
    await chat.get_by_role("button", name="Add note").click()
    note = chat.locator(".messages .note")
    await expect(note).to_have_count(1)
    await expect(note.locator(".note-label")).to_have_text("Private note")
    await expect(note.locator(".who")).to_have_text("Ada")
    await expect(note.locator(".body")).to_have_text("Refund approved by <b>Sue</b>.")
    await expect(box).to_have_value("")
    # Reply and note, in the order they were written; only the reply reaches the customer.
    await chat.get_by_role("button", name="Reply").click()
    await chat.get_by_label("Reply").fill("We refund you today.")
    await chat.get_by_label("Reply").press("Enter")
    await expect(chat.locator(".messages > li")).to_have_count(3)
    await eventually(lambda: sent_to(server, "web", "quin") == ["We refund you today."])
    notes = [
        s.event
        for s in await server.store.contact_events("acme", ack.contact_id)
        if isinstance(s.event, ev.NoteAdded)
    ]
    assert [n.text for n in notes] == ["Refund approved by <b>Sue</b>."]
    await page.reload()  # kept: read back with the contact
    chat = page.locator(".conversation:visible")
    await expect(chat.locator(".messages .note .body")).to_have_text(
        "Refund approved by <b>Sue</b>."
    )
    # After the end, notes are still for writing; the reply is not.
    await chat.get_by_role("button", name="End conversation").click()
    await expect(chat.get_by_role("heading", name="Wrap-up")).to_be_visible()
    await expect(chat.get_by_label("Private note")).to_be_visible()
    await expect(chat.get_by_role("button", name="Reply")).to_be_disabled()


async def test_an_agent_transfers_a_chat_to_a_colleague_from_the_desktop(
    server: Runtime, new_page: Opener
) -> None:
    await server.set_agent_status("acme", "bob", AgentStatus.AVAILABLE)
    await server.set_agent_status("acme", "bob", AgentStatus.BREAK, "coffee")
    page = await agent_desktop(new_page)
    ack = await server.channel("web").deliver("rafa", "I need billing", subject="Billing question")
    await accept_offer(page, "Billing question")
    await server.set_agent_status("acme", "bob", AgentStatus.AVAILABLE)
    chat = page.locator(".conversation:visible")
    await chat.get_by_role("button", name="Transfer").click()
    form = chat.locator("form.transfer")
    await expect(form.get_by_label("Queue")).to_have_value("support")
    await expect(form.get_by_label("Agent").locator("option")).to_have_text(
        [
            "Anyone in the queue",
            "Bob (available, idle)",
            "Cleo (offline, idle)",
            "Dan (offline, idle)",
        ]
    )
    await form.get_by_label("Agent").select_option("bob")
    await form.get_by_role("button", name="Transfer").click()
    await expect(page.locator(".notice")).to_contain_text("Transferred to Bob.")
    await expect(page.get_by_role("tab")).to_have_count(0)
    await expect(page.locator(".notice", has_text="transferred away")).to_have_count(0)
    offer = await eventually(lambda: offer_for(server, ack.contact_id))
    assert offer.agent_id == "bob"


async def test_the_search_finds_a_customer_and_opens_a_past_contact_read_only(
    server: Runtime, new_page: Opener
) -> None:
    await known_customer(server, "sven", "Sven Dahl", Address("email", "sven@example.com"))
    await past_contact(server, "sven", "the lamp flickers", "Send it back.")
    page = await agent_desktop(new_page)
    await server.channel("web").deliver("tove", "hello", subject="Current")
    await accept_offer(page, "Current")
    search = page.get_by_role("search")
    await search.get_by_label("Search contacts and customers").fill("SVEN@example")
    await search.get_by_label("Search contacts and customers").press("Enter")
    found = page.locator("#search-results")
    await expect(found.locator("#search-summary")).to_have_text("1 customer, 1 contact")
    await expect(found.locator("#found-customers li")).to_contain_text("Sven Dahl")
    await (
        found.locator("#found-contacts")
        .get_by_role("button", name=re.compile("Earlier question"))
        .click()
    )
    viewer = page.get_by_role("region", name="Contact (read only)")
    await expect(viewer.locator(".messages")).to_contain_text("the lamp flickers")
    await expect(viewer.locator(".messages")).to_contain_text("Send it back.")
    await expect(viewer.locator(".profile-name")).to_have_text("Sven Dahl")
    await expect(viewer.get_by_label("Reply")).to_be_hidden()
    await expect(viewer.get_by_role("button", name="End conversation")).to_be_hidden()
    await expect(page.locator(".conversation[role=tabpanel]:visible")).to_have_count(0)
    await viewer.get_by_role("button", name="Close").click()
    await expect(viewer).to_have_count(0)
    await expect(page.locator(".conversation:visible h2.subject")).to_have_text("Current")


# Records what the page asks of the Notification and WebAudio APIs (the browser's own would
# need a permission prompt and a sound card).
ALERT_STUBS = """
window.__alerts = { permission: [], notifications: [], tones: 0 };
class FakeNotification {
  constructor(title, options) { window.__alerts.notifications.push({ title, ...options }); }
  addEventListener() {}
  close() {}
}
FakeNotification.permission = "default";
FakeNotification.requestPermission = async () => {
  window.__alerts.permission.push("asked");
  FakeNotification.permission = "granted";
  return "granted";
};
window.Notification = FakeNotification;
class FakeAudioContext {
  constructor() { this.state = "running"; this.currentTime = 0; this.destination = {}; }
  createGain() {
    return { gain: { setValueAtTime() {}, exponentialRampToValueAtTime() {} }, connect() {} };
  }
  createOscillator() {
    return {
      frequency: {}, connect() {}, stop() {},
      start() { window.__alerts.tones += 1; },
    };
  }
  resume() { return Promise.resolve(); }
}
window.AudioContext = FakeAudioContext;
"""


async def test_a_new_offer_beeps_and_shows_a_desktop_notification(
    server: Runtime, new_page: Opener
) -> None:
    page = await new_page()
    await page.add_init_script(ALERT_STUBS)
    await sign_in(page, "acme", "ada", "/agent")
    assert await page.evaluate("window.__alerts.permission") == []  # not before a click
    await page.get_by_role("button", name="Available").click()
    await expect(page.locator("#my-status")).to_have_text("available")
    assert await page.evaluate("window.__alerts.permission") == ["asked"]
    await server.channel("web").deliver("uma", "hello?", subject="Hello there")
    await expect(page.locator(".offer")).to_have_count(1)
    alerts = await page.evaluate("window.__alerts")
    assert alerts["tones"] == 2  # the two tones of one beep
    assert [(n["title"], n["body"]) for n in alerts["notifications"]] == [
        ("New chat: Hello there", "From uma")
    ]
    # Turned off, the next offer is silent.
    await accept_offer(page, "Hello there")
    await page.get_by_role("button", name="Alerts on").click()
    await expect(page.locator("#alerts")).to_have_attribute("aria-pressed", "false")
    await server.channel("web").deliver("vic", "hi", subject="Second")
    await expect(page.locator(".offer")).to_contain_text("Second")
    assert (await page.evaluate("window.__alerts.tones")) == 2
    assert len(await page.evaluate("window.__alerts.notifications")) == 1


async def minutes_pass(server: Runtime, page: Page, seconds: int) -> None:
    """Time passes on both clocks: the server's (fake) and the page's (Playwright's)."""
    clock = server.clock
    assert isinstance(clock, FakeClock)
    clock.advance(seconds)
    await page.clock.run_for(seconds * 1000)


async def test_the_time_in_status_and_the_handle_time_advance_with_the_clock(
    server: Runtime, new_page: Opener
) -> None:
    page = await new_page()
    await page.clock.install()
    # The page's clock stands still, as the server's fake one does, until minutes_pass moves
    # both: on a loaded machine the seconds an accept takes would otherwise show.
    await page.clock.pause_at(time.time() * 1000)
    await sign_in(page, "acme", "ada", "/agent")
    await expect(page.locator("#status-time")).to_be_hidden()  # offline since the log began
    await page.get_by_role("button", name="Available").click()
    timer = page.locator("#status-time")
    await expect(timer).to_have_text("0:00")
    await minutes_pass(server, page, 75)
    await expect(timer).to_have_text("1:15")
    await server.channel("web").deliver("walt", "hi", subject="Timers")
    await accept_offer(page, "Timers")
    handle = page.locator(".conversation:visible .handle-time")
    await expect(handle).to_have_text("handle time 0:00")
    await minutes_pass(server, page, 65)
    await expect(handle).to_have_text("handle time 1:05")
    await expect(timer).to_have_text("2:20")  # still available: the state changed, not the status
    await page.get_by_role("button", name="Break").click()
    await page.get_by_role("button", name="Start break").click()
    await expect(timer).to_have_text("0:00")


def png(width: int, height: int) -> bytes:
    """A real PNG image of one colour (the web chat checks that a file is what it says)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x2f\x6f\xed" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


async def test_a_web_chat_image_is_previewed_and_files_open_for_the_agent(
    server: Runtime, new_page: Opener, tmp_path: Path
) -> None:
    photo = tmp_path / "broken lamp.png"
    photo.write_bytes(png(40, 30))
    receipt = tmp_path / "receipt.txt"
    receipt.write_text("Lamp, 49 EUR, 3 March\n", encoding="utf-8")
    visitor = await new_page()
    await visitor.goto("/chat/site/")
    await expect(visitor.locator("#status")).to_have_text("Connected")
    # Files are taken within an open chat: the visitor writes first, then attaches.
    await visitor.locator("#text").fill("It arrived broken, see the photo.")
    await visitor.locator("#send").click()
    await expect(visitor.locator("#messages li[data-id]")).to_have_count(1)
    await visitor.locator("#file").set_input_files(str(photo))
    await expect(visitor.locator("#staged .chip")).to_have_count(1)
    await visitor.locator("#file").set_input_files(str(receipt))
    await expect(visitor.locator("#staged .chip")).to_have_count(2)
    await visitor.locator("#text").fill("And the receipt.")
    await visitor.locator("#send").click()
    await expect(visitor.locator("#messages li[data-id]")).to_have_count(2)

    page = await agent_desktop(new_page)
    offer = page.locator(".offer")
    await expect(offer.locator(".preview")).to_have_text("It arrived broken, see the photo.")
    await offer.get_by_role("button", name="Accept").click()
    chat = page.locator(".conversation:visible")
    image = chat.get_by_role("img", name="Preview of broken lamp.png")
    await expect(image).to_be_visible()
    assert await image.evaluate("(img) => [img.naturalWidth, img.naturalHeight]") == [40, 30]
    async with page.context.expect_page() as opened:
        await chat.get_by_role("link", name="Open receipt.txt").click()
    tab = await opened.value
    await tab.wait_for_load_state()
    assert "/attachments/" in tab.url
    await expect(tab.locator("body")).to_have_text("Lamp, 49 EUR, 3 March")
    # The file is the agent's to see through the API, not another workspace's.
    other = await agent_desktop(new_page, "ed", "other")
    statuses = await other.evaluate(
        "(url) => fetch(url).then((r) => r.status)", await image.get_attribute("src")
    )
    assert statuses == 404


# Twenty-five chats at once: the tab list grows past the window.
@pytest.mark.parametrize("server", [{"ada": {"chat": 30}}], indirect=True)
async def test_with_many_contacts_the_tabs_scroll_and_a_low_tab_keeps_the_reply_box_in_view(
    server: Runtime, new_page: Opener
) -> None:
    page = await agent_desktop(new_page)
    web = server.channel("web")
    for n in range(25):
        ack = await web.deliver(f"cust-{n:02}", f"question {n}", subject=f"Question {n}")
        offer = await eventually(lambda: offer_for(server, ack.contact_id))  # noqa: B023
        await server.accept("acme", offer.id)
    tabs = page.get_by_role("tab")
    await expect(tabs).to_have_count(25)
    height = VIEWPORT["height"]
    page_height = await page.evaluate("document.scrollingElement.scrollHeight")
    assert page_height <= height, "the page grew past the window"
    tab_list = page.locator("#contact-tabs")
    assert await tab_list.evaluate("(list) => list.scrollHeight > list.clientHeight")
    await tabs.last.click()
    chat = page.locator(".conversation:visible")
    await expect(chat.locator("h2.subject")).to_have_text("Question 24")
    await expect(chat.locator(".messages")).to_contain_text("question 24")
    reply = await chat.get_by_label("Reply").bounding_box()
    head = await chat.locator("h2.subject").bounding_box()
    assert reply is not None
    assert head is not None
    assert 0 <= head["y"] < 150, head  # no empty screen above the conversation
    assert reply["y"] + reply["height"] <= height, reply  # the reply box in view
    assert await page.evaluate("window.scrollY") == 0


# The wallboard -------------------------------------------------------------------------------


async def test_the_wallboard_updates_live_changes_an_agents_status_and_monitors_a_chat(
    server: Runtime, new_page: Opener
) -> None:
    page = await sign_in(await new_page(), "acme", "sue", "/wallboard")
    support = page.locator('#queues tr[data-queue-id="support"]')
    await expect(support.locator(".queue-name")).to_have_text("Support")
    await expect(support.locator(".waiting")).to_have_text("0")

    ack = await server.channel("web").deliver("hana", "is anyone there?", subject="Help")
    await expect(support.locator(".waiting")).to_have_text("1")
    await expect(page.locator('#bars g[data-queue-id="support"] .bar-value')).to_have_text("1")
    await expect(page.locator("#total-waiting")).to_have_text("1")
    row = page.locator("#contacts tbody tr", has_text="hana")
    await expect(row.locator(".state")).to_have_text("queued")

    bob = page.locator('#agents tr[data-agent-id="bob"]')
    await expect(bob.locator(".status")).to_have_text("offline")
    await bob.get_by_label("New status").select_option("available")
    await bob.get_by_role("button", name="Apply").click()
    await expect(bob.locator(".status")).to_have_text("available")
    assert server.desk("acme").engine.agents["bob"].status is AgentStatus.AVAILABLE  # type: ignore[attr-defined]

    # The contact goes to bob, who accepts; the supervisor listens in.
    offer = await eventually(lambda: offer_for(server, ack.contact_id))
    await server.accept("acme", offer.id)
    await expect(support.locator(".waiting")).to_have_text("0")
    await expect(bob.locator(".state")).to_have_text("busy")
    await expect(row.locator(".state")).to_have_text("active")
    await expect(row.locator(".agent")).to_have_text("Bob")
    await row.get_by_role("button", name="Monitor hana").click()
    monitor = page.locator("#monitor")
    await expect(monitor).to_contain_text("Help")
    await expect(monitor.locator(".messages")).to_contain_text("is anyone there?")
    await server.channel("web").deliver("hana", "my card was charged twice")
    await expect(monitor.locator(".inbound").last).to_contain_text("my card was charged twice")
    await server.reply("acme", ack.contact_id, "Let me look.")
    await expect(monitor.locator(".outbound")).to_contain_text("Let me look.")
    await expect(monitor.get_by_role("textbox")).to_have_count(0)  # read only

    await bob.get_by_label("New status").select_option("break")
    await bob.get_by_label("Break reason").fill("lunch")
    await bob.get_by_role("button", name="Apply").click()
    await expect(bob.locator(".status")).to_have_text("break")
    await expect(bob.locator(".reason")).to_have_text("lunch")


async def handle(server: Runtime, contact_id: str, talk: float = 0, wrap: float = 0) -> None:
    """The contact's open offer is accepted; after ``talk`` seconds it ends, ``wrap`` later
    it closes (the fake clock moves)."""
    clock = server.clock
    assert isinstance(clock, FakeClock)
    offer = await eventually(lambda: offer_for(server, contact_id))
    await server.accept("acme", offer.id)
    clock.advance(talk)
    await server.end_contact("acme", contact_id)
    clock.advance(wrap)
    await server.close_contact("acme", contact_id, "resolved")


async def test_the_wallboard_shows_each_agents_time_in_state_handled_aht_and_occupancy(
    server: Runtime, new_page: Opener
) -> None:
    clock = server.clock
    assert isinstance(clock, FakeClock)
    page = await sign_in(await new_page(), "acme", "sue", "/wallboard")
    ada = page.locator('#agents tr[data-agent-id="ada"]')
    await expect(ada.locator(".in-state")).to_have_text("–")  # nothing seen of ada yet
    await server.set_agent_status("acme", "ada", AgentStatus.AVAILABLE)
    ack = await server.channel("web").deliver("ines", "hello", subject="Hello")
    await handle(server, ack.contact_id, talk=60, wrap=20)
    await expect(ada.locator(".handled")).to_have_text("1")
    await expect(ada.locator(".aht")).to_have_text("1:20")  # 60 s of talk and 20 of wrap-up
    await expect(ada.locator(".occupancy")).to_have_text("100%")  # busy all the time available

    clock.advance(75)
    await server.set_agent_status("acme", "bob", AgentStatus.BREAK, "lunch")  # a new board
    await expect(ada.locator(".state")).to_have_text("idle")
    await expect(ada.locator(".in-state")).to_have_text(re.compile(r"^1:1[5-9]$"))  # and on
    await expect(ada.locator(".occupancy")).to_have_text("52%")  # 80 s of 155
    bob = page.locator('#agents tr[data-agent-id="bob"]')
    await expect(bob.locator(".status")).to_have_text("break")
    await expect(bob.locator(".in-state")).to_have_text(re.compile(r"^0:0[0-4]$"))
    await expect(bob.locator(".handled")).to_have_text("0")
    await expect(bob.locator(".aht")).to_have_text("–")


async def test_agents_available_but_busy_are_not_counted_as_idle(
    server: Runtime, new_page: Opener
) -> None:
    page = await sign_in(await new_page(), "acme", "sue", "/wallboard")
    support = page.locator('#queues tr[data-queue-id="support"] .agents')
    for agent in ("ada", "bob"):
        await server.set_agent_status("acme", agent, AgentStatus.AVAILABLE)
    await expect(page.locator("#total-idle")).to_have_text("2")
    await expect(page.locator("#total-available")).to_have_text("2")
    await expect(support).to_contain_text("2 idle / 2 available")

    web = server.channel("web")
    for n in range(3):  # bob takes one chat, ada two: all of their capacity
        ack = await web.deliver(f"busy-{n}", "hi", subject=f"Chat {n}")
        offer = await eventually(lambda: offer_for(server, ack.contact_id))  # noqa: B023
        await server.accept("acme", offer.id)
    await expect(page.locator("#total-idle")).to_have_text("0")
    await expect(page.locator("#total-available")).to_have_text("2")
    await expect(support).to_contain_text("0 idle / 2 available")
    await expect(support).to_contain_text("2 busy")


async def test_the_service_level_per_interval_survives_a_reload(
    server: Runtime, new_page: Opener
) -> None:
    clock = server.clock
    assert isinstance(clock, FakeClock)
    clock.set(math.ceil(clock.now() / 900) * 900)  # the start of a 15-minute interval
    await server.set_agent_status("acme", "bob", AgentStatus.AVAILABLE)
    web = server.channel("web")
    first = await web.deliver("jo", "hello", subject="First")
    await handle(server, first.contact_id)  # answered at once: within 20 s
    clock.advance(900)  # the next interval
    second = await web.deliver("kai", "hello", subject="Second")
    clock.advance(30)
    await handle(server, second.contact_id)  # answered after 30 s: not within

    page = await sign_in(await new_page(), "acme", "sue", "/wallboard")
    line = page.locator('#sl-trend g.sl-series[data-queue-id="support"]')
    await expect(line).to_have_attribute("data-values", ",,,,,,100,0")
    await expect(line.locator("circle[visibility=visible]")).to_have_count(2)
    await expect(page.locator("#sl-trend-legend")).to_contain_text("Support")
    await page.reload()
    await expect(page.locator("#connection")).to_have_attribute("data-state", "open")
    await expect(line).to_have_attribute("data-values", ",,,,,,100,0")
    await expect(line.locator("circle[visibility=visible] title").last).to_have_text(
        re.compile(r"^Support, .*: 0% \(0 of 1 within 20 s\)$")
    )


async def test_the_wallboard_raises_alerts_for_service_level_abandonment_and_waiting(
    server: Runtime, new_page: Opener
) -> None:
    """Service level 5 % with 73 % abandoned, then a contact waiting past a minute."""
    clock = server.clock
    assert isinstance(clock, FakeClock)
    page = await sign_in(await new_page(), "acme", "sue", "/wallboard")
    alerts = page.locator("#alerts .alert")
    await expect(page.locator("#alerts")).to_be_hidden()

    web = server.channel("web")
    await server.set_agent_status("acme", "bob", AgentStatus.AVAILABLE)
    first = await web.deliver("c-0", "hello")
    await handle(server, first.contact_id)  # 1 answered within 20 s
    await server.set_agent_status("acme", "bob", AgentStatus.OFFLINE)
    later = [(await web.deliver(f"c-{n}", "hello")).contact_id for n in range(1, 22)]
    clock.advance(25)
    for contact_id in later[:16]:
        await server.abandon("acme", contact_id)  # 16 abandoned after 25 s: missed
    await server.set_agent_status("acme", "bob", AgentStatus.AVAILABLE)
    for contact_id in later[16:]:
        await handle(server, contact_id)  # 5 answered after 25 s: missed

    await expect(page.locator("#total-sl")).to_have_text("5%")  # 1 of 22
    await expect(alerts).to_have_text(
        [
            "Support: service level 5% is under 80%",
            "Support: 73% of contacts abandoned, over 50%",  # 16 of 22
        ]
    )
    await expect(page.locator('#queues tr[data-queue-id="support"]')).to_have_attribute(
        "data-alert", "true"
    )
    await expect(page.locator('#queues tr[data-queue-id="billing"]')).to_have_attribute(
        "data-alert", "false"
    )

    await server.set_agent_status("acme", "bob", AgentStatus.OFFLINE)
    await web.deliver("c-22", "still there?")  # nobody is available: it waits
    clock.advance(61)  # no event: the board comes again on its own while contacts wait
    await expect(alerts.filter(has_text="waited")).to_have_text(
        "Support: a contact has waited 1:01, over 1:00", timeout=10_000
    )


async def test_the_wallboard_shows_an_agents_name_once(server: Runtime, new_page: Opener) -> None:
    page = await sign_in(await new_page(), "acme", "sue", "/wallboard")
    ada = page.locator('#agents tr[data-agent-id="ada"] th')
    await expect(ada).to_have_text("Ada")  # not "Ada ada": the id only repeats the name
    assert (await ada.inner_text()).strip() == "Ada"


async def test_the_open_contacts_on_the_wallboard_are_filtered_by_state_queue_channel_agent_and_text(
    server: Runtime, new_page: Opener
) -> None:
    web, mail, shop = (server.channel(name) for name in ("web", "mail", "shop"))
    for n in range(30):
        await web.deliver(f"chat-{n:02}", "hi", subject=f"Chat {n}")
    for n in range(20):
        await mail.deliver(f"mail-{n:02}@example.com", "hi", subject=f"Invoice {n}")
    for n in range(10):
        await shop.deliver(f"shop-{n:02}", "hi", subject=f"Pricing {n}")
    for agent in ("ada", "bob"):  # each takes one chat, then leaves
        await server.set_agent_status("acme", agent, AgentStatus.AVAILABLE)
        offer = await eventually(lambda: offer_to(server, agent))  # noqa: B023
        await server.accept("acme", offer.id)
        await server.set_agent_status("acme", agent, AgentStatus.OFFLINE)
    page = await sign_in(await new_page(), "acme", "sue", "/wallboard")
    rows = page.locator("#contacts tbody tr")
    await expect(rows).to_have_count(60)
    count = page.locator("#contacts-count")
    await expect(count).to_have_text("60 open")
    filters = page.get_by_role("search", name="Filter the open contacts")
    visible = page.locator("#contacts tbody tr:visible")

    await filters.get_by_label("Queue").select_option(label="Billing")
    await expect(visible).to_have_count(20)
    await expect(count).to_have_text("20 of 60 shown")
    await filters.get_by_label("Queue").select_option("")
    await filters.get_by_label("Channel").select_option("email")
    await expect(visible).to_have_count(20)
    await filters.get_by_label("Channel").select_option("chat")  # the web and the shop
    await expect(visible).to_have_count(40)
    await filters.get_by_label("State").select_option("active")
    await expect(visible).to_have_count(2)
    await filters.get_by_label("Agent").select_option(label="Bob")
    await expect(visible).to_have_count(1)
    await expect(visible.locator(".agent")).to_have_text("Bob")
    await filters.get_by_role("button", name="Clear").click()
    await expect(visible).to_have_count(60)
    await filters.get_by_label("Agent").select_option(label="No agent yet")
    await expect(visible).to_have_count(58)
    await filters.get_by_label("Customer, subject or id").fill("INVOICE 1")  # 1, 10…19
    await expect(visible).to_have_count(11)
    await filters.get_by_label("Customer, subject or id").fill("mail-07@")
    await expect(visible).to_have_count(1)
    await expect(visible.locator(".subject")).to_have_text("Invoice 7")
    await filters.get_by_label("State").select_option("active")
    await expect(visible).to_have_count(0)
    await expect(page.locator("#no-match")).to_be_visible()
    # A new contact that matches shows at once; one that does not stays out of sight.
    await filters.get_by_role("button", name="Clear").click()
    await filters.get_by_label("Channel").select_option("email")
    await mail.deliver("new@example.com", "hi", subject="Invoice new")
    await shop.deliver("shop-new", "hi", subject="Pricing new")
    await expect(rows).to_have_count(62)
    await expect(visible).to_have_count(21)


# Safety ------------------------------------------------------------------------------------


async def test_customer_content_is_shown_as_text_and_never_runs(
    server: Runtime, new_page: Opener
) -> None:
    board = await sign_in(await new_page(), "acme", "sue", "/wallboard")
    desk = await agent_desktop(new_page)
    web = server.channel("web")
    await web.deliver(XSS_IMG, XSS_SCRIPT, subject=XSS_IMG)
    offer = desk.locator(".offer")
    await expect(offer.locator(".subject")).to_have_text(XSS_IMG)
    await expect(offer.locator(".preview")).to_have_text(XSS_SCRIPT)
    await offer.get_by_role("button", name="Accept").click()
    await web.deliver(XSS_IMG, XSS_IMG)
    chat = desk.locator(".conversation:visible")
    await expect(chat.locator(".messages .body")).to_have_text([XSS_SCRIPT, XSS_IMG])
    await expect(chat.locator("h2.subject")).to_have_text(XSS_IMG)
    await expect(desk.get_by_role("tab")).to_contain_text(XSS_IMG)

    row = board.locator("#contacts tbody tr", has_text="onerror")
    await expect(row.locator(".state")).to_have_text("active")
    await row.get_by_role("button", name=re.compile("^Monitor")).click()
    monitor = board.locator("#monitor")
    await expect(monitor.locator(".messages .body")).to_have_text([XSS_SCRIPT, XSS_IMG])
    await web.deliver(XSS_IMG, XSS_SCRIPT)
    await expect(monitor.locator(".messages .body")).to_have_text([XSS_SCRIPT, XSS_IMG, XSS_SCRIPT])
    await expect(chat.locator(".messages .body")).to_have_count(3)
    for page in (desk, board):
        assert await page.evaluate("typeof window.__xss") == "undefined"
        await expect(page.locator("main img, main script")).to_have_count(0)


# Every text node in ``root`` that holds a bidirectional control, with the nearest element
# around it that isolates its bidi (unicode-bidi: isolate, as dir="…" and <bdi> give) and
# whether that isolate holds this text alone: only then can the text not reorder its neighbours.
BIDI_SCAN = """(root) => {
  const controls = /[\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069]/;
  const isolating = ["isolate", "isolate-override", "plaintext"];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const found = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!controls.test(node.data)) continue;
    let box = node.parentElement;
    while (box && !isolating.includes(getComputedStyle(box).unicodeBidi)) box = box.parentElement;
    found.push({
      text: node.data,
      in: node.parentElement.className || node.parentElement.tagName,
      alone: box !== null && box.textContent === node.data,
    });
  }
  return found;
}"""


# Whether, as laid out, the first of two substrings of an element's text is left of the second.
LEFT_OF = """(node, [first, second]) => {
  const text = node.firstChild;
  const x = (part) => {
    const range = document.createRange();
    const start = text.data.indexOf(part);
    range.setStart(text, start);
    range.setEnd(text, start + part.length);
    return range.getBoundingClientRect().left;
  };
  return x(first) < x(second);
}"""


async def bidi_text(page: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await page.evaluate(BIDI_SCAN, await page.query_selector("main"))
    return found


async def test_bidi_controls_in_customer_text_are_isolated_and_file_names_show_them(
    server: Runtime, new_page: Opener
) -> None:
    """A customer's bidi controls cannot reorder what the agent or the supervisor reads."""
    # Each text opens controls it never closes: unisolated, they would reverse what follows.
    name = "\u202emallory\u2066\u200f\u061c"
    subject = "Refund \u202e\u2067order\u200e"
    body = "see the attached \u202binvoice\u2068"
    spoof = "invoice\u202efdp.exe"  # reads as "invoiceexe.pdf" when the control acts
    every = f"all{BIDI_CONTROLS}.txt"
    files = tuple(
        Attachment(filename, "application/octet-stream", 1000, f"{n:064x}")
        for n, filename in enumerate((spoof, every), 1)
    )
    await past_contact(server, name, body, "done")
    board = await sign_in(await new_page(), "acme", "sue", "/wallboard")
    desk = await agent_desktop(new_page)
    await server.channel("web").deliver(name, body, subject=subject, attachments=files)

    offer = desk.locator(".offer")
    await expect(offer.locator(".subject")).to_have_text(subject)
    await expect(offer.locator(".customer")).to_have_text(name)
    await expect(offer.locator(".preview")).to_have_text(body)
    offered = await bidi_text(desk)
    assert {f["in"] for f in offered} >= {"subject", "customer muted", "preview"}
    assert [f for f in offered if not f["alone"]] == []

    await offer.get_by_role("button", name="Accept").click()
    chat = desk.locator(".conversation:visible")
    await expect(chat.locator(".thread .attachment")).to_have_count(2)
    await expect(chat.locator(".history")).to_contain_text("Earlier question")
    # File names: every control shown as a visible marker, none left to act.
    names = chat.locator(".thread .attachment .filename")
    shown_names = [
        "invoice⟨U+202E⟩fdp.exe",
        "all⟨U+202A⟩⟨U+202B⟩⟨U+202C⟩⟨U+202D⟩⟨U+202E⟩⟨U+2066⟩⟨U+2067⟩⟨U+2068⟩⟨U+2069⟩"
        "⟨U+200E⟩⟨U+200F⟩⟨U+061C⟩.txt",
    ]
    await expect(names).to_have_text(shown_names)
    for text in await chat.locator(".attachment").all_inner_texts():
        assert not set(text) & set(BIDI_CONTROLS), text
    # As laid out on the screen, the name ends in "exe": its extension is not spoofed.
    assert await names.first.evaluate(LEFT_OF, ["fdp", "exe"]) is True
    # Names, subjects and bodies stay as written, each isolated on its own.
    await expect(chat.locator(".thread .body")).to_have_text([body])
    shown = await bidi_text(desk)
    assert {f["in"] for f in shown} >= {"who", "body", "subject", "customer", "subject muted"}
    assert [f for f in shown if not f["alone"]] == []

    row = board.locator("#contacts tbody tr", has_text="mallory")
    await expect(row.locator(".subject")).to_have_text(subject)
    await row.get_by_role("button", name=re.compile("^Monitor")).click()
    monitor = board.locator("#monitor")
    await expect(monitor.locator("#monitor-subject")).to_have_text(subject)
    await expect(monitor.locator(".attachment .filename")).to_have_text(shown_names)
    watched = await bidi_text(board)
    assert {f["in"] for f in watched} >= {"customer", "subject", "who", "body"}
    assert [f for f in watched if not f["alone"]] == []


async def test_an_agent_of_another_workspace_sees_nothing_of_this_one(
    server: Runtime, new_page: Opener
) -> None:
    ack = await server.channel("web").deliver("ivy", "acme's customer writes", subject="Acme only")
    page = await agent_desktop(new_page, "ed", "other")
    await server.channel("other-web").deliver("jo", "hello other", subject="Other's own")
    await expect(page.locator(".offer")).to_have_count(1)
    await expect(page.locator(".offer")).to_contain_text("Other's own")
    await expect(page.locator("body")).not_to_contain_text("Acme")
    # The page's own session, asking for what an agent may see in its workspace, in acme's.
    acme = "/api/v1/workspaces/acme"
    paths = ["", "/agents", "/offers", "/contacts", f"/contacts/{ack.contact_id}"]
    statuses = await page.evaluate(
        "(paths) => Promise.all(paths.map((p) => fetch(p).then((r) => r.status)))",
        [acme + path for path in paths],
    )
    assert statuses == [404] * len(paths)
    await expect(page.locator("#workspace-name")).to_have_text("other")


def test_the_pages_scripts_never_insert_content_as_html() -> None:
    sinks = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|createContextualFragment"
        r"|setHTMLUnsafe|parseFromString|\beval\(|new Function"
    )
    scripts = sorted(STATIC.glob("*.js"))
    assert {p.name for p in scripts} >= {"agent.js", "wallboard.js", "common.js", "login.js"}
    for path in scripts:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            assert not sinks.search(line), f"{path.name}:{number}: {line.strip()}"


def test_the_pages_have_no_inline_script_style_or_handler() -> None:
    for path in sorted(STATIC.glob("*.html")):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), path.name
        assert not re.search(r"<style|\sstyle=|\son[a-z]+=", text), path.name


# Screenshots for the documentation ---------------------------------------------------------


async def test_screenshots_of_the_pages(server: Runtime, new_page: Opener, tmp_path: Path) -> None:
    to_docs = os.environ.get("TRUNKLINE_SCREENSHOTS") == "docs"
    shots = DOCS_SCREENSHOTS if to_docs else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    login = await new_page()
    await login.goto("/login")
    await login.get_by_label("Workspace").fill("acme")
    await login.get_by_label("User name").fill("ada")
    await login.screenshot(path=shots / "login.png", animations="disabled")

    # The wallboard watches a few minutes of traffic; its clock runs ahead between the steps,
    # so its chart of waiting over time has a history to show.
    web, mail, shop = (server.channel(name) for name in ("web", "mail", "shop"))
    clock = server.clock
    assert isinstance(clock, FakeClock)
    router = server.desk("acme").engine  # type: ignore[attr-defined]
    board = await new_page()
    await board.clock.install()
    await sign_in(board, "acme", "sue", "/wallboard")

    async def minutes_pass(seconds: int) -> None:
        queued = sum(1 for v in router.contacts.values() if v.state is ContactState.QUEUED)
        await expect(board.locator("#total-waiting")).to_have_text(str(queued))
        await board.clock.run_for(seconds * 1000)

    await minutes_pass(40)
    await past_contact(server, "kim", "Can I change my delivery address?", "Yes, done.")
    await server.set_agent_status("acme", "bob", AgentStatus.BREAK, "lunch")
    for who in ("olga", "pete"):
        await shop.deliver(who, "How much is the team plan?", subject="Pricing")
    await minutes_pass(30)
    for who, subject in (("liam", "Invoice 2291"), ("mia", "VAT number"), ("noah", "Refund")):
        await mail.deliver(f"{who}@example.com", f"About {subject.lower()}…", subject=subject)
    await shop.deliver("quin", "Do you have a student discount?", subject="Discount")
    await minutes_pass(40)
    clock.advance(25)  # they wait longer than the service level's 20 s
    for agent in ("cleo", "dan"):
        await server.set_agent_status("acme", agent, AgentStatus.AVAILABLE)
        offer = await eventually(lambda: offer_to(server, agent))  # noqa: B023
        await server.accept("acme", offer.id)
    clock.advance(7)
    await minutes_pass(30)

    page = await agent_desktop(new_page)
    await web.deliver("kim", "My parcel still has the old address on it.", subject="Delivery")
    await accept_offer(page, "Delivery")
    chat = page.locator(".conversation:visible")
    await chat.get_by_label("Reply").fill("Let me check with the carrier.")
    await chat.get_by_role("button", name="Send").click()
    await web.deliver("kim", "Thanks! It is for Saturday.")
    await expect(chat.locator(".thread .message")).to_have_count(3)
    await web.deliver("lou", "Do you ship to Norway?", subject="Shipping abroad")
    await expect(page.locator(".offer .preview")).to_have_text("Do you ship to Norway?")
    await chat.get_by_label("Reply").fill("The new address is on file")
    await page.screenshot(path=shots / "agent-desktop.png", animations="disabled")

    await web.deliver("rita", "Is there a student discount?", subject="Discount")
    await minutes_pass(20)
    await expect(board.locator("#contacts tbody tr")).to_have_count(len(router.contacts))
    await board.screenshot(path=shots / "wallboard.png", animations="disabled")
    for name in ("login.png", "agent-desktop.png", "wallboard.png"):
        assert (shots / name).stat().st_size > 10_000, name  # a page, not a blank


# The whole journey: customer, agent, supervisor ------------------------------------------


async def test_a_customer_chats_from_a_website_and_an_agent_answers_while_the_supervisor_watches(
    server: Runtime, new_page: Opener, shop_site: str
) -> None:
    """The widget on a customer's site, the agent desktop and the wallboard, all in chromium."""
    board = await sign_in(await new_page(), "acme", "sue", "/wallboard")
    support = board.locator('#queues tr[data-queue-id="support"]')
    await expect(support.locator(".waiting")).to_have_text("0")

    # A customer on the shop's site opens the widget and writes (nobody is available yet).
    shop = await new_page()
    welcomes: list[dict[str, Any]] = []  # what the chat's socket is told: its token

    def on_socket(socket: Any) -> None:
        def frame(text: str) -> None:
            if isinstance(text, str) and '"welcome"' in text:
                welcomes.append(json.loads(text))

        socket.on("framereceived", frame)

    shop.on("websocket", on_socket)
    await shop.goto(f"{shop_site}/")
    await shop.locator("[data-trunkline-webchat] button").click()
    chat = shop.frame_locator("[data-trunkline-webchat] iframe")
    await expect(chat.locator("#status")).to_have_text("Connected")
    await chat.locator("#text").fill("Hello, my order 77 has not arrived.")
    await chat.locator("#text").press("Enter")
    await expect(chat.locator("#messages li.inbound[data-id]")).to_have_count(1)

    # The supervisor sees the queue change, and the customer as "Visitor" and four digits:
    # never the address (a hash of the chat's token), never the token.
    await expect(support.locator(".waiting")).to_have_text("1")
    await expect(board.locator("#total-waiting")).to_have_text("1")
    [welcome] = [w for w in welcomes if "token" in w]
    token, address = welcome["token"], welcome["visitor"]
    assert address == hashlib.sha256(token.encode()).hexdigest()
    customer = await server.store.customer_by_address("acme", Address("webchat", address))
    assert customer is not None
    assert re.fullmatch(r"Visitor \d{4}", customer.name)
    row = board.locator("#contacts tbody tr", has_text=customer.name)
    await expect(row.locator(".customer")).to_have_text(customer.name)

    # An agent signs in, becomes available, is offered the chat and accepts it.
    desk = await agent_desktop(new_page)
    offer = desk.locator(".offer")
    await expect(offer.locator(".preview")).to_have_text("Hello, my order 77 has not arrived.")
    await offer.get_by_role("button", name="Accept").click()
    conversation = desk.locator(".conversation:visible")
    await expect(conversation.locator(".thread .inbound")).to_contain_text("order 77")
    await expect(conversation.locator(".thread .inbound .who")).to_have_text(customer.name)
    await expect(desk.locator(".contact-tab .customer")).to_have_text(customer.name)
    await expect(support.locator(".waiting")).to_have_text("0")
    ada = board.locator('#agents tr[data-agent-id="ada"]')
    await expect(ada.locator(".state")).to_have_text("busy")
    await row.get_by_role("button", name=f"Monitor {customer.name}").click()
    await expect(board.locator("#monitor-customer")).to_have_text(customer.name)
    await expect(board.locator("#monitor .inbound .who")).to_have_text(customer.name)
    assert address not in await board.locator("body").inner_text()
    # The desk lists the address with the profile's addresses, as an address, not a name.
    names = await desk.locator(".customer, .who, .profile-name").all_inner_texts()
    assert not [n for n in names if address in n]
    for page in (board, desk):
        assert token not in await page.content()

    # The agent replies; the customer sees it in the widget, and answers back.
    box = conversation.get_by_label("Reply")
    await box.fill("Sorry! It ships today, <b>tracking</b> follows.")
    await box.press("Enter")
    answer = chat.locator("#messages li.outbound .body")
    await expect(answer).to_have_text("Sorry! It ships today, <b>tracking</b> follows.")
    await chat.locator("#text").fill("Thank you!")
    await chat.locator("#text").press("Enter")
    await expect(conversation.locator(".thread .inbound").last).to_contain_text("Thank you!")
    assert await chat.locator("#messages b").count() == 0


# Signing in and out (issue 22) ---------------------------------------------------------------


async def guess_passwords(server: Runtime, username: str, times: int) -> None:
    """Wrong passwords for ``username`` from another client address than the browser's."""
    import httpx

    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{web_port(server)}",
        transport=httpx.AsyncHTTPTransport(local_address="127.0.0.2"),
    ) as guesser:
        for n in range(times):
            form = {"workspace": "acme", "username": username, "password": f"guess {n}"}
            answer = await guesser.post("/login", data=form)
            assert answer.headers["location"] == "/login?failed=1"


async def test_the_sign_in_page_says_how_long_to_wait_and_a_known_browser_walks_in(
    server: Runtime, new_page: Opener
) -> None:
    known = await sign_in(await new_page(), "acme", "ada", "/agent")
    await known.get_by_role("button", name="Sign out").click()
    await expect(known).to_have_url(re.compile("/login$"))
    await guess_passwords(server, "ada", 3)

    elsewhere = await new_page()  # a browser ada never signed in on
    await elsewhere.goto("/login")
    await elsewhere.get_by_label("Workspace").fill("acme")
    await elsewhere.get_by_label("User name").fill("ada")
    await elsewhere.get_by_label("Password").fill(PASSWORD)
    await elsewhere.get_by_role("button", name="Sign in").click()
    await expect(elsewhere).to_have_url(re.compile(r"/login\?wait=1$"))
    notice = elsewhere.locator("#wait")
    await expect(notice).to_have_text("Too many failed sign-ins. Wait 1 second, then try again.")
    await expect(elsewhere.get_by_role("button", name="Sign in")).to_be_disabled()
    await expect(notice).to_have_text("You may try again now.")
    await expect(elsewhere.get_by_role("button", name="Sign in")).to_be_enabled()

    # The browser ada signed in on before is not held up by the guesses.
    await sign_in(known, "acme", "ada", "/agent")


async def test_signing_out_in_one_tab_sends_the_other_tab_to_sign_in(
    server: Runtime, new_page: Opener
) -> None:
    first = await sign_in(await new_page(), "acme", "sue", "/wallboard")
    second = await first.context.new_page()  # the same browser: the same session
    await second.goto("/wallboard")
    await expect(second.locator("#connection")).to_have_attribute("data-state", "open")
    await first.get_by_role("button", name="Sign out").click()
    await expect(first).to_have_url(re.compile("/login$"))
    await expect(second).to_have_url(re.compile("/login$"))
