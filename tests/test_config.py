"""The configuration loader, on real files and folders in temporary directories."""

import json
import os
import tempfile
import textwrap
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft7Validator

from sensetask_watch.config import (
    DEFAULT_CONFIG_PATH,
    SCHEMA,
    BatchSettings,
    Config,
    ConfigError,
    ConfirmSettings,
    WatchSettings,
    WebhookSettings,
    effective_config,
    load_config,
)
from sensetask_watch.config.checks import filesystem_problems
from sensetask_watch.config.load import format_key_path

KEY = "st-secret-0123456789abcdef"
NO_KEY_PROBLEM = (
    "At 'api.key_file': no API key configured; pass it as the systemd credential api-key "
    "(LoadCredential=), or put the key in a file readable only by the daemon and set api.key_file "
    "(or set SENSETASK_API_KEY); to check a configuration that uses the credential outside the "
    "service, run: systemd-run --pipe --wait -p LoadCredential=api-key:/etc/sensetask-watch/api-key "
    "sensetask-watch check-config"
)


@pytest.fixture
def site(tmp_path):
    """A config directory with inbox/, done/ and failed/ folders and a key file."""
    for name in ("inbox", "done", "failed"):
        (tmp_path / name).mkdir()
    (tmp_path / "api-key").write_text(KEY + "\n")
    return tmp_path


def write(directory, text, name="config.yaml"):
    path = Path(directory) / name
    path.write_text(textwrap.dedent(text))
    return path


def minimal(site, folder=(), **sections):
    """A config.yaml with one folder entry (updated by ``folder``) and the given sections."""
    entry = {
        "inbox": f"{site}/inbox",
        "done": f"{site}/done",
        "failed": f"{site}/failed",
        "parent_node": "61b0eb9c9e2efc000964eacc",
    }
    entry.update(folder)
    data = {"api": {"key_file": "api-key"}, "folders": [entry]}
    data.update(sections)
    return write(site, yaml.safe_dump(data))


def problems(path, environ=None):
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={} if environ is None else environ)
    return caught.value.problems


# --- a good file -------------------------------------------------------------


def test_minimal_config_loads_with_every_default(site):
    config = load_config(minimal(site), environ={})

    assert isinstance(config, Config)
    assert config.source == site / "config.yaml"
    assert config.api.url == "https://api.sensetask.com/api/v1"
    assert config.api.key == KEY
    assert config.api.key_source == f"api.key_file {site / 'api-key'}"
    assert (config.api.timeout_seconds, config.api.connect_timeout_seconds) == (30, 10)
    assert config.api.parallel_uploads == 4
    (folder,) = config.folders
    assert folder.name == "inbox"
    assert (folder.inbox, folder.done, folder.failed) == (
        site / "inbox",
        site / "done",
        site / "failed",
    )
    assert folder.processing == site / "inbox" / ".sensetask-processing"
    assert folder.parent_node == "61b0eb9c9e2efc000964eacc"
    assert config.watch == WatchSettings(
        mode="auto",
        poll_interval_seconds=5,
        rescan_interval_seconds=60,
        settle_seconds=5,
        ignore=(),
    )
    assert config.batch == BatchSettings(quiet_seconds=10, max_files=20, max_wait_seconds=120)
    assert config.confirm == ConfirmSettings()
    assert config.confirm.processed_statuses == (
        "processed",
        "waiting_for_review",
        "postponed",
        "in_review",
        "review_complete",
        "exported",
        "edited",
        "in_edit",
    )
    assert config.confirm.failed_statuses == ("failed", "error")
    assert config.confirm.safety_poll_interval_seconds == 900
    assert config.webhook == WebhookSettings()
    assert not config.webhook.enabled
    assert (config.webhook.path, config.webhook.health_path) == ("/sensetask/webhook", "/health")
    assert config.webhook.max_body_bytes == 1048576
    assert config.webhook.secret is None
    assert config.state_dir == Path("/var/lib/sensetask-watch")
    assert config.log_level == "info"
    assert DEFAULT_CONFIG_PATH == "/etc/sensetask-watch/config.yaml"


