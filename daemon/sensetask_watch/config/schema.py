"""The configuration schema (JSON Schema draft 7), with defaults and descriptions.

This dict is the single source of truth for the layout of config.yaml, its
defaults and its documentation. jsonschema only *checks* it; the loader fills
in the ``default`` values itself (see ``load.normalize``), and the dataclasses
in ``model`` take their defaults from here through ``default_for``.

Checks a schema cannot express (API key and webhook secret sources, the
webhook's listen address, folders on disk, one filesystem per folder entry,
unique inboxes) live in ``checks``.
"""

import copy

DEFAULT_API_URL = "https://api.sensetask.com/api/v1"

# Document statuses that mean "SenseTask has the document and is done with
# our part of it", as listed in the SenseTask integration guide.
DEFAULT_PROCESSED_STATUSES = [
    "processed",
    "waiting_for_review",
    "postponed",
    "in_review",
    "review_complete",
    "exported",
    "edited",
    "in_edit",
]
DEFAULT_FAILED_STATUSES = ["failed", "error"]

LISTEN_EXAMPLE = "127.0.0.1:8787"

_SECONDS = {"type": "number", "exclusiveMinimum": 0}


def _seconds(default, description):
    return dict(_SECONDS, default=float(default), description=description)


def _status_list(default, description, min_items):
    return {
        "type": "array",
        "items": {"type": "string", "minLength": 1},
        "minItems": min_items,
        "default": default,
        "description": description,
    }


SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "sensetask-watch configuration",
    "type": "object",
    "additionalProperties": False,
    "required": ["folders"],
    "properties": {
        "api": {
            "type": "object",
            "additionalProperties": False,
            "default": {},
            "description": "How to reach the SenseTask API.",
            "properties": {
                "url": {
                    "type": "string",
                    "pattern": r"^https?://[^/\s]+",
                    "x-pattern-hint": "write an http(s) URL such as " + DEFAULT_API_URL,
                    "default": DEFAULT_API_URL,
                    "description": "Base URL of the SenseTask API, without a trailing slash.",
                },
                "key_file": {
                    "type": "string",
                    "minLength": 1,
                    "description": (
                        "File holding the API key (readable only by the daemon). "
                        "Preferred over api.key. If neither is set, the environment "
                        "variable SENSETASK_API_KEY is used."
                    ),
                },
                "key": {
                    "type": "string",
                    "minLength": 1,
                    "description": "The API key itself. Prefer api.key_file.",
                },
                "timeout_seconds": _seconds(30, "Read timeout of one API request."),
                "connect_timeout_seconds": _seconds(10, "Connect timeout of one API request."),
                "parallel_uploads": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 32,
                    "default": 4,
                    "description": "How many files are uploaded at the same time.",
                },
                "on_ambiguous_submit": {
                    "type": "string",
                    "enum": ["resubmit", "fail"],
                    "default": "resubmit",
                    "description": (
                        "When the connection breaks after POST /jobs/ or POST /documents/batch/ "
                        "was sent, SenseTask may or may not have acted (it has no idempotency "
                        "key). resubmit: submit again, so no file is ever lost, and flag a "
                        "possible duplicate in the report; fail: move the files to failed/ "
                        "saying the outcome is unknown, so nothing is submitted twice."
                    ),
                },
            },
        },
        "folders": {
            "type": "array",
            "minItems": 1,
            "description": "The hot folders to watch, at least one.",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["inbox", "done", "failed", "parent_node"],
                "properties": {
                    "name": {
                        "type": "string",
                        "minLength": 1,
                        "description": (
                            "Name used in logs and reports; defaults to the inbox's "
                            "folder name. Must be unique."
                        ),
                    },
                    "inbox": {
                        "type": "string",
                        "minLength": 1,
                        "description": "Folder the scanner writes into, readable and writable by the daemon.",
                    },
                    "done": {
                        "type": "string",
                        "minLength": 1,
                        "description": "Where files go once SenseTask has processed them.",
                    },
                    "failed": {
                        "type": "string",
                        "minLength": 1,
                        "description": "Where files go when they could not be processed.",
                    },
                    "processing": {
                        "type": "string",
                        "minLength": 1,
                        "description": (
                            "Where claimed files wait while in flight; defaults to "
                            "<inbox>/.sensetask-processing and is created by the daemon."
                        ),
                    },
                    "parent_node": {
                        "type": "string",
                        "minLength": 1,
                        "description": "Id of the SenseTask folder node that documents are filed under.",
                    },
                },
            },
        },
        "watch": {
            "type": "object",
            "additionalProperties": False,
            "default": {},
            "description": "How new files are noticed.",
            "properties": {
                "mode": {
                    "type": "string",
                    "enum": ["auto", "inotify", "polling"],
                    "default": "auto",
                    "description": (
                        "auto uses inotify where it works and polling elsewhere "
                        "(e.g. network shares)."
                    ),
                },
                "poll_interval_seconds": _seconds(
                    5, "How often folders are listed in polling mode."
                ),
                "rescan_interval_seconds": _seconds(
                    60, "How often folders are listed anyway, to catch missed events."
                ),
                "settle_seconds": _seconds(
                    5, "How long a file's size and time must stay unchanged before it is taken."
                ),
                "ignore": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1},
                    "default": [],
                    "description": "Glob patterns of file names to leave alone, e.g. '*.xml'.",
                },
            },
        },
        "batch": {
            "type": "object",
            "additionalProperties": False,
            "default": {},
            "description": "How settled files are grouped into one SenseTask job.",
            "properties": {
                "quiet_seconds": _seconds(
                    10, "A batch closes when no new file arrived for this long."
                ),
                "max_files": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 1000,
                    "default": 20,
                    "description": "A batch closes when it holds this many files.",
                },
                "max_wait_seconds": _seconds(
                    120, "A batch closes at the latest this long after its first file."
                ),
            },
        },
        "confirm": {
            "type": "object",
            "additionalProperties": False,
            "default": {},
            "description": "How the outcome of a submitted document is learnt.",
            "properties": {
                "poll_interval_seconds": _seconds(10, "How often document statuses are polled."),
                "give_up_after_seconds": _seconds(
                    86400, "After this long without a final status, the file goes to failed/."
                ),
                "processed_statuses": _status_list(
                    DEFAULT_PROCESSED_STATUSES,
                    "Statuses that send a file to done/.",
                    min_items=1,
                ),
                "failed_statuses": _status_list(
                    DEFAULT_FAILED_STATUSES,
                    "Statuses that send a file to failed/.",
                    min_items=0,
                ),
                "safety_poll_interval_seconds": _seconds(
                    900,
                    "How often document statuses are polled while the webhook receiver is on; "
                    "the webhooks bring the news then, and polling is only a slow safety net.",
                ),
            },
        },
        "webhook": {
            "type": "object",
            "additionalProperties": False,
            "default": {},
            "description": (
                "The receiver of SenseTask's webhooks (an endpoint set up in the SenseTask web "
                "app under Settings > Developers > Webhooks). Absent or without listen: no "
                "receiver, and document statuses are polled."
            ),
            "properties": {
                "listen": {
                    "type": "string",
                    "minLength": 1,
                    "x-type-hint": f'write HOST:PORT in quotes, e.g. "{LISTEN_EXAMPLE}"',
                    "description": (
                        "Address and port the receiver listens on, as HOST:PORT, e.g. "
                        f"{LISTEN_EXAMPLE} or [::1]:8787 for IPv6. Without it there is no receiver."
                    ),
                },
                "path": {
                    "type": "string",
                    "pattern": r"^/[^\s?#]*$",
                    "x-pattern-hint": (
                        "write a URL path starting with '/' (no spaces, '?' or '#'), "
                        "such as /sensetask/webhook"
                    ),
                    "default": "/sensetask/webhook",
                    "description": "URL path SenseTask posts its webhooks to.",
                },
                "health_path": {
                    "type": "string",
                    "pattern": r"^/[^\s?#]*$",
                    "x-pattern-hint": (
                        "write a URL path starting with '/' (no spaces, '?' or '#'), such as /health"
                    ),
                    "default": "/health",
                    "description": "URL path answering health checks; must differ from webhook.path.",
                },
                "secret_file": {
                    "type": "string",
                    "minLength": 1,
                    "description": (
                        "File holding the webhook secret (readable only by the daemon): the "
                        "secret configured for the endpoint in SenseTask, which SenseTask sends "
                        "back in the x-sense-secret header. Preferred over webhook.secret. If "
                        "neither is set, the environment variable SENSETASK_WEBHOOK_SECRET is used."
                    ),
                },
                "secret": {
                    "type": "string",
                    "minLength": 1,
                    "description": "The webhook secret itself. Prefer webhook.secret_file.",
                },
                "max_body_bytes": {
                    "type": "integer",
                    "minimum": 1024,
                    "maximum": 67108864,
                    "default": 1048576,
                    "description": "Largest webhook request body accepted, in bytes.",
                },
            },
        },
        "state_dir": {
            "type": "string",
            "minLength": 1,
            "default": "/var/lib/sensetask-watch",
            "description": "Where the daemon keeps its journal; created if missing.",
        },
        "stop_timeout_seconds": _seconds(
            20,
            "On SIGTERM, how long running uploads may take to finish before the daemon "
            "exits anyway (the journal keeps their state; keep it below systemd's TimeoutStopSec).",
        ),
        "log_level": {
            "type": "string",
            "enum": ["debug", "info", "warning", "error"],
            "default": "info",
            "description": "Least severe log messages to write.",
        },
    },
}


def subschema(path):
    """The schema of the setting at ``path`` (names; list items as ``"[]"``)."""
    node = SCHEMA
    for name in path:
        node = node["items"] if name == "[]" else node["properties"][name]
    return node


def default_for(*path):
    """A fresh copy of the default of the setting at ``path``, e.g. ("watch", "mode")."""
    return copy.deepcopy(subschema(path)["default"])
