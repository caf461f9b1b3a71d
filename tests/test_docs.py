"""The documentation stays true to the code.

Meta-tests compare the reference pages with the code they describe (hooks, commands,
configuration keys); the runnable examples in ``docs/`` are run; the site is built strictly.
A fenced ``python`` block whose first line is ``# docs: run`` is a runnable example, and a
fenced ``toml`` block whose first line is ``# docs: check-config`` is an example configuration
file (see CONTRIBUTING.md).
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import itertools
import os
import re
import subprocess
import sys
import typing
from pathlib import Path

import attrs
import pytest

from trunkline import Capabilities, Distro, Switchboard, hookspecs
from trunkline.builtin.memory_channel import MemorySettings
from trunkline.cli import cli
from trunkline.config import OutboxSettings
from trunkline.hours import Schedule
from trunkline.model import Agent, EscalationStep, Queue, RoutingSettings
from trunkline.retention import RetentionSettings
from trunkline.routing import Command
from trunkline.survey import SurveySettings
from trunkline.testing.suite import Sample
from trunkline_web import commands as web_commands
from trunkline_web import hookspecs as web_hookspecs
from trunkline_web.canned import CannedResponse
from trunkline_web.settings import WebSettings
from trunkline_web.users import UserSettings

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RUN_MARKER = "# docs: run"
CHECK_CONFIG_MARKER = "# docs: check-config"
EXAMPLE_TIMEOUT = 90  # seconds for one runnable example (the testing page runs pytest: 18 s alone)

HOOKS = sorted(
    name
    for name, value in vars(hookspecs).items()
    if name.startswith("trunkline_") and inspect.isfunction(value)
)


# Reading the pages -----------------------------------------------------------------------------


def read(page: str) -> str:
    return (DOCS / page).read_text(encoding="utf-8")


def sections(text: str, level: int) -> dict[str, str]:
    """Map each heading of ``level`` (2 for ``##``) to its text, up to the next such heading."""
    prefix = "#" * level + " "
    found: dict[str, str] = {}
    title: str | None = None
    lines: list[str] = []
    fence: str | None = None
    for line in text.splitlines():
        stripped = line.lstrip()
        if fence is None and stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
        elif fence is not None and stripped.startswith(fence):
            fence = None
        elif fence is None and line.startswith(prefix):
            if title is not None:
                found[title] = "\n".join(lines)
            title, lines = line[len(prefix) :].strip(), []
            continue
        lines.append(line)
    if title is not None:
        found[title] = "\n".join(lines)
    return found


@attrs.frozen
class Block:
    """One fenced code block of a page: its info string, its text and where it starts.

    ``line`` is the line of the opening fence (so the block's line n is ``line + n`` of the
    page); ``end`` is the line of the closing fence.
    """

    page: str
    line: int
    info: str
    code: str
    end: int = 0


_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")


def fenced_blocks(path: Path) -> list[Block]:
    """Every fenced code block of a Markdown file, dedented (blocks may sit in list items)."""
    blocks = []
    lines = path.read_text(encoding="utf-8").splitlines()
    number = 0
    while number < len(lines):
        opening = _FENCE.match(lines[number])
        number += 1
        if opening is None:
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        start, body = number, []
        while number < len(lines):
            line = lines[number]
            number += 1
            stripped = line.strip()
            if stripped and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
                break
            body.append(line[indent:] if line[:indent].strip() == "" else line)
        page = path.relative_to(DOCS).as_posix()
        blocks.append(Block(page, start, opening["info"], "\n".join(body) + "\n", number))
    return blocks


def marked_blocks(info: str, marker: str) -> list[Block]:
    return [
        block
        for path in sorted(DOCS.rglob("*.md"))
        for block in fenced_blocks(path)
        if block.info == info and block.code.lstrip("\n").startswith(marker + "\n")
    ]


RUNNABLE = marked_blocks("python", RUN_MARKER)
CONFIG_FILES = marked_blocks("toml", CHECK_CONFIG_MARKER)


def shown_outputs() -> dict[Block, str]:
    """What the pages say a runnable example prints: a ``text`` block right after it, with
    only the word "prints" between the two."""
    shown: dict[Block, str] = {}
    runnable = set(RUNNABLE)
    for path in sorted(DOCS.rglob("*.md")):
        lines = path.read_text(encoding="utf-8").splitlines()
        blocks = fenced_blocks(path)
        for example, after in itertools.pairwise(blocks):
            between = " ".join(lines[example.end : after.line - 1]).strip()
            if example in runnable and after.info == "text" and between.rstrip(":") == "prints":
                shown[example] = after.code
    return shown


SHOWN = shown_outputs()


def block_ids(blocks: list[Block]) -> list[str]:
    index: dict[str, int] = {}
    ids = []
    for block in blocks:
        index[block.page] = index.get(block.page, 0) + 1
        ids.append(f"{block.page}#{index[block.page]}")
    return ids


def example_env() -> dict[str, str]:
    """The environment examples run in: core's built-ins, trunkline-web (whose [web], users and
    canned the configuration pages show) and their own plugins only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUNKLINE_")}
    env["TRUNKLINE_PLUGINS"] = "web"
    return env


def field_names(cls: type) -> list[str]:
    return [
        field.name
        for field in attrs.fields(cls)
        if field.init and field.name not in ("id", "workspace")
    ]


# The hook reference ----------------------------------------------------------------------------


def hook_sections() -> dict[str, str]:
    return {
        title: text
        for title, text in sections(read("hooks.md"), 2).items()
        if "trunkline_" in title
    }


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_section_in_the_hook_reference(hook: str) -> None:
    assert hook in hook_sections(), f"docs/hooks.md has no section '## {hook}'"


def test_the_hook_reference_has_no_section_for_a_hook_that_does_not_exist() -> None:
    titles = [t for t in sections(read("hooks.md"), 2) if t.startswith("trunkline_")]
    assert sorted(set(titles) - set(HOOKS)) == []
    assert len(titles) == len(set(titles)), "a hook has two sections"


@pytest.mark.parametrize("hook", HOOKS)
def test_each_hook_section_states_how_the_hook_is_called(hook: str) -> None:
    text = " ".join(hook_sections().get(hook, "").split())  # line breaks do not matter
    spec = getattr(getattr(hookspecs, hook), "trunkline_spec", {})
    assert ("may be async" in text) == (hook in hookspecs.ASYNC_HOOKS), (
        f"{hook}: the section must say 'may be async' exactly when the hook accepts async def"
    )
    if spec.get("historic"):
        assert "historic" in text, f"{hook} is historic; its section must say so"
    if spec.get("firstresult"):
        assert "first result" in text, f"{hook} is firstresult; its section must say so"
    assert "**When:**" in text, f"{hook}: the section must say when the hook is called"
    assert "```python" in text, f"{hook}: the section must show an example implementation"


WEB_HOOKS = sorted(
    name
    for name, value in vars(web_hookspecs).items()
    if name.startswith("trunkline_") and inspect.isfunction(value)
)


@pytest.mark.parametrize("hook", WEB_HOOKS)
def test_every_hook_of_trunkline_web_has_a_section_on_its_page(hook: str) -> None:
    titles = sections(read("plugins/trunkline-web.md"), 3)
    assert hook in titles, f"docs/plugins/trunkline-web.md has no section '### {hook}'"
    text = " ".join(titles[hook].split())
    assert "**When:**" in text
    assert "```python" in text
    assert hook not in hook_sections(), "a hook of trunkline-web is documented as core's"


def test_trunkline_webs_page_lists_its_public_modules() -> None:
    page = read("plugins/trunkline-web.md")
    listed = set(re.findall(r"^\| `(trunkline_web[\w.]*)` \|", page, re.MULTILINE))
    assert listed == {"trunkline_web.hookspecs", "trunkline_web.server", "trunkline_web.settings"}


# The command line and configuration references -------------------------------------------------


#: Core's commands and trunkline-web's (``demo``, ``hash-secret``), all on docs/cli.md.
COMMANDS = {**cli.commands, "demo": web_commands.demo, "hash-secret": web_commands.hash_secret}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_and_option_is_documented(name: str) -> None:
    documented = sections(read("cli.md"), 2)
    title = f"trunkline {name}"
    assert title in documented, f"docs/cli.md has no section '## {title}'"
    for param in COMMANDS[name].params:
        for option in param.opts:
            if option.startswith("-"):
                assert f"`{option}" in documented[title], f"{title}: option {option} is missing"


def test_the_global_options_are_documented() -> None:
    text = read("cli.md")
    for option in ("--version", "--help", "-h"):
        assert f"`{option}`" in text


@pytest.mark.parametrize(
    ("cls", "page", "heading", "level"),
    [
        (Queue, "configuration.md", "Queues", 3),
        (Agent, "configuration.md", "Agents", 3),
        (EscalationStep, "configuration.md", "Escalation steps", 4),
        (RoutingSettings, "configuration.md", "Routing rules", 3),
        (Schedule, "configuration.md", "Business hours", 3),
        (RetentionSettings, "configuration.md", "Retention", 3),
        (SurveySettings, "configuration.md", "Surveys (CSAT)", 3),
        (CannedResponse, "configuration.md", "Canned responses", 3),
        (WebSettings, "configuration.md", "`[web]`", 2),
        (UserSettings, "configuration.md", "Users", 3),
        (OutboxSettings, "configuration.md", "`[outbox]`", 2),
        (MemorySettings, "configuration.md", "The memory channel", 3),
        (Capabilities, "plugins/writing-a-channel.md", "`capabilities`", 3),
        (Distro, "distributions.md", "The `Distro`", 2),
        (Sample, "testing.md", "`Sample`", 3),
    ],
)
def test_every_key_is_documented(cls: type, page: str, heading: str, level: int) -> None:
    section = sections(read(page), level).get(heading)
    assert section is not None, f"docs/{page} has no heading {heading!r}"
    missing = [name for name in field_names(cls) if f"| `{name}` |" not in section]
    assert missing == [], f"docs/{page}, {heading}: undocumented keys {missing}"


def test_every_plugin_environment_variable_is_documented() -> None:
    text = read("plugins/discovery.md")
    for variable in (
        "TRUNKLINE_PLUGINS",
        "TRUNKLINE_DISABLE_PLUGINS",
        "TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD",
        "TRUNKLINE_DISTRO",
    ):
        assert f"| `{variable}` |" in text, f"{variable} is not in the table of variables"


def test_every_webhook_setting_is_documented() -> None:
    from trunkline_webhook.adapter import WebhookSettings

    section = sections(read("channels/webhook.md"), 3).get("Settings")
    assert section is not None, "docs/channels/webhook.md has no heading 'Settings'"
    missing = [name for name in field_names(WebhookSettings) if f"| `{name}` |" not in section]
    assert missing == [], f"docs/channels/webhook.md, Settings: undocumented keys {missing}"


def test_every_webchat_setting_is_documented() -> None:
    from trunkline_webchat.adapter import WebChatSettings

    section = sections(read("channels/webchat.md"), 3).get("Settings")
    assert section is not None, "docs/channels/webchat.md has no heading 'Settings'"
    missing = [name for name in field_names(WebChatSettings) if f"| `{name}` |" not in section]
    assert missing == [], f"docs/channels/webchat.md, Settings: undocumented keys {missing}"


# Plugin authors outside this repository -----------------------------------------------------


def test_the_testing_page_shows_running_overridden_and_the_trio_runs_left_out() -> None:
    examples = [b.code for b in RUNNABLE if b.page == "testing.md"]
    assert any(
        "async def running(self)" in code and "def anyio_backend(self)" in code for code in examples
    ), "docs/testing.md needs a runnable example overriding running() and anyio_backend"


def test_the_template_and_the_guide_agree_on_joining_the_workspace() -> None:
    """A directory under plugins/ is a workspace member by the root's glob, but only what the
    root depends on is installed: every page that says how must say both steps."""
    import tomllib

    root = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "plugins/trunkline-*" in root["tool"]["uv"]["workspace"]["members"]
    # A dependency's name without its extras: "trunkline-workforce[plots]" names it too.
    dependencies = {
        re.split(r"[\[<>=!~; ]", d, maxsplit=1)[0] for d in root["project"]["dependencies"]
    }
    for plugin in sorted((ROOT / "plugins").glob("trunkline-*/pyproject.toml")):
        name = tomllib.loads(plugin.read_text(encoding="utf-8"))["project"]["name"]
        assert name in dependencies, f"{name}: not a root dependency"
        assert root["tool"]["uv"]["sources"][name] == {"workspace": True}, name
    pages = {
        "plugins/_template/README.md": (ROOT / "plugins" / "_template" / "README.md"),
        "CONTRIBUTING.md": ROOT / "CONTRIBUTING.md",
        "docs/plugins/writing-a-channel.md": DOCS / "plugins" / "writing-a-channel.md",
    }
    for page, path in pages.items():
        text = " ".join(path.read_text(encoding="utf-8").split())
        for step in (
            "plugins/trunkline-*",
            "[project] dependencies",
            "[tool.uv.sources]",
            "= { workspace = true }",
            "uv lock",
        ):
            assert step in text, f"{page} does not say {step}"


def test_the_guide_for_a_plugin_in_its_own_project_matches_this_repository() -> None:
    import tomllib

    section = sections(read("plugins/writing-a-channel.md"), 3)["A plugin in its own project"]
    (fragment,) = re.findall(r"^```toml\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    project = tomllib.loads(fragment)
    assert "trunkline" in project["project"]["dependencies"]
    assert "trunkline.plugins" in project["project"]["entry-points"]
    source = project["tool"]["uv"]["sources"]["trunkline"]
    assert source["editable"] is True
    core = Path(source["path"])
    assert core.name == "core", "the path source must name the checkout's core/ directory"
    core_project = tomllib.loads((ROOT / core.name / "pyproject.toml").read_text("utf-8"))
    assert core_project["project"]["name"] == "trunkline"
    text = " ".join(section.split())
    for fact in ("`uv sync`", "`uv pip install -e`", "`uv sync --inexact`", "`--with-editable`"):
        assert fact in text, f"the section does not mention {fact}"


def test_the_guide_names_real_channels_for_both_ways_of_receiving_webhooks() -> None:
    from trunkline_webchat import plugin as webchat_plugin
    from trunkline_webhook.adapter import WebhookSettings

    section = sections(read("plugins/writing-a-channel.md"), 3)[
        "Webhooks: a listener of your own, or routes on Trunkline's server"
    ]
    text = " ".join(section.split())
    assert "(trunkline-web.md#trunkline_register_routes)" in text
    # The examples it gives are true: the webhook channel listens on its own host and port,
    # the web chat has routes on Trunkline's server.
    fields = {f.name for f in attrs.fields(WebhookSettings)}
    assert {"host", "port"} <= fields
    assert "webhook channel" in text
    assert "`host` and `port`" in text
    assert hasattr(webchat_plugin, "trunkline_register_routes")
    assert "web chat" in text


# The examples ----------------------------------------------------------------------------------


def test_the_documentation_has_runnable_examples() -> None:
    pages = {block.page for block in RUNNABLE}
    assert {"embedding.md", "hooks.md", "plugins/writing-a-channel.md"} <= pages
    assert CONFIG_FILES, "configuration.md should have a complete example file"


@pytest.mark.parametrize("block", RUNNABLE, ids=block_ids(RUNNABLE))
def test_runnable_example_runs(block: Block, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(block.code, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=example_env(),
        capture_output=True,
        text=True,
        timeout=EXAMPLE_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, (
        f"docs/{block.page}:{block.line}: the example exited with {result.returncode}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    if block in SHOWN:
        assert result.stdout == SHOWN[block], (
            f"docs/{block.page}:{block.line}: the page shows another output than the example prints"
        )


def test_the_pages_check_the_output_they_show() -> None:
    explain = [b for b in SHOWN if b.page == "routing.md" and "why.render()" in b.code]
    assert explain != [], "routing.md shows what an explanation prints, after 'prints'"


def test_runnable_examples_type_check(tmp_path: Path) -> None:
    """``mypy --strict`` on every runnable example at once, errors given as page lines."""
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (it is in the dev dependency group)")
    files: dict[str, Block] = {}
    for name, block in zip(block_ids(RUNNABLE), RUNNABLE, strict=True):
        module = "docs_" + re.sub(r"\W", "_", name)
        (tmp_path / f"{module}.py").write_text(block.code, encoding="utf-8")
        files[module] = block
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            *(f"{m}.py" for m in sorted(files)),
        ],
        cwd=tmp_path,
        env={**os.environ, "MYPY_CACHE_DIR": str(ROOT / ".mypy_cache")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    def on_the_page(match: re.Match[str]) -> str:
        block = files[match["module"]]
        return f"docs/{block.page}:{block.line + int(match['line'])}:"

    errors = re.sub(
        r"^(?P<module>docs_\w+)\.py:(?P<line>\d+):", on_the_page, result.stdout, flags=re.M
    )
    assert result.returncode == 0, (
        f"the runnable examples do not type-check:\n{errors}{result.stderr}"
    )


def table_rows(section: str) -> dict[str, list[str]]:
    """The rows of a section's tables, by the first name in backticks of their first cell."""
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and (name := re.match(r"`(\w+)", cells[0])):
            rows.setdefault(name[1], cells)
    return rows


@pytest.mark.parametrize(
    ("heading", "function"),
    [
        ("Creating a switchboard", Switchboard.__init__),
        ("Queues and agents", Switchboard.add_agent),
        ("Contacts", Switchboard.submit),
    ],
)
def test_the_switchboards_parameters_are_documented_with_their_defaults(
    heading: str, function: typing.Callable[..., object]
) -> None:
    section = sections(read("embedding.md"), 3).get(heading)
    assert section is not None, f"docs/embedding.md has no heading '### {heading}'"
    rows = table_rows(section)
    parameters = [  # those with a default: the rest (self, the queue, the id) come first
        p
        for p in inspect.signature(function).parameters.values()
        if p.default is not inspect.Parameter.empty
    ]
    assert sorted(rows) == sorted(p.name for p in parameters)
    for parameter in parameters:
        shown = rows[parameter.name][1].strip("`")
        assert ast.literal_eval(shown) == parameter.default, f"{parameter.name}: default {shown}"


def test_the_embedding_page_lists_every_member_of_the_switchboard() -> None:
    section = sections(read("embedding.md"), 3).get("Every method")
    assert section is not None, "docs/embedding.md has no heading '### Every method'"
    documented = {
        name
        for line in section.splitlines()
        if line.startswith("|")
        for name in re.findall(r"`(\w+)\b", line.split("|")[1])
    }
    sb = Switchboard()
    public = {name for name in [*vars(Switchboard), *vars(sb)] if not name.startswith("_")}
    assert sorted(public - documented) == [], "members of Switchboard missing from the table"
    assert sorted(documented - public) == [], "the table names members Switchboard lacks"


def test_the_embedding_page_names_every_routing_command() -> None:
    text = read("embedding.md")
    missing = [c.__name__ for c in typing.get_args(Command) if f"`{c.__name__}`" not in text]
    assert missing == []


def test_the_embedding_page_leads_with_the_switchboard_and_says_how_to_install() -> None:
    text = read("embedding.md")
    titles = list(sections(text, 2))
    assert titles[:2] == ["Installing", "The switchboard"]
    install = sections(text, 2)["Installing"]
    assert "pip install trunkline" in install
    assert "uv add trunkline" in install
    first = next(b for b in RUNNABLE if b.page == "embedding.md")
    assert "Switchboard" in first.code
    codec = [b for b in RUNNABLE if b.page == "embedding.md" and "trunkline.codec" in b.code]
    assert [b for b in codec if "dump_event" in b.code and "load_event" in b.code] != []


@pytest.mark.parametrize("block", CONFIG_FILES, ids=block_ids(CONFIG_FILES))
def test_example_configuration_passes_check_config(block: Block, tmp_path: Path) -> None:
    config = tmp_path / "example.toml"
    config.write_text(block.code, encoding="utf-8")
    env = example_env()
    for variable in re.findall(r'\benv\s*=\s*"([^"]+)"', block.code):
        env[variable] = "dummy-secret"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from trunkline.cli import main; main(sys.argv[1:])",
            "check-config",
            str(config),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=EXAMPLE_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"docs/{block.page}:{block.line}: {result.stderr}"
    assert ": OK: " in result.stdout


# The site --------------------------------------------------------------------------------------


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None:
        pytest.skip("mkdocs-material is not installed (it is in the dev dependency group)")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "--site-dir",
            str(tmp_path / "site"),
        ],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "hooks" / "index.html").exists()
