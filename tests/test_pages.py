"""The agent desktop and the supervisor wallboard, driven in a real browser.

Debian's chromium runs the pages (``apt-get install -y chromium``; never ``playwright
install``) against a server started in-process for each test; customers write in through the
memory channel. Without chromium the tests skip, and fail when ``CI=true``. The last test
saves the screenshots the documentation shows (``docs/screenshots/``).
"""

from __future__ import annotations

import math
import os
import re
import socket
import threading
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

import trunkline.web
from trunkline import FakeClock, Runtime, config_from_dict, load_plugins
from trunkline import events as ev
from trunkline.channels import Signal
from trunkline.model import AgentStatus, Attachment, ContactState, Offer
from trunkline.testing.browser import chromium_path, launched_chromium
from trunkline.users import hash_password
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
STATIC = Path(trunkline.web.__file__).parent / "static"
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
async def server(tmp_path: Path) -> AsyncIterator[Runtime]:
    pm = load_plugins({"TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD": "1"})
    pm.register(webchat_plugin, "webchat")
    adapters = {a.name: a for a in pm.collect("trunkline_register_channels")}
    strategies = {s.name for s in pm.collect("trunkline_register_strategies")}
    config = config_from_dict(
        config_data(str(tmp_path / "files")), adapters=adapters, strategies=strategies, env={}
    )
    runtime = Runtime(config, pm, clock=FakeClock(), web=True)
    async with runtime.running():
        yield runtime


@pytest.fixture
def shop_site(server: Runtime) -> Iterator[str]:
    """A customer's website embedding the chat widget with its one script tag."""
    widget = f"http://127.0.0.1:{server.web_port}/chat/site/widget.js"
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
            viewport=VIEWPORT, base_url=f"http://127.0.0.1:{server.web_port}"
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
    await shop.goto(f"{shop_site}/")
    await shop.locator("[data-trunkline-webchat] button").click()
    chat = shop.frame_locator("[data-trunkline-webchat] iframe")
    await expect(chat.locator("#status")).to_have_text("Connected")
    await chat.locator("#text").fill("Hello, my order 77 has not arrived.")
    await chat.locator("#text").press("Enter")
    await expect(chat.locator("#messages li.inbound[data-id]")).to_have_count(1)

    # The supervisor sees the queue change.
    await expect(support.locator(".waiting")).to_have_text("1")
    await expect(board.locator("#total-waiting")).to_have_text("1")

    # An agent signs in, becomes available, is offered the chat and accepts it.
    desk = await agent_desktop(new_page)
    offer = desk.locator(".offer")
    await expect(offer.locator(".preview")).to_have_text("Hello, my order 77 has not arrived.")
    await offer.get_by_role("button", name="Accept").click()
    conversation = desk.locator(".conversation:visible")
    await expect(conversation.locator(".thread .inbound")).to_contain_text("order 77")
    await expect(support.locator(".waiting")).to_have_text("0")
    ada = board.locator('#agents tr[data-agent-id="ada"]')
    await expect(ada.locator(".state")).to_have_text("busy")

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
        base_url=f"http://127.0.0.1:{server.web_port}",
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
