"""The OpenAPI 3.1 document of the REST API, served at ``/openapi.json``.

Written out here rather than generated from docstrings: it is the contract clients code
against, kept next to its tests (``tests/test_openapi.py`` checks it against the running app
with schemathesis, and that every route of the app is described).
"""

from __future__ import annotations

from typing import Any

from trunkline_web.api import CONTACT_FILTERS, MAX_DISPOSITION, MAX_REASON

__all__ = ["openapi_document"]


_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}
_OK = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
_TRANSFERRED = {  # the offer the transfer made at once, or null while the contact waits
    "type": "object",
    "properties": {
        "ok": {"type": "boolean"},
        "offer": {"oneOf": [{"$ref": "#/components/schemas/Offer"}, {"type": "null"}]},
    },
}
_NULLABLE_SHARE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
_NULLABLE_SECONDS = {"type": ["number", "null"], "minimum": 0}
_COUNT = {"type": "integer", "minimum": 0}
_SECONDS = {"type": "number", "minimum": 0}
# The figures since start of a queue and of the workspace (trunkline.metrics, docs/metrics.md).
_QUEUE_FIGURES: dict[str, Any] = {
    "waiting": _COUNT,
    "ringing": _COUNT,
    "offered": _COUNT,
    "offers": _COUNT,
    "answered": _COUNT,
    "abandoned": _COUNT,
    "handled": _COUNT,
    "service_level": _NULLABLE_SHARE,
    "within_service_level": _COUNT,
    "counted_for_service_level": _COUNT,
    "answered_within_threshold": _COUNT,
    "abandoned_within_threshold": _COUNT,
    "short_abandoned": _COUNT,
    "asa": _NULLABLE_SECONDS,
    "aht": _NULLABLE_SECONDS,
    "average_talk_time": _NULLABLE_SECONDS,
    "average_wrap_time": _NULLABLE_SECONDS,
    "abandonment_rate": _NULLABLE_SHARE,
    "wait_probability": _NULLABLE_SHARE,
    "answer_time_total": _SECONDS,
    "talk_time_total": _SECONDS,
    "wrap_time_total": _SECONDS,
    "handle_time_total": _SECONDS,
    "csat": _NULLABLE_SHARE,
    "csat_responses": _COUNT,
    "average_score": {"type": ["number", "null"], "minimum": 0, "maximum": 5},
}

_ALERT_REF = {"$ref": "#/components/schemas/Alert"}