def test_every_setting_can_be_given(site):
    path = minimal(
        site,
        api={
            "url": "http://localhost:8080/api/v1/",
            "timeout_seconds": 2.5,
            "connect_timeout_seconds": 1,
            "parallel_uploads": 32,
            "key_file": "api-key",
        },
        watch={
            "mode": "polling",
            "poll_interval_seconds": 1,
            "rescan_interval_seconds": 9,
            "settle_seconds": 0.5,
            "ignore": ["*.xml"],
        },
        batch={"quiet_seconds": 3, "max_files": 1000, "max_wait_seconds": 4},
        confirm={
            "poll_interval_seconds": 2,
            "give_up_after_seconds": 60,
            "processed_statuses": ["processed"],
            "failed_statuses": [],
            "safety_poll_interval_seconds": 300,
        },
        state_dir="state",
        log_level="debug",
    )
    config = load_config(path, environ={})

    assert config.api.url == "http://localhost:8080/api/v1"
    assert (
        config.api.timeout_seconds,
        config.api.connect_timeout_seconds,
        config.api.parallel_uploads,
    ) == (2.5, 1, 32)
    assert config.watch == WatchSettings("polling", 1, 9, 0.5, ("*.xml",))
    assert config.batch == BatchSettings(3, 1000, 4)
    assert config.confirm == ConfirmSettings(2, 60, ("processed",), (), 300)
    assert config.state_dir == site / "state"
    assert config.log_level == "debug"


def test_an_empty_section_means_all_its_defaults(site):
    config = load_config(minimal(site, watch=None, batch={}), environ={})

    assert config.watch == WatchSettings()
    assert config.batch == BatchSettings()


def test_relative_paths_start_at_the_config_files_folder(site, tmp_path_factory, monkeypatch):
    (site / "etc").mkdir()
    (site / "etc" / "key").write_text(KEY)
    path = write(
        site / "etc",
        """\
        api: {key_file: key}
        folders:
          - name: scans
            inbox: ../inbox
            done: ../done
            failed: ../failed
            processing: ../inbox/work
            parent_node: n1
        state_dir: state
        """,
    )
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))

    config = load_config(path, environ={})

    (folder,) = config.folders
    assert folder.name == "scans"
    assert (folder.inbox, folder.done, folder.failed) == (
        site / "inbox",
        site / "done",
        site / "failed",
    )
    assert folder.processing == site / "inbox" / "work"
    assert config.state_dir == site / "etc" / "state"
    assert config.api.key_source == f"api.key_file {site / 'etc' / 'key'}"


# --- every problem at once -------------------------------------------------


def test_every_problem_is_reported_at_once_with_its_key_path(site):
    path = write(
        site,
        f"""\
        colour: blue
        api:
          key_file: api-key
          timout_seconds: 3
        folders:
          - inbox: {site}/missing
            done: {site}/done
            failed: {site}/failed
            parent_node: 12345
        watch:
          mode: fast
        """,
    )

    found = problems(path)

    assert found == [
        "At 'api.timout_seconds': unknown key 'timout_seconds'; did you mean 'timeout_seconds'? (allowed here: "
        "connect_timeout_seconds, key, key_file, on_ambiguous_submit, parallel_uploads, timeout_seconds, url)",
        "At 'colour': unknown key 'colour'; remove it or correct the spelling (allowed here: "
        "api, batch, confirm, folders, log_level, state_dir, stop_timeout_seconds, watch, webhook)",
        f"At 'folders[0].inbox': folder {site}/missing does not exist; create it (mkdir -p {site}/missing) "
        "or correct the path",
        "At 'folders[0].parent_node': expected text but found the number 12345; put the value in quotes",
        "At 'watch.mode': 'fast' is not a valid choice; use one of: auto, inotify, polling",
    ]


def test_the_error_message_has_a_heading_and_one_line_per_problem(site):
    path = write(site, "folders: []\nlog_level: loud\n")

    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={"SENSETASK_API_KEY": KEY})

    assert str(caught.value).splitlines() == [
        f"Configuration file {path} has 2 problem(s):",
        "At 'folders': the list is empty; add at least one entry",
        "At 'log_level': 'loud' is not a valid choice; use one of: debug, info, warning, error",
    ]


