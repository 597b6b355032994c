"""Checks a schema cannot make: the API key, the webhook, the folders on disk, overlapping statuses.

Each check returns problems ``(key_path, message)`` like ``validate`` does, and
looks only at settings whose type the schema already accepted (the caller
passes ``usable(key_path)``). The decisions that need no disk
(``filesystem_problems``, ``overlap_problems``) are pure functions of their
inputs.
"""

import ipaddress
import os
import pwd
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from .schema import LISTEN_EXAMPLE

API_KEY_VARIABLE = "SENSETASK_API_KEY"
WEBHOOK_SECRET_VARIABLE = "SENSETASK_WEBHOOK_SECRET"

NO_KEY = (
    "no API key configured; pass it as the systemd credential api-key (LoadCredential=), or put "
    "the key in a file readable only by the daemon and set api.key_file (or set SENSETASK_API_KEY); "
    "to check a configuration that uses the credential outside the service, run: systemd-run --pipe "
    "--wait -p LoadCredential=api-key:/etc/sensetask-watch/api-key sensetask-watch check-config"
)


def resolve_path(value, base_dir):
    """``value`` as an absolute, normalised path; relative ones start at ``base_dir``."""
    return Path(os.path.normpath(Path(base_dir) / value))


def _user():
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


# --- API key and webhook secret ---------------------------------------------


@dataclass(frozen=True)
class SecretSetting:
    """Where one secret can come from: a file, the value itself, or an environment variable."""

    section: str  # "api"
    file_key: str  # "key_file"
    inline_key: str  # "key"
    variable: str  # "SENSETASK_API_KEY"
    what: str  # "API key", as in "put the API key in it"
    short: str  # "key", as in "keep the key only in the key file"
    file_noun: str  # "key file"
    credential: str  # "api-key": the systemd credential (LoadCredential=) holding it

    def named_in(self, section):
        """True if ``section`` names the secret's file or the secret itself."""
        return self.file_key in section or self.inline_key in section

    @property
    def file_setting(self):
        return f"{self.section}.{self.file_key}"

    @property
    def inline_setting(self):
        return f"{self.section}.{self.inline_key}"


API_KEY = SecretSetting("api", "key_file", "key", API_KEY_VARIABLE, "API key", "key", "key file", "api-key")
WEBHOOK_SECRET = SecretSetting(
    "webhook",
    "secret_file",
    "secret",
    WEBHOOK_SECRET_VARIABLE,
    "webhook secret",
    "secret",
    "secret file",
    "webhook-secret",
)


def api_key(api, base_dir, environ, usable):
    """Return ``(key, key_source, problems)`` for the ``api`` section.

    api.key_file wins over api.key (both set is a problem), and the environment
    variable is used only when neither is set. No key anywhere is a problem.
    """
    key, source, problems = secret(API_KEY, api, base_dir, environ, usable)
    if not API_KEY.named_in(api) and source is None:
        problems.append((("api", "key_file"), NO_KEY))
    return key, source, problems


def secret(setting, section, base_dir, environ, usable):
    """Return ``(value, source, problems)`` for the secret ``setting`` in ``section``.

    The file wins over the value itself (both set is a problem), and the
    environment variable is used only when neither is set. When none of the
    three holds anything, value and source are None and there is no problem:
    whether that is one is the caller's decision.
    """
    problems = []
    value = source = None
    file_path = (setting.section, setting.file_key)
    inline_path = (setting.section, setting.inline_key)
    if setting.inline_key in section and setting.file_key in section:
        problems.append(
            (
                inline_path,
                f"{setting.inline_setting} and {setting.file_setting} are both set; remove "
                f"{setting.inline_setting} and keep the {setting.short} only in the {setting.file_noun}",
            )
        )
    if setting.file_key in section and usable(file_path):
        path = resolve_path(section[setting.file_key], base_dir)
        value, message = read_key_file(path, setting)
        if message:
            problems.append((file_path, message))
        source = f"{setting.file_setting} {path}"
    elif setting.inline_key in section and usable(inline_path):
        value, source = section[setting.inline_key].strip(), setting.inline_setting
        message = _key_text_problem(value, setting.inline_setting, setting)
        if message:
            problems.append((inline_path, message))
    elif not setting.named_in(section) and _credential(environ, setting) is not None:
        # systemd's LoadCredential=: the preferred way under the packaged unit.
        path = _credential(environ, setting)
        value, message = read_key_file(path, setting)
        if message:
            problems.append((file_path, message))
        source = f"systemd credential {setting.credential}"
    elif not setting.named_in(section):
        value = environ.get(setting.variable, "").strip()
        if value:
            source = f"environment {setting.variable}"
            message = _key_text_problem(
                value, f"the environment variable {setting.variable}", setting
            )
            if message:
                problems.append((file_path, message))
        else:
            value = None
    return value, source, problems