_SCHEMAS: dict[str, Any] = {
    "Error": _ERROR,
    "User": {
        "type": "object",
        "required": ["workspace", "username", "role", "agent", "name"],
        "properties": {
            "workspace": {"type": "string"},
            "username": {"type": "string"},
            "role": {"enum": ["agent", "supervisor", "admin"]},
            "agent": {"type": "string"},
            "name": {"type": "string"},
        },
    },
    "Workspace": {
        "type": "object",
        "required": ["id", "name", "queues", "skills", "dispositions"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "queues": {"type": "array", "items": {"type": "string"}},
            "skills": {"type": "array", "items": {"type": "string"}},
            "dispositions": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Queue": {
        "type": "object",
        "required": ["id", "name", "waiting", "ringing", "longest_wait", "agents", "offered"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "waiting": _COUNT,
            "ringing": _COUNT,
            "longest_wait": {"type": "number", "minimum": 0},
            **{
                key: _QUEUE_FIGURES[key]
                for key in (
                    "offered",
                    "answered",
                    "abandoned",
                    "handled",
                    "service_level",
                    "asa",
                    "aht",
                    "average_talk_time",
                    "average_wrap_time",
                    "abandonment_rate",
                    "wait_probability",
                    "csat",
                    "csat_responses",
                )
            },
            "service_level_threshold": {"type": "number"},
            "service_level_target": {"type": "number"},
            "agents": {"type": "object", "additionalProperties": {"type": "integer"}},
            "alerts": {"type": "array", "items": _ALERT_REF},
            "service_level_trend": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": [
                        "start",
                        "end",
                        "service_level",
                        "within_service_level",
                        "counted_for_service_level",
                    ],
                    "properties": {
                        "start": {"type": "number"},
                        "end": {"type": "number"},
                        "service_level": _NULLABLE_SHARE,
                        "within_service_level": _COUNT,
                        "counted_for_service_level": _COUNT,
                    },
                },
            },
        },
    },
    "Alert": {
        "type": "object",
        "required": ["queue", "kind", "value", "threshold"],
        "properties": {
            "queue": {"type": "string"},
            "kind": {"enum": ["service_level", "longest_wait", "abandonment"]},
            "value": {"type": "number", "minimum": 0},
            "threshold": {"type": "number", "minimum": 0},
        },
    },
    "Agent": {
        "type": "object",
        "required": ["id", "name", "status", "state", "held", "capacity", "contacts"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "status": {"enum": ["offline", "available", "break"]},
            "reason": {"type": ["string", "null"]},
            "status_since": {"type": ["number", "null"]},
            "state": {"enum": ["idle", "offered", "busy", "wrap-up"]},
            "held": {"type": "object", "additionalProperties": {"type": "integer"}},
            "capacity": {"type": "object", "additionalProperties": {"type": "integer"}},
            "contacts": {"type": "array", "items": {"type": "string"}},
            "queues": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Offer": {
        "type": "object",
        "required": ["id", "contact_id", "agent_id", "queue", "expires_at"],
        "properties": {
            "id": {"type": "string"},
            "contact_id": {"type": "string"},
            "agent_id": {"type": "string"},
            "queue": {"type": "string"},
            "created_at": {"type": "number"},
            "expires_at": {"type": "number"},
        },
    },
    "Message": {
        "type": "object",
        "required": ["id", "contact_id", "direction", "body", "created_at", "attachments"],
        "properties": {
            "id": {"type": "string"},
            "contact_id": {"type": "string"},
            "direction": {"enum": ["inbound", "outbound"]},
            "channel": {"type": "string"},
            "body": {"type": "string"},
            "created_at": {"type": "number"},
            "sent_at": {"type": ["number", "null"]},
            "sender": {"type": ["string", "null"]},
            "attachments": {"type": "array", "items": {"type": "object"}},
        },
    },
    "Contact": {
        "type": "object",
        "required": ["id", "state", "channel", "kind", "customer"],
        "properties": {
            "id": {"type": "string"},
            "queue": {"type": ["string", "null"]},
            "state": {"type": "string"},
            "channel": {"type": "string"},
            "kind": {"type": "string"},
            "subject": {"type": "string"},
            "customer": {"type": "object"},
            "agent_id": {"type": ["string", "null"]},
            "created_at": {"type": "number"},
            "attributes": {"type": "object"},
            "messages": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}},
            "notes": {"type": "array", "items": {"$ref": "#/components/schemas/Note"}},
            "accepted_at": {"type": ["number", "null"]},
            "history": {"type": "array", "items": {"type": "object"}},
        },
    },
    "Customer": {
        "type": "object",
        "required": ["id", "name", "addresses"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "addresses": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["kind", "value"],
                    "properties": {"kind": {"type": "string"}, "value": {"type": "string"}},
                },
            },
        },
    },
    "Note": {
        "type": "object",
        "required": ["id", "contact_id", "author", "author_name", "text", "created_at"],
        "properties": {
            "id": {"type": "string"},
            "contact_id": {"type": "string"},
            "author": {"type": "string"},
            "author_name": {"type": "string"},
            "agent_id": {"type": ["string", "null"]},
            "text": {"type": "string"},
            "created_at": {"type": "number"},
        },
    },
    "Canned": {
        "type": "object",
        "required": ["shortcut", "title", "text"],
        "properties": {
            "shortcut": {"type": "string"},
            "title": {"type": "string"},
            "text": {"type": "string"},
            "missing": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Search": {
        "type": "object",
        "required": ["customers", "contacts"],
        "properties": {
            "customers": {"type": "array", "items": {"$ref": "#/components/schemas/Customer"}},
            "contacts": {"type": "array", "items": {"$ref": "#/components/schemas/Contact"}},
        },
    },
    "Directory": {
        "type": "object",
        "required": ["queues", "agents"],
        "properties": {
            "queues": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "name"],
                    "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
                },
            },
            "agents": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "name", "status", "state"],
                    "properties": {
                        "id": {"type": "string"},
                        "name": {"type": "string"},
                        "status": {"enum": ["offline", "available", "break"]},
                        "state": {"enum": ["idle", "offered", "busy", "wrap-up"]},
                        "queues": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        },
    },
    "Summary": {
        "type": "object",
        "required": ["received", *_QUEUE_FIGURES, "longest_wait", "agents", "occupancy"],
        "properties": {
            "received": _COUNT,
            **_QUEUE_FIGURES,
            "longest_wait": {"type": "number", "minimum": 0},
            "agents": {"type": "object", "additionalProperties": {"type": "integer"}},
            "busy_time": {"type": "number", "minimum": 0},
            "available_time": {"type": "number", "minimum": 0},
            "occupancy": _NULLABLE_SHARE,
        },
    },
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "bad input, the field named",
        401: "no or bad credentials",
        403: "the role may not",
        404: "not found in the caller's workspace",
        409: "the state moved on (an offer no longer open)",
        413: "the body is too large",
        415: "the body is not declared application/json",
        503: "try again",
    }
    return {str(c): _json(_ref("Error"), text[c]) for c in codes}