def test_required_keys_are_reported_where_they_are_missing(site):
    path = write(site, "folders:\n  - inbox: inbox\n")

    found = problems(path, environ={"SENSETASK_API_KEY": KEY})

    assert [line.split(":")[0] for line in found] == [
        "At 'folders[0].done'",
        "At 'folders[0].failed'",
        "At 'folders[0].parent_node'",
    ]
    assert "required key 'done' is missing" in found[0]


def test_an_empty_file_asks_for_folders(site):
    found = problems(write(site, ""), environ={"SENSETASK_API_KEY": KEY})

    assert found == [
        "At 'folders': required key 'folders' is missing; add it (the hot folders to watch, at least one)"
    ]


@pytest.mark.parametrize(
    "sections, expected",
    [
        (
            {"api": {"key_file": "api-key", "parallel_uploads": 0}},
            "At 'api.parallel_uploads': 0 is too small; use 1 or more",
        ),
        (
            {"api": {"key_file": "api-key", "parallel_uploads": 33}},
            "At 'api.parallel_uploads': 33 is too large; use 32 or less",
        ),
        (
            {"api": {"key_file": "api-key", "parallel_uploads": 2.5}},
            "At 'api.parallel_uploads': expected a whole number but found the number 2.5",
        ),
        (
            {"api": {"key_file": "api-key", "url": "ftp://example.com"}},
            "At 'api.url': 'ftp://example.com' is not valid here; write an http(s) URL",
        ),
        (
            {"api": {"key_file": "api-key", "url": "https://"}},
            "At 'api.url': 'https://' is not valid here",
        ),
        (
            {"batch": {"max_files": 1001}},
            "At 'batch.max_files': 1001 is too large; use 1000 or less",
        ),
        (
            {"batch": {"quiet_seconds": 0}},
            "At 'batch.quiet_seconds': 0 is too small; use a number greater than 0",
        ),
        (
            {"confirm": {"give_up_after_seconds": float("inf")}},
            "At 'confirm.give_up_after_seconds': inf is not a usable number",
        ),
        (
            {"confirm": {"poll_interval_seconds": float("nan")}},
            "At 'confirm.poll_interval_seconds': nan is not a usable number",
        ),
        (
            {"confirm": {"processed_statuses": []}},
            "At 'confirm.processed_statuses': the list is empty",
        ),
        (
            {"confirm": {"failed_statuses": ["processed"]}},
            "At 'confirm.failed_statuses': status 'processed' is also listed",
        ),
        (
            {"watch": {"ignore": "*.xml"}},
            "At 'watch.ignore': expected a list but found the text '*.xml'",
        ),
        ({"watch": True}, "At 'watch': expected a mapping of settings but found the boolean true"),
        (
            {"log_level": "INFO"},
            "At 'log_level': 'INFO' is not a valid choice; use one of: debug, info, warning, error",
        ),
        (
            {"folder": {"parent_node": ""}},
            "At 'folders[0].parent_node': the value is empty; fill it in",
        ),
    ],
)
def test_a_bad_value_is_named_with_its_fix(site, sections, expected):
    found = problems(minimal(site, **sections))

    assert len(found) == 1
    assert found[0].startswith(expected)


# --- the file itself -------------------------------------------------------


def test_a_missing_config_file_is_one_problem(tmp_path):
    path = tmp_path / "nope.yaml"

    found = problems(path)

    assert len(found) == 1
    assert found[0].startswith(f"configuration file {path} does not exist; create it")
    assert "example" in found[0]


def test_a_yaml_syntax_error_names_its_line_and_nothing_else(site):
    path = write(site, "colour: blue\nfolders:\n  - inbox: [unclosed\n    done: x\n")

    (problem,) = problems(path)

    assert problem.startswith("At '(top level)': YAML syntax error at line 4, column 9:")


def test_a_key_given_twice_is_refused_with_both_lines(site):
    path = write(site, "folders: []\nlog_level: info\nfolders: []\n")

    (problem,) = problems(path)

    assert problem == (
        "At '(top level)': YAML error at line 3, column 1: the key 'folders' appears twice "
        "(first at line 1); keep only one of them"
    )


def test_a_top_level_that_is_not_a_mapping_is_refused(site):
    (problem,) = problems(write(site, "- inbox: /srv\n"))

    assert problem.startswith("At '(top level)': expected a mapping of settings")


# --- the API key -------------------------------------------------------------