def _credential(environ, setting):
    """The credential file systemd passed for ``setting``, if there is one."""
    directory = environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        return None
    path = Path(directory) / setting.credential
    return path if path.exists() else None


def read_key_file(path, setting=API_KEY):
    """Return ``(value, problem_message_or_None)`` for the key (or secret) file at ``path``."""
    noun = setting.file_noun
    try:
        with open(path, encoding="utf-8") as file:
            key = file.read().strip()
    except FileNotFoundError:
        return (
            None,
            f"{noun} {path} does not exist; create it (readable only by the daemon) or correct "
            f"{setting.file_setting}",
        )
    except IsADirectoryError:
        return (
            None,
            f"{noun} {path} is a directory; point {setting.file_setting} at the file holding "
            f"the {setting.short}",
        )
    except PermissionError:
        return None, (
            f"{noun} {path} is not readable by user {_user()}; make it readable by "
            f"the daemon's user only (chown and chmod 600)"
        )
    except UnicodeDecodeError:
        return None, f"{noun} {path} is not text; put the {setting.what} in it as plain text"
    except OSError as error:
        return (
            None,
            f"cannot read {noun} {path} ({error.strerror}); check the path and its permissions",
        )
    if not key:
        return None, f"{noun} {path} is empty; put the {setting.what} in it"
    return key, _key_text_problem(key, f"{noun} {path}", setting)


def _key_text_problem(key, where, setting=API_KEY):
    if not key:
        return f"{where} is blank; fill in the {setting.what}"
    if any(character.isspace() for character in key):
        return f"{where} holds more than one word or line; leave only the {setting.what} in it"
    return None


# --- webhook -----------------------------------------------------------------

