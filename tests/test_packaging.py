"""What the packaging promises: the systemd unit's sandbox and its contract with
the daemon, the man page, and the Debian package's dependencies and files.

These tests read the source tree (the unit, packaging/). They run with the
rest of the suite (scripts/test) and, in CI, from a copy of tests/ against the
installed .deb (.ci/run); there SENSETASK_WATCH_SOURCE names the source tree.
Nothing is skipped: without systemd-analyze or groff a test fails and says
what to install.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

SOURCE = Path(os.environ.get("SENSETASK_WATCH_SOURCE") or Path(__file__).resolve().parents[1])
UNIT = SOURCE / "sensetask-watch.service"
PACKAGING = SOURCE / "packaging"
DEBIAN = PACKAGING / "debian"
MAN_PAGE = PACKAGING / "sensetask-watch.1"
MAX_EXPOSURE = 1.5


@pytest.fixture(scope="module", autouse=True)
def source_tree():
    assert UNIT.is_file(), (
        f"no {UNIT}: run these tests from the source tree, or set SENSETASK_WATCH_SOURCE to it")


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: install it (apt-get install {package}); this check is not skipped")
    return path


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def unit_settings(path: Path = UNIT) -> dict[str, dict[str, list[str]]]:
    """{section: {key: [values in order]}}: unit files may repeat a key."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def installed(path: str) -> bool:
    return Path(path).exists()


def man_page_installed() -> bool:
    return shutil.which("man") is not None and run("man", "-w", "sensetask-watch").returncode == 0


# --- the sandbox ------------------------------------------------------------------


def test_unit_sandbox_exposure_is_at_most_1_5():
    analyze = tool("systemd-analyze", "systemd")
    result = run(analyze, "security", "--offline=true", str(UNIT))
    output = result.stdout + result.stderr
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", output)
    assert match, f"systemd-analyze security printed no overall exposure:\n{output}"
    exposure = float(match.group(1))
    weak_points = "\n".join(line for line in output.splitlines() if line.startswith("✗"))
    assert exposure <= MAX_EXPOSURE, f"exposure {exposure} > {MAX_EXPOSURE}; weak points:\n{weak_points}"


def test_unit_verifies_without_complaint():
    """`systemd-analyze verify` also checks that ExecStart='s program and the
    Documentation= man page exist: where the .deb is not installed, exactly
    those two complaints are expected, and nothing else."""
    analyze = tool("systemd-analyze", "systemd")
    result = run(analyze, "verify", str(UNIT))
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    expected_here = []
    if not installed("/usr/bin/sensetask-watch"):
        expected_here.append("Command /usr/bin/sensetask-watch is not executable: No such file or directory")
    if not man_page_installed():
        expected_here.append("Command 'man sensetask-watch(1)' failed")
    unexplained = [line for line in complaints if not any(text in line for text in expected_here)]
    assert unexplained == [], "systemd-analyze verify complains:\n" + "\n".join(complaints)
    if not expected_here:
        assert result.returncode == 0, "systemd-analyze verify failed:\n" + "\n".join(complaints)