def test_key_file_is_used_and_stripped(site):
    config = load_config(minimal(site), environ={"SENSETASK_API_KEY": "from-env"})

    assert config.api.key == KEY


def test_key_in_the_file_itself_is_used(site):
    config = load_config(minimal(site, api={"key": KEY}), environ={"SENSETASK_API_KEY": "from-env"})

    assert (config.api.key, config.api.key_source) == (KEY, "api.key")


def test_environment_key_is_used_when_the_file_names_none(site):
    config = load_config(minimal(site, api={}), environ={"SENSETASK_API_KEY": f" {KEY}\n"})

    assert (config.api.key, config.api.key_source) == (KEY, "environment SENSETASK_API_KEY")


def test_no_key_anywhere_is_a_problem(site):
    assert problems(minimal(site, api={}), environ={"SENSETASK_API_KEY": ""}) == [NO_KEY_PROBLEM]


def test_key_and_key_file_together_is_a_problem(site):
    found = problems(minimal(site, api={"key": KEY, "key_file": "api-key"}))

    assert found == [
        "At 'api.key': api.key and api.key_file are both set; remove api.key and keep the key only in the key file"
    ]


def test_an_empty_key_file_is_a_problem(site):
    (site / "api-key").write_text(" \n\n")

    found = problems(minimal(site), environ={"SENSETASK_API_KEY": KEY})

    assert found == [
        f"At 'api.key_file': key file {site / 'api-key'} is empty; put the API key in it"
    ]


def test_a_missing_key_file_is_a_problem(site):
    found = problems(minimal(site, api={"key_file": "/nonexistent/key"}))

    assert found == [
        "At 'api.key_file': key file /nonexistent/key does not exist; create it (readable only by the daemon) "
        "or correct api.key_file"
    ]


def test_a_key_file_with_two_lines_is_a_problem(site):
    (site / "api-key").write_text("old-key\nnew-key\n")

    (problem,) = problems(minimal(site))

    assert "holds more than one word or line; leave only the API key in it" in problem


# --- the webhook receiver ----------------------------------------------------

SECRET = "whsec-0123456789abcdef"


@pytest.fixture
def hook_site(site):
    (site / "webhook-secret").write_text(SECRET + "\n")
    return site


def test_a_full_webhook_section_loads(hook_site):
    path = minimal(
        hook_site,
        webhook={
            "listen": "0.0.0.0:8787",
            "path": "/hooks/sensetask",
            "health_path": "/healthz",
            "secret_file": "webhook-secret",
            "max_body_bytes": 4096,
        },
        confirm={"safety_poll_interval_seconds": 600},
    )

    config = load_config(path, environ={"SENSETASK_WEBHOOK_SECRET": "from-env"})

    assert config.webhook == WebhookSettings(
        listen="0.0.0.0:8787",
        host="0.0.0.0",
        port=8787,
        path="/hooks/sensetask",
        health_path="/healthz",
        secret=SECRET,
        secret_source=f"webhook.secret_file {hook_site / 'webhook-secret'}",
        max_body_bytes=4096,
    )
    assert config.webhook.enabled
    assert config.confirm.safety_poll_interval_seconds == 600


@pytest.mark.parametrize(
    "listen, host, port",
    [
        ("127.0.0.1:8787", "127.0.0.1", 8787),
        ("localhost:1", "localhost", 1),
        ("[::1]:65535", "::1", 65535),
        ("[::]:8787", "::", 8787),
        ("hooks.example.com:443", "hooks.example.com", 443),
    ],
)
def test_listen_is_taken_apart_into_host_and_port(hook_site, listen, host, port):
    path = minimal(hook_site, webhook={"listen": listen, "secret_file": "webhook-secret"})

    config = load_config(path, environ={})

    assert (config.webhook.listen, config.webhook.host, config.webhook.port) == (listen, host, port)
    assert WebhookSettings(listen=listen).host == host  # the dataclass takes it apart too


def test_an_empty_webhook_section_means_no_receiver(site):
    for webhook in (None, {}):
        config = load_config(minimal(site, webhook=webhook), environ={})

        assert config.webhook == WebhookSettings()
        assert not config.webhook.enabled


