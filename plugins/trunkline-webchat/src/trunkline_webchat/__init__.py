"""The web-chat channel: a chat button on any website, customers' messages over a WebSocket.

Modules, one job each: :mod:`~trunkline_webchat.protocol` (the socket's JSON frames, no I/O),
:mod:`~trunkline_webchat.adapter` (the channel adapter and its settings: replies and typing
pushed to visitors' sockets), :mod:`~trunkline_webchat.session` (one socket's conversation:
history on hello, acknowledgement once stored), :mod:`~trunkline_webchat.files` (attachments
recognised by content and kept by SHA-256, per workspace and channel),
:mod:`~trunkline_webchat.caps` (what a workspace may take in: new chats a minute, upload
storage), :mod:`~trunkline_webchat.routes` (the Starlette routes core's HTTP server mounts
under ``/chat/``) and :mod:`~trunkline_webchat.plugin` (the
entry point, which imports nothing heavy). The widget and the chat page are in ``static/``.
"""
