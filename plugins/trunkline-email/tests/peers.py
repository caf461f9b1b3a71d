"""Real mail programs the tests talk to: swaks, a private Postfix, a private Dovecot.

Each is started on free loopback ports with its own configuration and spool in a temporary
directory, and stopped afterwards; the machine's own instances (if any) are not touched.
Postfix delivers ``*@cc.test`` into Maildirs under ``<dir>/mail/cc.test/<user>/`` (virtual
delivery, as ``nobody``), and Dovecot serves those same Maildirs over IMAP, so mail sent
through Postfix can be polled from Dovecot. A missing program skips the test that needs it,
and fails it under ``CI=true`` (CI must install it: see ``.ci/run``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

DOMAIN = "cc.test"
NOBODY = 65534


def missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must install it (see .ci/run)")
    pytest.skip(reason)


def need(program: str, package: str) -> str:
    found = shutil.which(program) or (
        f"/usr/sbin/{program}" if Path(f"/usr/sbin/{program}").exists() else None
    )
    if found is None:
        missing(f"{program} is missing: apt-get install -y {package}")
    assert found is not None
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, what: str, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {within} s")


def mailbox(root: Path, user: str) -> Path:
    """The Maildir of ``user@cc.test``."""
    return root / "mail" / DOMAIN / user


class Postfix:
    """A private Postfix instance: ``postfix -c <dir>/etc start`` on a free port."""

    def __init__(self, root: Path, users: list[str]) -> None:
        self.root = root
        self.port = free_port()
        self.etc = root / "etc"
        self.postfix = need("postfix", "postfix")
        self.users = users

    def start(self) -> None:
        if os.geteuid() != 0:
            missing("a private Postfix needs root (it changes to the postfix user)")
        etc, root = self.etc, self.root
        etc.mkdir(parents=True)
        shutil.copy("/etc/postfix/master.cf", etc / "master.cf")
        (etc / "main.cf").write_text("")
        (root / "mail").mkdir()
        (root / "queue").mkdir()
        (root / "data").mkdir()
        shutil.chown(root / "data", "postfix")
        os.chown(root / "mail", NOBODY, NOBODY)
        (etc / "vmailbox").write_text("".join(f"{u}@{DOMAIN} {DOMAIN}/{u}/\n" for u in self.users))
        settings = {
            "queue_directory": str(root / "queue"),
            "data_directory": str(root / "data"),
            "myhostname": "relay.cc.test",
            "mydomain": DOMAIN,
            "mydestination": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "compatibility_level": "3.6",
            "maillog_file": str(root / "postfix.log"),
            "maillog_file_prefixes": str(root),
            "virtual_mailbox_domains": DOMAIN,
            "virtual_mailbox_base": str(root / "mail"),
            "virtual_mailbox_maps": f"texthash:{etc / 'vmailbox'}",
            "virtual_uid_maps": f"static:{NOBODY}",
            "virtual_gid_maps": f"static:{NOBODY}",
            "virtual_minimum_uid": "100",
            "smtpd_recipient_restrictions": "permit_mynetworks, reject_unauth_destination",
            "smtputf8_enable": "no",
            "alias_maps": "",
            "alias_database": "",
        }
        postconf = need("postconf", "postfix")
        subprocess.run(
            [postconf, "-c", str(etc), "-e", *(f"{k}={v}" for k, v in settings.items())],
            check=True,
        )
        # The smtp service on our port instead of 25; postlog for maillog_file.
        master = (
            (etc / "master.cf")
            .read_text()
            .replace("\nsmtp      inet", f"\n127.0.0.1:{self.port}      inet", 1)
        )
        if "postlog" not in master:
            master += "postlog   unix-dgram n  -       n       -       1       postlogd\n"
        (etc / "master.cf").write_text(master)
        subprocess.run([self.postfix, "-c", str(etc), "start"], check=True, capture_output=True)
        wait_port(self.port, "postfix")

    def stop(self) -> None:
        if not self.etc.exists():
            return
        subprocess.run([self.postfix, "-c", str(self.etc), "stop"], capture_output=True)

    def delivered(self, user: str) -> list[Path]:
        new = mailbox(self.root, user) / "new"
        return sorted(new.iterdir()) if new.exists() else []


class Dovecot:
    """A private Dovecot serving the Postfix Maildirs over IMAP (no TLS) on a free port."""

    def __init__(self, root: Path, password: str) -> None:
        self.root = root
        self.port = free_port()
        self.password = password
        self.dovecot = need("dovecot", "dovecot-imapd")
        self.conf = root / "dovecot.conf"

    def start(self) -> None:
        if os.geteuid() != 0:
            missing("a private Dovecot needs root")
        root = self.root
        run = root / "run"
        run.mkdir(parents=True, exist_ok=True)
        (root / "users").write_text(f"support:{{PLAIN}}{self.password}::::::\n")
        self.conf.write_text(
            f"""
protocols = imap
listen = 127.0.0.1
base_dir = {run}
state_dir = {root / "state"}
log_path = {root / "dovecot.log"}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = {NOBODY}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {root / "users"}
}}
userdb {{
  driver = static
  args = uid={NOBODY} gid={NOBODY} home={root / "mail" / DOMAIN}/%n
}}
mail_location = maildir:~/
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""
        )
        # Dovecot forks into the background keeping its output open: no pipes, or run() waits.
        with (root / "dovecot.out").open("wb") as out:
            subprocess.run([self.dovecot, "-c", str(self.conf)], check=True, stdout=out, stderr=out)
        wait_port(self.port, "dovecot")

    def stop(self) -> None:
        if not self.conf.exists():
            return
        doveadm = shutil.which("doveadm") or "/usr/bin/doveadm"
        subprocess.run([doveadm, "-c", str(self.conf), "stop"], capture_output=True)