@pytest.mark.parametrize(
    "listen, detail",
    [
        ("8787", "(the host is missing)"),
        ("host:", "(the port is missing)"),
        (":8787", "(the host is missing"),
        ("host:99999", "port 99999 in 'host:99999' is out of range; use a port from 1 to 65535"),
        ("host:0", "port 0 in 'host:0' is out of range"),
        ("host:http", "port 'http' in 'host:http' is not a number"),
        ("a:b:c", "(an IPv6 address goes in brackets: [::1]:8787)"),
        ("::1:8787", "(an IPv6 address goes in brackets: [::1]:8787)"),
        ("[::1]8787", "(an IPv6 address goes in brackets: [::1]:8787)"),
        ("[nope]:8787", "'nope' in '[nope]:8787' is not an IPv6 address"),
        ("300.1.2.3:8787", "'300.1.2.3' in '300.1.2.3:8787' is neither an IPv4 address nor a host name"),
        ("bad_host:8787", "is neither an IPv4 address nor a host name"),
        ("host :8787", "holds a space"),
    ],
)
def test_a_bad_listen_address_names_the_expected_form(hook_site, listen, detail):
    path = minimal(hook_site, webhook={"listen": listen, "secret_file": "webhook-secret"})

    (problem,) = problems(path)

    assert problem.startswith("At 'webhook.listen': ")
    assert detail in problem
    assert "127.0.0.1:8787" in problem


def test_a_listen_port_written_as_a_number_asks_for_host_and_port(hook_site):
    path = write(
        hook_site,
        """\
        api: {key_file: api-key}
        folders: [{inbox: inbox, done: done, failed: failed, parent_node: a}]
        webhook:
          listen: 8787
          secret_file: webhook-secret
        """,
    )

    assert problems(path) == [
        "At 'webhook.listen': expected text but found the number 8787; "
        'write HOST:PORT in quotes, e.g. "127.0.0.1:8787"'
    ]


def test_webhook_secret_inline(site):
    config = load_config(
        minimal(site, webhook={"listen": "0.0.0.0:8787", "secret": f" {SECRET} "}),
        environ={"SENSETASK_WEBHOOK_SECRET": "from-env"},
    )

    assert (config.webhook.secret, config.webhook.secret_source) == (SECRET, "webhook.secret")


def test_webhook_secret_from_the_environment(site):
    config = load_config(
        minimal(site, webhook={"listen": "0.0.0.0:8787"}),
        environ={"SENSETASK_WEBHOOK_SECRET": f"{SECRET}\n"},
    )

    assert (config.webhook.secret, config.webhook.secret_source) == (
        SECRET,
        "environment SENSETASK_WEBHOOK_SECRET",
    )


def test_webhook_secret_and_secret_file_together_is_a_problem(hook_site):
    path = minimal(
        hook_site,
        webhook={"listen": "0.0.0.0:8787", "secret": SECRET, "secret_file": "webhook-secret"},
    )

    assert problems(path) == [
        "At 'webhook.secret': webhook.secret and webhook.secret_file are both set; remove "
        "webhook.secret and keep the secret only in the secret file"
    ]


def test_an_empty_webhook_secret_file_is_a_problem(hook_site):
    (hook_site / "webhook-secret").write_text("\n")
    path = minimal(hook_site, webhook={"listen": "127.0.0.1:8787", "secret_file": "webhook-secret"})

    assert problems(path, environ={"SENSETASK_WEBHOOK_SECRET": SECRET}) == [
        f"At 'webhook.secret_file': secret file {hook_site / 'webhook-secret'} is empty; "
        "put the webhook secret in it"
    ]


def test_a_missing_webhook_secret_file_is_a_problem(site):
    path = minimal(site, webhook={"listen": "127.0.0.1:8787", "secret_file": "/nonexistent/secret"})

    assert problems(path) == [
        "At 'webhook.secret_file': secret file /nonexistent/secret does not exist; create it "
        "(readable only by the daemon) or correct webhook.secret_file"
    ]


def test_a_webhook_secret_file_that_is_a_folder_is_a_problem(site):
    path = minimal(site, webhook={"listen": "127.0.0.1:8787", "secret_file": "done"})

    assert problems(path) == [
        f"At 'webhook.secret_file': secret file {site / 'done'} is a directory; point "
        "webhook.secret_file at the file holding the secret"
    ]


