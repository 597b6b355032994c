"""Checks a schema cannot make: the API key, the folders on disk, overlapping statuses.

Each check returns problems ``(key_path, message)`` like ``validate`` does, and
looks only at settings whose type the schema already accepted (the caller
passes ``usable(key_path)``). The decisions that need no disk
(``filesystem_problems``, ``overlap_problems``) are pure functions of their
inputs.
"""

import os
import pwd
import stat
from pathlib import Path

API_KEY_VARIABLE = "SENSETASK_API_KEY"

NO_KEY = (
    "no API key configured; put the key in a file readable only by the daemon "
    "and set api.key_file (or set SENSETASK_API_KEY)"
)


def resolve_path(value, base_dir):
    """``value`` as an absolute, normalised path; relative ones start at ``base_dir``."""
    return Path(os.path.normpath(Path(base_dir) / value))


def _user():
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


# --- API key ---------------------------------------------------------------


def api_key(api, base_dir, environ, usable):
    """Return ``(key, key_source, problems)`` for the ``api`` section.

    api.key_file wins over api.key (both set is a problem), and the environment
    variable is used only when neither is set.
    """
    problems = []
    key = source = None
    if "key" in api and "key_file" in api:
        problems.append(
            (
                ("api", "key"),
                "api.key and api.key_file are both set; remove api.key and keep the key only in the key file",
            )
        )
    if "key_file" in api and usable(("api", "key_file")):
        path = resolve_path(api["key_file"], base_dir)
        key, message = read_key_file(path)
        if message:
            problems.append((("api", "key_file"), message))
        source = f"api.key_file {path}"
    elif "key" in api and usable(("api", "key")):
        key, source = api["key"].strip(), "api.key"
        message = _key_text_problem(key, "api.key")
        if message:
            problems.append((("api", "key"), message))
    elif "key" not in api and "key_file" not in api:
        key, source = environ.get(API_KEY_VARIABLE, "").strip(), f"environment {API_KEY_VARIABLE}"
        if not key:
            problems.append((("api", "key_file"), NO_KEY))
        else:
            message = _key_text_problem(key, f"the environment variable {API_KEY_VARIABLE}")
            if message:
                problems.append((("api", "key_file"), message))
    return key, source, problems


def read_key_file(path):
    """Return ``(key, problem_message_or_None)`` for the key file at ``path``."""
    try:
        with open(path, encoding="utf-8") as file:
            key = file.read().strip()
    except FileNotFoundError:
        return (
            None,
            f"key file {path} does not exist; create it (readable only by the daemon) or correct api.key_file",
        )
    except IsADirectoryError:
        return (
            None,
            f"key file {path} is a directory; point api.key_file at the file holding the key",
        )
    except PermissionError:
        return None, (
            f"key file {path} is not readable by user {_user()}; make it readable by "
            f"the daemon's user only (chown and chmod 600)"
        )
    except UnicodeDecodeError:
        return None, f"key file {path} is not text; put the API key in it as plain text"
    except OSError as error:
        return (
            None,
            f"cannot read key file {path} ({error.strerror}); check the path and its permissions",
        )
    if not key:
        return None, f"key file {path} is empty; put the API key in it"
    return key, _key_text_problem(key, f"key file {path}")


def _key_text_problem(key, where):
    if not key:
        return f"{where} is blank; fill in the API key"
    if any(character.isspace() for character in key):
        return f"{where} holds more than one word or line; leave only the API key in it"
    return None


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