def test_hardening_leaves_the_daemon_what_it_needs():
    service = unit_settings()["Service"]
    # The network: the API over IPv4/IPv6, AF_UNIX for the journal and the notify socket.
    assert set(service["RestrictAddressFamilies"][0].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    assert "IPAddressDeny" not in service, "an IP deny list would block the SenseTask API"
    assert "PrivateNetwork" not in service
    # Files: everything read-only but the state directory and drop-in ReadWritePaths=.
    assert service["ProtectSystem"] == ["strict"]
    assert service["StateDirectory"] == ["sensetask-watch"]
    assert service["CapabilityBoundingSet"] == [""] and service["AmbientCapabilities"] == [""]


# --- the unit's contract with the daemon --------------------------------------------


def test_unit_runs_the_daemon_as_systemd_expects():
    unit = unit_settings()
    service = unit["Service"]
    assert service["Type"] == ["notify"] and service["NotifyAccess"] == ["main"]
    assert service["ExecStart"] == ["/usr/bin/sensetask-watch run -c /etc/sensetask-watch/config.yaml"]
    assert service["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert service["WatchdogSec"] == ["30"]
    assert service["Restart"] == ["on-failure"]
    assert service["TimeoutStopSec"] == ["60"]
    assert service["User"] == ["sensetask"] and service["Group"] == ["sensetask"]
    assert service["LoadCredential"] == ["api-key:/etc/sensetask-watch/api-key"]
    assert unit["Unit"]["ConditionPathExists"] == ["/etc/sensetask-watch/config.yaml"]


def test_restart_is_prevented_on_the_bad_configuration_exit_code():
    """78 (bad configuration): a restart cannot fix it."""
    from sensetask_watch.errors import ExitCode

    assert str(int(ExitCode.CONFIG)) in unit_settings()["Service"]["RestartPreventExitStatus"][0].split()


# --- the Debian package -------------------------------------------------------------


def test_system_user_and_directories_match_the_unit():
    service = unit_settings()["Service"]
    sysusers = (DEBIAN / "sensetask-watch.sysusers").read_text()
    assert re.search(r"^u\s+sensetask\s+-\s+\".*\"\s+/var/lib/sensetask-watch\s+/usr/sbin/nologin\s*$",
                     sysusers, re.M), sysusers
    assert service["User"] == ["sensetask"]
    tmpfiles = (DEBIAN / "sensetask-watch.tmpfiles").read_text()
    assert re.search(r"^d\s+/var/lib/sensetask-watch\s+0750\s+sensetask\s+sensetask\s+-\s*$", tmpfiles, re.M)
    assert re.search(r"^d\s+/etc/sensetask-watch\s+0750\s+root\s+sensetask\s+-\s*$", tmpfiles, re.M)


def test_package_depends_on_every_runtime_dependency():
    """A dependency added to pyproject.toml must reach debian/control too, by its Debian name."""
    debian_names = {"pyyaml": "python3-yaml", "systemd-python": "python3-systemd"}
    project = tomllib.loads((SOURCE / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["systemd"]
    control = (DEBIAN / "control").read_text()
    depends = re.search(r"^Depends:(.*?)^\S", control, re.M | re.S).group(1)
    declared = {name.strip() for name in re.sub(r"#.*", "", depends).replace("\n", " ").split(",")}
    for requirement in requirements:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower()
        debian = debian_names.get(name, f"python3-{name}")
        assert debian in declared, f"{requirement} (pyproject.toml) is missing from Depends: as {debian}"


# --- the man page ---------------------------------------------------------------------


def test_man_page_renders_without_warnings():
    groff = tool("groff", "groff-base")
    result = run(groff, "-man", "-Tutf8", "-ww", "-z", str(MAN_PAGE))
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_man_page_lists_every_command_and_exit_status():
    from sensetask_watch.cli import build_parser
    from sensetask_watch.errors import ExitCode

    page = MAN_PAGE.read_text()
    synopsis = page.split(".SH SYNOPSIS")[1].split(".SH")[0]
    subcommands = next(action for action in build_parser()._actions
                       if isinstance(action, argparse._SubParsersAction))
    commands = subcommands.choices
    for command in commands:
        assert f".B sensetask\\-watch {command.replace('-', chr(92) + '-')}" in synopsis, command
    exit_status = page.split(".SH EXIT STATUS")[1].split(".SH")[0]
    documented = {int(code) for code in re.findall(r"^\.B (\d+)$", exit_status, re.M)}
    assert documented == {int(code) for code in ExitCode}


def test_the_command_runs():
    """`sensetask-watch --help`, as installed (the .deb in CI) or in the venv."""
    result = run(sys.executable, "-m", "sensetask_watch", "--help")
    assert result.returncode == 0, result.stderr
    assert "check-config" in result.stdout


def test_versions_agree():
    """A release changes pyproject.toml, debian/changelog and the man page together."""
    version = tomllib.loads((SOURCE / "pyproject.toml").read_text())["project"]["version"]
    changelog_top = (DEBIAN / "changelog").read_text().splitlines()[0]
    assert changelog_top.startswith(f"sensetask-watch ({version}) "), changelog_top
    title = next(line for line in MAN_PAGE.read_text().splitlines() if line.startswith(".TH "))
    assert f'"sensetask\\-watch {version}"' in title, title