@pytest.mark.parametrize("listen", ["0.0.0.0:8787", "[::]:8787", "192.0.2.7:8787", "hooks.example.com:443"])
def test_a_receiver_beyond_this_machine_needs_a_secret(site, listen):
    path = minimal(site, webhook={"listen": listen})

    assert problems(path, environ={"SENSETASK_WEBHOOK_SECRET": " "}) == [
        f"At 'webhook.secret_file': the webhook receiver listens on {listen}, beyond this machine, "
        "without a secret; set webhook.secret_file to a file holding the secret configured for the "
        "endpoint in SenseTask (Settings > Developers > Webhooks), or set SENSETASK_WEBHOOK_SECRET "
        "(or listen on 127.0.0.1 behind a reverse proxy)"
    ]


@pytest.mark.parametrize("listen", ["127.0.0.1:8787", "127.9.9.9:8787", "localhost:8787", "[::1]:8787"])
def test_a_loopback_receiver_needs_no_secret(site, listen):
    config = load_config(minimal(site, webhook={"listen": listen}), environ={})

    assert config.webhook.enabled
    assert (config.webhook.secret, config.webhook.secret_source) == (None, None)


def test_without_listen_the_secret_settings_are_unused(site):
    path = minimal(site, webhook={"secret_file": "/nonexistent/secret"})

    config = load_config(path, environ={"SENSETASK_WEBHOOK_SECRET": SECRET})

    assert not config.webhook.enabled
    assert (config.webhook.secret, config.webhook.secret_source) == (None, None)


def test_webhook_path_and_health_path_must_differ(hook_site):
    path = minimal(
        hook_site,
        webhook={"listen": "127.0.0.1:8787", "path": "/health", "secret_file": "webhook-secret"},
    )

    assert problems(path) == [
        "At 'webhook.health_path': webhook.health_path is the same as webhook.path (/health); "
        "give the health check a path of its own"
    ]


@pytest.mark.parametrize(
    "webhook, expected",
    [
        (
            {"path": "sensetask/webhook"},
            "At 'webhook.path': 'sensetask/webhook' is not valid here; write a URL path starting with '/'",
        ),
        (
            {"health_path": "health"},
            "At 'webhook.health_path': 'health' is not valid here; write a URL path starting with '/'",
        ),
        ({"max_body_bytes": 1023}, "At 'webhook.max_body_bytes': 1023 is too small; use 1024 or more"),
        (
            {"max_body_bytes": 67108865},
            "At 'webhook.max_body_bytes': 67108865 is too large; use 67108864 or less",
        ),
        ({"listen": ""}, "At 'webhook.listen': the value is empty; fill it in"),
        (
            {"lisen": "127.0.0.1:8787"},
            "At 'webhook.lisen': unknown key 'lisen'; did you mean 'listen'? (allowed here: "
            "health_path, listen, max_body_bytes, path, secret, secret_file)",
        ),
        (
            {"port": 8787},
            "At 'webhook.port': unknown key 'port'; remove it or correct the spelling (allowed here: "
            "health_path, listen, max_body_bytes, path, secret, secret_file)",
        ),
    ],
)
def test_a_bad_webhook_value_is_named_with_its_fix(site, webhook, expected):
    (problem,) = problems(minimal(site, webhook=webhook))

    assert problem.startswith(expected)


def test_safety_poll_interval_must_be_positive(site):
    assert problems(minimal(site, confirm={"safety_poll_interval_seconds": 0})) == [
        "At 'confirm.safety_poll_interval_seconds': 0 is too small; use a number greater than 0"
    ]


# --- folders on disk -------------------------------------------------------


def test_default_processing_folder_need_not_exist(site):
    config = load_config(minimal(site), environ={})

    assert config.folders[0].processing == site / "inbox" / ".sensetask-processing"
    assert not config.folders[0].processing.exists()


def test_processing_folder_whose_parent_is_missing_is_a_problem(site):
    path = minimal(site, folder={"processing": f"{site}/no/work"})

    (problem,) = problems(path)

    assert problem.startswith(
        f"At 'folders[0].processing': cannot create processing folder {site}/no/work: folder"
    )
    assert f"{site}/no does not exist" in problem