def _body(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    return {"required": bool(required), "content": {"application/json": {"schema": schema}}}


def _op(
    summary: str,
    ok: dict[str, Any],
    errors: tuple[int, ...],
    body: dict[str, Any] | None = None,
    params: tuple[str, ...] = (),
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {**ok, **_errors(*errors)},
        "parameters": [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
            for p in params
        ],
    }
    if body is not None:
        op["requestBody"] = body
    return op


def _query(name: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema}


def _desk_paths(w: str) -> dict[str, Any]:
    """What the agent desktop adds: notes, canned responses, search, attachments, directory."""
    ws = ("workspace",)
    c = f"{w}/contacts/{{contact}}"
    read = (401, 403, 404, 503)
    search = _op(
        "Customers and contacts found by name, address, subject or id",
        {"200": _json(_ref("Search"))},
        (400, *read),
        params=ws,
    )
    search["parameters"] += [
        _query("q", {"type": "string", "minLength": 2, "maxLength": 200}, required=True),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": 50}),
    ]
    attachment = _op(
        "A file a message carries, from its channel (images, PDFs and text shown in place)",
        {
            "200": {
                "description": "the file",
                "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
        read,
        params=(*ws, "contact", "sha256"),
    )
    return {
        f"{c}/notes": {
            "post": _op(
                "Add a private note (never sent to the customer)",
                {"201": _json(_ref("Note"), "Created")},
                (400, 401, 403, 404, 409, 413, 415, 503),
                _body({"text": {"type": "string", "minLength": 1}}, ["text"]),
                (*ws, "contact"),
            )
        },
        f"{c}/canned": {
            "get": _op(
                "The canned responses with this contact's placeholders filled in",
                {"200": _json({"type": "array", "items": _ref("Canned")})},
                read,
                params=(*ws, "contact"),
            )
        },
        f"{c}/attachments/{{sha256}}": {"get": attachment},
        f"{w}/canned": {
            "get": _op(
                "The workspace's canned responses",
                {"200": _json({"type": "array", "items": _ref("Canned")})},
                read,
                params=ws,
            )
        },
        f"{w}/search": {"get": search},
        f"{w}/directory": {
            "get": _op(
                "The queues and agents to transfer to",
                {"200": _json(_ref("Directory"))},
                read,
                params=ws,
            )
        },
    }


def openapi_document() -> dict[str, Any]:
    w = "/api/v1/workspaces/{workspace}"
    ws = ("workspace",)
    read = (401, 403, 404, 503)
    act = (400, 401, 403, 404, 409, 413, 415, 503)
    open_contacts = _op(
        "Open contacts (an agent: its own), filtered",
        {"200": _json({"type": "array", "items": _ref("Contact")})},
        (400, *read),
        params=ws,
    )
    open_contacts["parameters"] += [_query(name, {"type": "string"}) for name in CONTACT_FILTERS]
    paths: dict[str, Any] = {
        "/healthz": {"get": {**_op("Liveness", {"200": _json(_OK)}, ()), "security": []}},
        "/api/v1/me": {"get": _op("The caller", {"200": _json(_ref("User"))}, (401,))},
        w: {"get": _op("The workspace", {"200": _json(_ref("Workspace"))}, read, params=ws)},
        f"{w}/queues": {
            "get": _op(
                "Live queue figures",
                {"200": _json({"type": "array", "items": _ref("Queue")})},
                read,
                params=ws,
            )
        },
        f"{w}/agents": {
            "get": _op(
                "Agents (an agent sees itself)",
                {"200": _json({"type": "array", "items": _ref("Agent")})},
                read,
                params=ws,
            )
        },
        f"{w}/agents/{{agent}}/status": {
            "put": _op(
                "Set an agent's status",
                {"200": _json(_ref("Agent"))},
                act,
                _body(
                    {
                        "status": {"enum": ["offline", "available", "break"]},
                        "reason": {"type": "string", "maxLength": MAX_REASON},
                    },
                    ["status"],
                ),
                (*ws, "agent"),
            )
        },
        f"{w}/offers": {
            "get": _op(
                "Open offers",
                {"200": _json({"type": "array", "items": _ref("Offer")})},
                read,
                params=ws,
            )
        },
        f"{w}/offers/{{offer}}/accept": {
            "post": _op("Accept an offer", {"200": _json(_OK)}, act, params=(*ws, "offer"))
        },
        f"{w}/offers/{{offer}}/reject": {
            "post": _op(
                "Reject an offer",
                {"200": _json(_OK)},
                act,
                _body({"reason": {"type": "string", "maxLength": MAX_REASON}}),
                (*ws, "offer"),
            )
        },
        f"{w}/contacts": {"get": open_contacts},
        f"{w}/contacts/{{contact}}": {
            "get": _op(
                "A contact, its messages and the customer's history",
                {"200": _json(_ref("Contact"))},
                read,
                params=(*ws, "contact"),
            )
        },
        f"{w}/contacts/{{contact}}/messages": {
            "post": _op(
                "Reply to the customer",
                {"202": _json({"type": "object", "properties": {"id": {"type": "string"}}})},
                act,
                _body({"text": {"type": "string", "minLength": 1}}, ["text"]),
                (*ws, "contact"),
            )
        },
        f"{w}/contacts/{{contact}}/end": {
            "post": _op("End the conversation", {"200": _json(_OK)}, act, params=(*ws, "contact"))
        },
        f"{w}/contacts/{{contact}}/close": {
            "post": _op(
                "Close after wrap-up",
                {"200": _json(_OK)},
                act,
                _body({"disposition": {"type": "string", "maxLength": MAX_DISPOSITION}}),
                (*ws, "contact"),
            )
        },
        f"{w}/contacts/{{contact}}/transfer": {
            "post": _op(
                "Transfer to a queue or an agent (a waiting contact: supervisors only)",
                {"200": _json(_TRANSFERRED)},
                act,
                _body({"queue": {"type": "string"}, "agent": {"type": "string"}}),
                (*ws, "contact"),
            )
        },
        f"{w}/reports/summary": {
            "get": _op("Figures since start", {"200": _json(_ref("Summary"))}, read, params=ws)
        },
        "/metrics": {
            "get": _op(
                "The caller's workspace's figures for Prometheus (a supervisor or admin)",
                {
                    "200": {
                        "description": "Prometheus' text exposition format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
                (401, 403, 503),
            )
        },
    }
    paths.update(_desk_paths(w))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Trunkline",
            "version": "1",
            "description": "Contact routing: agents, supervisors, contacts. See docs/web-api.md.",
        },
        "paths": paths,
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "trunkline_session"},
            },
        },
        "security": [{"token": []}, {"session": []}],
    }
