"""Email channel throughput: messages accepted durably per second, and p99 end-of-DATA → 250.

The channel runs with a SQLite store in a temporary directory, so each 250 means "in the
store". The baseline, in the same run, is the same client against a bare aiosmtpd handler
that answers 250 at once. Clients are aiosmtplib connections sending one message after
another on one session each, with 1 and with 20 of them at once.

    uv run python benchmarks/bench_email.py [--messages 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import aiosmtplib
from aiosmtpd.smtp import SMTP

from trunkline import load_plugins
from trunkline.testing import build_runtime

MESSAGE = (
    "From: Customer <cust@example.test>\r\nTo: support@cc.test\r\nSubject: bench {n}\r\n"
    "Message-ID: <bench-{run}-{n}@example.test>\r\n\r\n" + "Where is my order?\r\n" * 20
)


class Bare:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


async def drive(port: int, clients: int, total: int, run: str) -> tuple[float, float]:
    """Send ``total`` messages over ``clients`` sessions; return (messages/s, p99 seconds)."""
    latencies: list[float] = []
    per_client = total // clients

    async def client(c: int) -> None:
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=60) as smtp:
            for i in range(per_client):
                n = c * per_client + i
                raw = MESSAGE.format(n=n, run=run).encode()
                await smtp.mail("cust@example.test")
                await smtp.rcpt("support@cc.test")
                # DATA: time from sending the final "." to the reply.
                code, _ = await smtp.execute_command(b"DATA")
                assert code == 354
                smtp.transport.write(raw + b".\r\n")  # type: ignore[union-attr]
                start = time.perf_counter()
                reply = await smtp.protocol.read_response(timeout=60)  # type: ignore[union-attr]
                latencies.append(time.perf_counter() - start)
                assert reply.code == 250, reply

    start = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    elapsed = time.perf_counter() - start
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return len(latencies) / elapsed, p99


async def main(total: int) -> None:
    loop = asyncio.get_running_loop()
    bare = await loop.create_server(lambda: SMTP(Bare(), loop=loop), "127.0.0.1", 0)
    bare_port = bare.sockets[0].getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        from trunkline_email import plugin

        pm = load_plugins({"TRUNKLINE_DISABLE_PLUGIN_AUTOLOAD": "1"})
        pm.register_plugin(plugin, "email")
        data = {
            "store": {"backend": "sqlite", "path": str(Path(tmp) / "bench.db")},
            "workspaces": {
                "bench": {
                    "queues": {"support": {}},
                    "channels": {
                        "mail": {
                            "adapter": "email",
                            "settings": {"smtp_port": 0, "data_dir": str(Path(tmp) / "mail")},
                        }
                    },
                }
            },
        }
        runtime = build_runtime(pm, data)
        async with runtime.running():
            port = runtime.channel("mail").smtp_port
            print(f"{total} messages per run, {MESSAGE.count(chr(10))} lines each")
            print(f"{'clients':>7} {'bare msg/s':>11} {'email msg/s':>12} {'ratio':>6} "
                  f"{'bare p99 ms':>12} {'email p99 ms':>13}")  # fmt: skip
            for clients in (1, 20):
                b_rate, b_p99 = await drive(bare_port, clients, total, f"bare{clients}")
                e_rate, e_p99 = await drive(port, clients, total, f"email{clients}")
                print(
                    f"{clients:>7} {b_rate:>11.0f} {e_rate:>12.0f} {e_rate / b_rate:>6.0%} "
                    f"{b_p99 * 1000:>12.2f} {e_p99 * 1000:>13.2f}"
                )
    bare.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    asyncio.run(main(parser.parse_args().messages))