def test_a_file_where_a_folder_should_be_is_a_problem(site):
    (site / "done").rmdir()
    (site / "done").write_text("")

    (problem,) = problems(minimal(site))

    assert (
        problem
        == f"At 'folders[0].done': {site}/done is not a folder; point this setting at a directory"
    )


def test_done_folder_may_not_be_the_inbox(site):
    path = minimal(site, folder={"done": f"{site}/inbox/."})

    (problem,) = problems(path)

    assert (
        problem
        == f"At 'folders[0].done': the done folder is the inbox itself ({site}/inbox); use a separate folder"
    )


def test_two_folder_entries_may_not_share_an_inbox_or_a_name(site):
    (site / "b").mkdir()
    (site / "b" / "inbox").mkdir()
    path = write(
        site,
        """\
        api: {key_file: api-key}
        folders:
          - {inbox: inbox, done: done, failed: failed, parent_node: a}
          - {inbox: inbox, done: done, failed: failed, parent_node: b, name: other}
          - {inbox: b/inbox, done: done, failed: failed, parent_node: c}
        """,
    )

    assert problems(path) == [
        f"At 'folders[1].inbox': inbox {site}/inbox is also the inbox of folders[0]; "
        "give each folder entry its own inbox",
        "At 'folders[2].name': name 'inbox' is already used by folders[0]; give each folder a unique name "
        "(it defaults to the inbox's folder name)",
    ]


def test_an_inbox_that_is_another_entrys_done_folder_is_refused(site):
    path = write(
        site,
        """\
        api: {key_file: api-key}
        folders:
          - {inbox: inbox, done: done, failed: failed, parent_node: a}
          - {inbox: done, done: failed, failed: failed, parent_node: b}
        """,
    )

    (problem,) = problems(path)

    assert problem.startswith(
        f"At 'folders[1].inbox': inbox {site}/done is also the done folder of folders[0]"
    )


def _second_filesystem(than):
    """A writable folder on another filesystem than ``than``, or None."""
    device = os.stat(than).st_dev
    for candidate in ("/dev/shm", "/run/shm", "/run/lock", "/run/user/%d" % os.getuid()):
        if (
            os.path.isdir(candidate)
            and os.access(candidate, os.W_OK)
            and os.stat(candidate).st_dev != device
        ):
            return candidate
    return None


def test_folders_on_different_filesystems_are_refused(site):
    other = _second_filesystem(site)
    if other is None:
        # No second filesystem on this machine: the decision is made by this
        # pure function, so give it the st_dev values a split setup would have.
        device = os.stat(site).st_dev
        devices = {"inbox": (site / "inbox", device), "done": (Path("/elsewhere"), device + 1)}
        assert filesystem_problems(("folders", 0), devices)[0][0] == ("folders", 0, "done")
        return
    with tempfile.TemporaryDirectory(dir=other) as failed:
        path = minimal(site, folder={"failed": failed})

        (problem,) = problems(path)

    assert problem == (
        f"At 'folders[0].failed': folder {failed} is on a different filesystem than the inbox {site}/inbox; "
        "files are moved between them by renaming, so put both on the same filesystem"
    )


def test_filesystem_check_compares_every_folder_with_the_inbox():
    devices = {
        "inbox": (Path("/srv/inbox"), 7),
        "done": (Path("/srv/done"), 7),
        "failed": (Path("/mnt/failed"), 8),
        "processing": (Path("/tmp/work"), 9),
    }

    found = filesystem_problems(("folders", 2), devices)

    assert [key_path for key_path, _ in found] == [
        ("folders", 2, "failed"),
        ("folders", 2, "processing"),
    ]
    assert (
        "folder /mnt/failed is on a different filesystem than the inbox /srv/inbox" in found[0][1]
    )
    assert (
        filesystem_problems(("folders", 0), {"done": (Path("/d"), 1), "failed": (Path("/f"), 2)})
        == []
    )


def test_state_dir_may_be_missing_but_not_a_file(site):
    assert load_config(minimal(site, state_dir="state"), environ={}).state_dir == site / "state"

    (site / "state").write_text("")

    assert problems(minimal(site, state_dir="state")) == [
        f"At 'state_dir': {site}/state is not a folder; point state_dir at a directory"
    ]


