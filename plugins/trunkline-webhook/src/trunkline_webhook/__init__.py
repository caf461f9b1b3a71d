"""The webhook channel: customers' messages arrive as JSON over HTTP, replies go to a callback.

Modules, one job each: :mod:`~trunkline_webhook.wire` (the JSON bodies and signatures, no
I/O), :mod:`~trunkline_webhook.adapter` (the channel adapter: the HTTP endpoint and the
callback client), :mod:`trunkline_web.server` (uvicorn as an anyio task, from trunkline-web),
:mod:`~trunkline_webhook.receiver` (a local callback receiver for tests and examples) and
:mod:`~trunkline_webhook.plugin` (the entry point, which imports the adapter only when
needed, so ``trunkline --help`` never loads Starlette, uvicorn or httpx).
"""