_HOSTNAME_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def parse_listen(text):
    """Return ``(host, port, None)`` for "HOST:PORT", else ``(None, None, message)``.

    HOST is an IPv4 address, a host name, or an IPv6 address in brackets
    ("[::1]:8787", host "::1"); PORT is 1..65535.
    """
    example = f"e.g. {LISTEN_EXAMPLE}"
    wrong = f"{text!r} is not HOST:PORT; write the address and port to listen on, {example}"
    if any(character.isspace() for character in text):
        return None, None, f"{text!r} holds a space; write HOST:PORT without spaces, {example}"
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            return None, None, f"{wrong} (an IPv6 address goes in brackets: [::1]:8787)"
        port_text = rest[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return None, None, (
                f"{host!r} in {text!r} is not an IPv6 address; write [IPv6]:PORT such as "
                f"[::1]:8787, or HOST:PORT, {example}"
            )
    else:
        host, colon, port_text = text.rpartition(":")
        if not colon:
            hint = " (the host is missing)" if text.isdigit() else ""
            return None, None, f"{wrong}{hint}"
        if ":" in host:
            return None, None, f"{wrong} (an IPv6 address goes in brackets: [::1]:8787)"
        if not host:
            return None, None, (
                f"{wrong} (the host is missing; 0.0.0.0 listens on every IPv4 address)"
            )
        if not _valid_host(host):
            return None, None, (
                f"{host!r} in {text!r} is neither an IPv4 address nor a host name; write the "
                f"address and port to listen on, {example}"
            )
    if not port_text:
        return None, None, f"{wrong} (the port is missing)"
    if not (port_text.isascii() and port_text.isdigit()):
        return None, None, (
            f"port {port_text!r} in {text!r} is not a number; write HOST:PORT with a port "
            f"from 1 to 65535, {example}"
        )
    port = int(port_text)
    if not 1 <= port <= 65535:
        return None, None, (
            f"port {port} in {text!r} is out of range; use a port from 1 to 65535, {example}"
        )
    return host, port, None


def _valid_host(host):
    if all(character.isdigit() or character == "." for character in host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
        return True
    name = host[:-1] if host.endswith(".") else host
    return len(name) <= 253 and all(_HOSTNAME_LABEL.match(label) for label in name.split("."))


def is_loopback(host):
    """True for "localhost" and loopback addresses (127.0.0.0/8, ::1).

    Wildcards (0.0.0.0, ::) and every other address or name count as reachable from elsewhere.
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def webhook(section, base_dir, environ, usable):
    """Return ``(host, port, secret, secret_source, problems)`` for the ``webhook`` section.

    webhook.path and webhook.health_path must differ. Without ``listen`` there
    is no receiver: the secret settings are allowed but neither read nor
    checked. With it, a receiver reachable from beyond this machine needs a
    secret.
    """
    problems = []
    host = port = None
    if (
        usable(("webhook", "path"))
        and usable(("webhook", "health_path"))
        and section["path"] == section["health_path"]
    ):
        problems.append(
            (
                ("webhook", "health_path"),
                f"webhook.health_path is the same as webhook.path ({section['path']}); give the "
                f"health check a path of its own",
            )
        )
    if "listen" not in section:
        return host, port, None, None, problems
    if usable(("webhook", "listen")):
        host, port, message = parse_listen(section["listen"])
        if message:
            problems.append((("webhook", "listen"), message))
    value, source, secret_problems = secret(WEBHOOK_SECRET, section, base_dir, environ, usable)
    problems += secret_problems
    no_secret = source is None and not WEBHOOK_SECRET.named_in(section)
    if host is not None and no_secret and not is_loopback(host):
        problems.append(
            (
                ("webhook", "secret_file"),
                f"the webhook receiver listens on {section['listen']}, beyond this machine, without "
                f"a secret; set webhook.secret_file to a file holding the secret configured for "
                f"the endpoint in SenseTask (Settings > Developers > Webhooks), or set "
                f"{WEBHOOK_SECRET_VARIABLE} (or listen on 127.0.0.1 behind a reverse proxy)",
            )
        )
    return host, port, value, source, problems


# --- folders ---------------------------------------------------------------

_READ_WRITE = os.R_OK | os.W_OK | os.X_OK
_WRITE = os.W_OK | os.X_OK


def folder_paths(entry, base_dir, usable, index):
    """The resolved paths of one folder entry whose types are right, by role.

    processing defaults to ``<inbox>/.sensetask-processing``.
    """
    paths = {}
    for role in ("inbox", "done", "failed", "processing"):
        if role in entry and usable(("folders", index, role)):
            paths[role] = resolve_path(entry[role], base_dir)
    if "processing" not in entry and "inbox" in paths:
        paths["processing"] = paths["inbox"] / ".sensetask-processing"
    return paths


def folder_problems(index, paths):
    """Problems of one folder entry on disk: existence, access, one filesystem, no overlap."""
    prefix = ("folders", index)
    problems = []
    devices = {}
    for role, access, wording in (
        ("inbox", _READ_WRITE, "readable and writable"),
        ("done", _WRITE, "writable"),
        ("failed", _WRITE, "writable"),
    ):
        if role in paths:
            device, message = _check_folder(paths[role], access, wording)
            if message:
                problems.append((prefix + (role,), message))
            elif device is not None:
                devices[role] = (paths[role], device)
    if "processing" in paths:
        device, message = _check_processing(paths["processing"], paths.get("inbox"))
        if message:
            problems.append((prefix + ("processing",), message))
        elif device is not None:
            devices["processing"] = (paths["processing"], device)
    problems.extend(filesystem_problems(prefix, devices))
    real = {role: os.path.realpath(path) for role, path in paths.items()}
    problems.extend(overlap_problems(prefix, real))
    return problems


def _check_folder(path, access, wording):
    """Return ``(st_dev, None)`` for a usable folder, else ``(None, message)``."""
    try:
        status = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return (
            None,
            f"folder {path} does not exist; create it (mkdir -p {path}) or correct the path",
        )
    except OSError as error:
        return (
            None,
            f"cannot look at folder {path} ({error.strerror}); check the permissions of its parents",
        )
    if not stat.S_ISDIR(status.st_mode):
        return None, f"{path} is not a folder; point this setting at a directory"
    if not os.access(path, access):
        user = _user()
        return (
            None,
            f"folder {path} is not {wording} by user {user}; give {user} that access (e.g. chown {user} {path})",
        )
    return status.st_dev, None


def _check_processing(path, inbox):
    """The processing folder may be missing (the daemon creates it) if its parent is usable."""
    if os.path.lexists(path):
        return _check_folder(path, _READ_WRITE, "readable and writable")
    parent = path.parent
    if inbox is not None and parent == inbox:
        return None, None  # the inbox checks cover its parent, and it shares the inbox's filesystem
    device, message = _check_folder(parent, _WRITE, "writable")
    if message:
        return None, f"cannot create processing folder {path}: {message}"
    return device, None


def filesystem_problems(prefix, devices):
    """Problems for folders whose ``st_dev`` differs from the inbox's.

    ``devices`` maps a role ("inbox", "done", ...) to ``(path, st_dev)``; a
    missing inbox means there is nothing to compare with. Files travel between
    these folders by rename, which works only within one filesystem.
    """
    if "inbox" not in devices:
        return []
    inbox, inbox_device = devices["inbox"]
    return [
        (
            prefix + (role,),
            f"folder {path} is on a different filesystem than the inbox {inbox}; files are "
            f"moved between them by renaming, so put both on the same filesystem",
        )
        for role, (path, device) in devices.items()
        if role != "inbox" and device != inbox_device
    ]


def overlap_problems(prefix, real):
    """Problems when one entry's folders coincide; ``real`` maps role to real path.

    done and failed may share a folder; nothing may share the inbox, and the
    processing folder must be its own.
    """
    problems = []
    for role in ("done", "failed", "processing"):
        if role in real and real[role] == real.get("inbox"):
            problems.append(
                (
                    prefix + (role,),
                    f"the {role} folder is the inbox itself ({real[role]}); use a separate folder",
                )
            )
    for role in ("done", "failed"):
        if role in real and real[role] == real.get("processing") != real.get("inbox"):
            problems.append(
                (
                    prefix + ("processing",),
                    f"the processing folder is the {role} folder ({real[role]}); use a separate folder",
                )
            )
    return problems


def cross_folder_problems(entries):
    """Problems between folder entries: shared names, and inboxes used twice.

    ``entries`` is a list of ``(index, name, real)`` where ``real`` maps role to
    real path. An inbox that is another entry's done, failed or processing
    folder would upload finished files again.
    """
    problems = []
    for position, (index, name, real) in enumerate(entries):
        for other_index, other_name, other_real in entries[:position]:
            if name is not None and name == other_name:
                problems.append(
                    (
                        ("folders", index, "name"),
                        f"name {name!r} is already used by folders[{other_index}]; give each folder a "
                        f"unique name (it defaults to the inbox's folder name)",
                    )
                )
            if "inbox" in real and real["inbox"] == other_real.get("inbox"):
                problems.append(
                    (
                        ("folders", index, "inbox"),
                        f"inbox {real['inbox']} is also the inbox of folders[{other_index}]; "
                        f"give each folder entry its own inbox",
                    )
                )
        for other_index, _, other_real in entries:
            if other_index == index or "inbox" not in real:
                continue
            for role in ("done", "failed", "processing"):
                if real["inbox"] == other_real.get(role):
                    problems.append(
                        (
                            ("folders", index, "inbox"),
                            f"inbox {real['inbox']} is also the {role} folder of folders[{other_index}], "
                            f"so its files would be uploaded again; use a separate folder",
                        )
                    )
    return problems


# --- confirm ---------------------------------------------------------------


def status_problems(confirm, usable):
    """A status may send a file to done/ or to failed/, not both."""
    if not (usable(("confirm", "processed_statuses")) and usable(("confirm", "failed_statuses"))):
        return []
    both = [
        status for status in confirm["failed_statuses"] if status in confirm["processed_statuses"]
    ]
    return [
        (
            ("confirm", "failed_statuses"),
            f"status {status!r} is also listed in confirm.processed_statuses; keep it in only one of the two lists",
        )
        for status in both
    ]


# --- state_dir -------------------------------------------------------------


def state_dir_problems(path):
    """state_dir may be missing (the daemon creates it); if it exists it must be a writable folder."""
    if not os.path.lexists(path):
        return []
    if not os.path.isdir(path):
        return [(("state_dir",), f"{path} is not a folder; point state_dir at a directory")]
    if not os.access(path, _READ_WRITE):
        user = _user()
        return [
            (
                ("state_dir",),
                f"folder {path} is not writable by user {user}; give {user} write access",
            )
        ]
    return []