def test_paths_with_the_wrong_type_are_not_looked_up_on_disk(site):
    path = minimal(site, folder={"inbox": ["a", "b"]})

    assert problems(path) == [
        "At 'folders[0].inbox': expected text but found a list; write text instead"
    ]


# --- printing ---------------------------------------------------------------


@pytest.mark.parametrize("api", [{"key_file": "api-key"}, {"key": KEY}, {}])
def test_effective_config_never_shows_the_key(site, api):
    config = load_config(minimal(site, api=api), environ={"SENSETASK_API_KEY": KEY})

    data = effective_config(config)

    assert data["api"]["key"] == "***redacted***"
    for text in (json.dumps(data), yaml.safe_dump(data), repr(config), str(config)):
        assert KEY not in text


def test_effective_config_holds_every_setting_as_plain_data(site):
    config = load_config(minimal(site), environ={})

    data = effective_config(config)

    assert yaml.safe_load(yaml.safe_dump(data)) == data
    assert data["folders"][0]["processing"] == f"{site}/inbox/.sensetask-processing"
    assert data["confirm"]["failed_statuses"] == ["failed", "error"]
    assert data["api"]["key_source"] == f"api.key_file {site}/api-key"
    assert set(data) == {"api", "folders", "watch", "batch", "confirm", "state_dir", "log_level",
                         "stop_timeout_seconds", "webhook"}
    assert set(data["watch"]) == set(SCHEMA["properties"]["watch"]["properties"])
    assert set(data["confirm"]) == set(SCHEMA["properties"]["confirm"]["properties"])
    assert data["webhook"] == {
        "listen": None,
        "host": None,
        "port": None,
        "path": "/sensetask/webhook",
        "health_path": "/health",
        "secret_source": None,
        "max_body_bytes": 1048576,
    }


@pytest.mark.parametrize(
    "webhook, environ",
    [
        ({"listen": "0.0.0.0:8787", "secret_file": "webhook-secret"}, {}),
        ({"listen": "0.0.0.0:8787", "secret": SECRET}, {}),
        ({"listen": "0.0.0.0:8787"}, {"SENSETASK_WEBHOOK_SECRET": SECRET}),
    ],
)
def test_effective_config_never_shows_the_webhook_secret(hook_site, webhook, environ):
    config = load_config(minimal(hook_site, webhook=webhook), environ=environ)
    assert config.webhook.secret == SECRET

    data = effective_config(config)

    assert data["webhook"]["secret"] == "***redacted***"
    assert (data["webhook"]["host"], data["webhook"]["port"]) == ("0.0.0.0", 8787)
    for text in (json.dumps(data), yaml.safe_dump(data), repr(config), str(config)):
        assert SECRET not in text


# --- the pieces ---------------------------------------------------------------


def test_the_schema_is_valid_draft_7():
    Draft7Validator.check_schema(SCHEMA)


def test_key_paths_read_like_the_file():
    assert format_key_path(()) == "(top level)"
    assert format_key_path(("folders", 0, "inbox")) == "folders[0].inbox"
    assert format_key_path(("api", "key")) == "api.key"


def test_systemd_credentials_supply_the_key_and_the_secret_before_the_environment(site, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("credentials-test")
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "api-key").write_text("key-from-credential\n")
    (credentials / "webhook-secret").write_text("secret-from-credential\n")
    environ = {"CREDENTIALS_DIRECTORY": str(credentials), "SENSETASK_API_KEY": "from-env"}
    path = minimal(site, api={}, webhook={"listen": "0.0.0.0:8787"})
    config = load_config(path, environ=environ)
    assert config.api.key == "key-from-credential"
    assert config.api.key_source == "systemd credential api-key"
    assert config.webhook.secret == "secret-from-credential"
    assert config.webhook.secret_source == "systemd credential webhook-secret"
    # A key file named in the configuration still wins over the credential.
    key_file = tmp_path / "key"
    key_file.write_text("key-from-file")
    path = minimal(site, api={"key_file": str(key_file)})
    assert load_config(path, environ=environ).api.key == "key-from-file"


def test_status_can_load_a_config_whose_key_is_a_credential_it_cannot_see(site):
    path = minimal(site, api={})
    assert problems(path) == [NO_KEY_PROBLEM]
    config = load_config(path, environ={}, secrets=False)
    assert config.folders[0].inbox == site / "inbox"
