"""docker-compose.yml and the Dockerfile: the rules operators rely on (no Docker engine needed),
not the file's values restated: the queue persists, secrets come from required variables, only
loopback reaches the dashboard, workers scale."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).parents[2]
APP_SERVICES = ["api", "worker"]
VARIABLE = re.compile(r"^\$\{[A-Z_]+(:[-?][^}]*)?\}$")


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert "version" not in compose
    result: dict[str, dict[str, Any]] = compose["services"]
    return result


def command_line(service: dict[str, Any]) -> str:
    command = service["command"]
    return command if isinstance(command, str) else " ".join(command)


def test_redis_persists_the_queue_with_aof(services: dict[str, dict[str, Any]]) -> None:
    assert "--appendonly yes" in command_line(services["redis"])
    assert any(volume.endswith(":/data") for volume in services["redis"]["volumes"])


def test_worker_is_scalable(services: dict[str, dict[str, Any]]) -> None:
    assert "container_name" not in services["worker"]
    assert "ports" not in services["worker"]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_wait_for_their_dependencies(services: dict[str, dict[str, Any]], name: str) -> None:
    assert services[name]["depends_on"] == {
        "redis": {"condition": "service_healthy"},
        "clickhouse": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }


@pytest.mark.parametrize("name", ["redis", "clickhouse", "api"])
def test_long_running_services_have_a_healthcheck(services: dict[str, dict[str, Any]], name: str) -> None:
    check = services[name]["healthcheck"]
    assert not check.get("disable", False)
    assert check["test"][0] in {"CMD", "CMD-SHELL"} and len(check["test"]) > 1


def test_restart_policies(services: dict[str, dict[str, Any]]) -> None:
    # The one-shot migration runs once; everything else comes back after a crash or a reboot.
    for name, service in services.items():
        assert service.get("restart") == ("no" if name == "migrate" else "unless-stopped"), name


def test_dashboard_needs_a_password_and_listens_on_loopback(services: dict[str, dict[str, Any]]) -> None:
    dashboard = services["rq-dashboard"]
    assert re.match(r"^\$\{RQ_DASHBOARD_PASSWORD:\?[^}]+\}$", dashboard["environment"]["RQ_DASHBOARD_PASSWORD"])
    assert dashboard["ports"] and all(str(port).startswith("127.0.0.1:") for port in dashboard["ports"])


def test_no_secret_on_a_command_line(services: dict[str, dict[str, Any]]) -> None:
    # `ps` and `docker inspect` show command lines: secrets travel as environment variables.
    for name, service in services.items():
        arguments = command_line(service) if "command" in service else ""
        assert not re.search(r"--(?:password|token)\b", arguments), name
        assert not re.search(r"\$\{[A-Z_]*(PASSWORD|TOKEN|SECRET)", arguments), name


def test_redis_needs_a_required_password_and_every_url_carries_it(services: dict[str, dict[str, Any]]) -> None:
    # A JSON job can name any function: whoever writes to Redis must hold its password.
    redis = services["redis"]
    assert redis["environment"]["REDIS_PASSWORD"].startswith("${REDIS_PASSWORD:?")
    assert '--requirepass "$$REDIS_PASSWORD"' in command_line(redis)
    assert "$$REDIS_PASSWORD" in " ".join(redis["healthcheck"]["test"])  # ping needs it too
    urls = [services[name]["environment"]["TRACKHOUSE_REDIS_URL"] for name in ["migrate", *APP_SERVICES]]
    urls.append(services["rq-dashboard"]["environment"]["RQ_DASHBOARD_REDIS_URL"])
    for raw in urls:
        url = urlsplit(re.sub(r"\$\{[^}]*\}", "interpolated", raw))
        assert (url.hostname, url.password) == ("redis", "interpolated") and "${REDIS_PASSWORD:?" in raw


def test_redis_has_a_memory_limit_that_never_evicts_events(services: dict[str, dict[str, Any]]) -> None:
    # Without maxmemory the API's memory backpressure never fires; eviction would drop queued events.
    line = command_line(services["redis"])
    assert re.search(r"--maxmemory \S+", line) and "--maxmemory-policy noeviction" in line


def test_dotenv_is_ignored_by_git() -> None:
    # Compose suggests .env for the secrets above.
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_dashboard_reads_json_jobs(services: dict[str, dict[str, Any]]) -> None:
    # Jobs are JSON-serialised; with its default (pickle) serializer the dashboard cannot show them.
    assert "--json" in command_line(services["rq-dashboard"]).split()


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_reach_clickhouse_over_http(services: dict[str, dict[str, Any]], name: str) -> None:
    raw = services[name]["environment"]["TRACKHOUSE_CLICKHOUSE_URL"]
    url = urlsplit(re.sub(r"\$\{[^}]*\}", "interpolated", raw))  # as compose would, before parsing
    # The server's HTTP interface (chDB is in-process only), authenticated with a variable's password.
    assert url.scheme == "http" and url.hostname in services and url.password == "interpolated"
    assert "${CLICKHOUSE_PASSWORD" in raw


def test_no_secret_literals(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        environment = service.get("environment", {})
        assert isinstance(environment, dict), name
        for key, value in environment.items():
            if re.search(r"PASSWORD|TOKEN|SECRET", key):
                assert VARIABLE.match(str(value)), f"{name}.{key} is a literal"
        arguments = command_line(service) if "command" in service else ""
        for secret in re.findall(r"--(?:password|token)[ =](\$\{[^}]*\}|\S+)", arguments):
            assert VARIABLE.match(secret), f"{name} passes a literal secret"


@pytest.mark.parametrize("name", ["migrate", *APP_SERVICES])
def test_app_services_build_the_root_dockerfile(services: dict[str, dict[str, Any]], name: str) -> None:
    assert services[name]["build"] == "."
    assert "image" not in services[name]


def test_dockerfile_installs_the_project_as_a_non_root_user() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+([^\s:]+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}
    assert re.search(r"^RUN .*pip install --no-cache-dir \.(\s|$)", dockerfile, re.MULTILINE)


def test_references_resolve(services: dict[str, dict[str, Any]]) -> None:
    declared = set(yaml.safe_load((ROOT / "docker-compose.yml").read_text()).get("volumes") or {})
    for name, service in services.items():
        assert set(service.get("depends_on", {})) <= set(services), name
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith(("/", ".", "~")):
                assert source in declared, f"{name} uses undeclared volume {source}"
        build = service.get("build")
        if isinstance(build, dict):
            assert (ROOT / build["context"] / build["dockerfile"]).is_file(), name
