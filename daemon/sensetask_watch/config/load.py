"""Load the configuration: read YAML -> normalize -> validate -> check -> build.

Every problem found is collected and reported at once in one ``ConfigError``,
one line each, as "At 'folders[0].inbox': message", sorted by key path. Only a
file that cannot be read or parsed stops the search early, since nothing else
can be checked then.
"""

import copy
import os
from pathlib import Path

import yaml

from . import checks
from .model import (
    ApiSettings,
    BatchSettings,
    Config,
    ConfirmSettings,
    FolderSettings,
    WatchSettings,
    WebhookSettings,
)
from .schema import SCHEMA
from .validate import schema_problems

DEFAULT_CONFIG_PATH = "/etc/sensetask-watch/config.yaml"

TOP_LEVEL = "(top level)"


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` lists every reason, one line each."""

    def __init__(self, path, problems):
        self.path = Path(path)
        self.problems = list(problems)
        super().__init__(
            "\n".join(
                [
                    f"Configuration file {self.path} has {len(self.problems)} problem(s):",
                    *self.problems,
                ]
            )
        )


SECRET_PATHS = {("api", "key_file"), ("api", "key"), ("webhook", "secret_file"), ("webhook", "secret")}


def load_config(path=DEFAULT_CONFIG_PATH, environ=os.environ, secrets=True):
    """Load, check and return the ``Config`` in the YAML file at ``path``.

    With ``secrets=False`` (for ``status``, which never calls the API) problems
    with the API key and the webhook secret are not reported: outside the
    service, a key passed as a systemd credential cannot be seen.

    ``environ`` supplies SENSETASK_API_KEY when the file names no key, and
    SENSETASK_WEBHOOK_SECRET when the webhook receiver is on and the file names
    no secret.
    Raises ``ConfigError`` listing every problem found.
    """
    path = Path(os.path.abspath(path))
    data = normalize(_read(path))
    base_dir = path.parent

    problems = schema_problems(data)
    reported = {key_path for key_path, _ in problems}

    def usable(key_path):
        """True if nothing was reported at key_path or any of its parents."""
        return not any(key_path[:length] in reported for length in range(len(key_path) + 1))

    key = key_source = None
    if usable(("api",)):
        key, key_source, key_problems = checks.api_key(data["api"], base_dir, environ, usable)
        problems += key_problems

    folders = []  # (index, name, paths) of entries that are mappings
    if usable(("folders",)):
        for index, entry in enumerate(data["folders"]):
            if not usable(("folders", index)):
                continue
            paths = checks.folder_paths(entry, base_dir, usable, index)
            problems += checks.folder_problems(index, paths)
            folders.append((index, _folder_name(entry, paths, usable, index), paths))
        problems += checks.cross_folder_problems(
            [
                (index, name, {role: os.path.realpath(p) for role, p in paths.items()})
                for index, name, paths in folders
            ]
        )

    webhook = (None, None, None, None)  # host, port, secret, secret_source
    if usable(("webhook",)):
        *webhook, webhook_problems = checks.webhook(data["webhook"], base_dir, environ, usable)
        problems += webhook_problems

    if usable(("confirm",)):
        problems += checks.status_problems(data["confirm"], usable)

    if not secrets:
        problems = [(key_path, message) for key_path, message in problems
                    if tuple(key_path) not in SECRET_PATHS]

    if usable(("state_dir",)):
        problems += checks.state_dir_problems(checks.resolve_path(data["state_dir"], base_dir))

    if problems:
        raise ConfigError(path, _format(problems))
    return _build(data, path, key, key_source, folders, webhook)


def _read(path):
    """The parsed YAML document at ``path``; a missing document counts as empty."""
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except FileNotFoundError:
        raise ConfigError(
            path,
            [
                f"configuration file {path} does not exist; create it (see the example "
                f"config.yaml shipped with sensetask-watch) or give the right path"
            ],
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(
            path, [f"{_at(())}the file is not UTF-8 text; save it as UTF-8"]
        ) from None
    except OSError as error:
        raise ConfigError(
            path,
            [
                f"cannot read configuration file {path} ({error.strerror}); check the path and its permissions"
            ],
        ) from None

    try:
        data = yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader
    except yaml.MarkedYAMLError as error:
        raise ConfigError(path, [_at(()) + _yaml_message(error)]) from None
    except yaml.YAMLError as error:
        raise ConfigError(
            path, [f"{_at(())}the file is not valid YAML ({error}); fix the syntax"]
        ) from None

    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            path,
            [
                f"{_at(())}expected a mapping of settings (api:, folders:, ...) but the file holds "
                f"a {type(data).__name__}; write one 'name: value' setting per line"
            ],
        )
    return data


class _DuplicateKeyError(yaml.constructor.ConstructorError):
    pass


class _Loader(yaml.SafeLoader):
    """A SafeLoader that refuses a key given twice in one mapping.

    Plain YAML keeps the last one silently, which would e.g. drop a whole
    ``folders:`` list written twice.
    """

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value if isinstance(node, yaml.MappingNode) else ():
            if (
                not isinstance(key_node, yaml.ScalarNode)
                or key_node.tag == "tag:yaml.org,2002:merge"
            ):
                continue
            key = self.construct_object(key_node)
            if key in seen:
                raise _DuplicateKeyError(
                    None,
                    None,
                    f"the key {key!r} appears twice (first at line {seen[key].line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _yaml_message(error):
    mark = error.problem_mark or error.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    if isinstance(error, _DuplicateKeyError):
        return f"YAML error{where}: {error.problem}; keep only one of them"
    problem = error.problem or error.context or "unreadable YAML"
    return f"YAML syntax error{where}: {problem}; fix the indentation, colons or quotes there"


def normalize(data):
    """Fill in the schema's defaults; a setting left empty (null) also gets its default.

    Only mappings and lists are walked, so values of the wrong type are left for
    the schema to report.
    """
    return _fill(data, SCHEMA)


def _fill(value, schema):
    if isinstance(value, dict) and "properties" in schema:
        value = dict(value)
        for name, subschema in schema["properties"].items():
            if value.get(name) is None and "default" in subschema:
                value[name] = copy.deepcopy(subschema["default"])
            if name in value:
                value[name] = _fill(value[name], subschema)
        return value
    if isinstance(value, list) and "items" in schema:
        return [_fill(item, schema["items"]) for item in value]
    return value


def _folder_name(entry, paths, usable, index):
    if "name" in entry:
        return entry["name"] if usable(("folders", index, "name")) else None
    if "inbox" in paths:
        return paths["inbox"].name or str(paths["inbox"])
    return None


def _build(data, path, key, key_source, folders, webhook):
    api, watch, batch, confirm = data["api"], data["watch"], data["batch"], data["confirm"]
    hook = data["webhook"]
    host, port, secret, secret_source = webhook
    return Config(
        api=ApiSettings(
            url=api["url"].rstrip("/"),
            key=key,
            key_source=key_source,
            timeout_seconds=float(api["timeout_seconds"]),
            connect_timeout_seconds=float(api["connect_timeout_seconds"]),
            parallel_uploads=int(api["parallel_uploads"]),
            on_ambiguous_submit=api["on_ambiguous_submit"],
        ),
        folders=tuple(
            FolderSettings(
                name=name,
                inbox=paths["inbox"],
                done=paths["done"],
                failed=paths["failed"],
                processing=paths["processing"],
                parent_node=data["folders"][index]["parent_node"],
            )
            for index, name, paths in folders
        ),
        watch=WatchSettings(
            mode=watch["mode"],
            poll_interval_seconds=float(watch["poll_interval_seconds"]),
            rescan_interval_seconds=float(watch["rescan_interval_seconds"]),
            settle_seconds=float(watch["settle_seconds"]),
            ignore=tuple(watch["ignore"]),
        ),
        batch=BatchSettings(
            quiet_seconds=float(batch["quiet_seconds"]),
            max_files=int(batch["max_files"]),
            max_wait_seconds=float(batch["max_wait_seconds"]),
        ),
        confirm=ConfirmSettings(
            poll_interval_seconds=float(confirm["poll_interval_seconds"]),
            give_up_after_seconds=float(confirm["give_up_after_seconds"]),
            processed_statuses=tuple(confirm["processed_statuses"]),
            failed_statuses=tuple(confirm["failed_statuses"]),
            safety_poll_interval_seconds=float(confirm["safety_poll_interval_seconds"]),
        ),
        state_dir=checks.resolve_path(data["state_dir"], path.parent),
        log_level=data["log_level"],
        source=path,
        stop_timeout_seconds=float(data["stop_timeout_seconds"]),
        webhook=WebhookSettings(
            listen=hook.get("listen"),
            host=host,
            port=port,
            path=hook["path"],
            health_path=hook["health_path"],
            secret=secret,
            secret_source=secret_source,
            max_body_bytes=int(hook["max_body_bytes"]),
        ),
    )


def format_key_path(key_path):
    """("folders", 0, "inbox") -> "folders[0].inbox"; () -> "(top level)"."""
    text = ""
    for element in key_path:
        text += (
            f"[{element}]"
            if isinstance(element, int)
            else (f".{element}" if text else str(element))
        )
    return text or TOP_LEVEL


def _at(key_path):
    return f"At '{format_key_path(key_path)}': "


def _format(problems):
    """One line per distinct problem, sorted by key path (list indexes numerically)."""

    def order(problem):
        return [
            (1, element) if isinstance(element, int) else (0, str(element))
            for element in problem[0]
        ]

    lines = []
    for key_path, message in sorted(problems, key=order):
        line = _at(key_path) + message
        if line not in lines:
            lines.append(line)
    return lines
