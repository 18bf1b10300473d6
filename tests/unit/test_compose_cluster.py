"""docker-compose.cluster.yml and its config files (deploy/): the rules operators rely on, checked
without a Docker engine (none runs here; the file itself has not been started): the queue persists
and fails over by a majority, the store replicates through Keeper, the services agree with each
other and the config files, secrets come from required variables, only the API and a loopback
dashboard are published. Not the file's values restated."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.settings import Settings
from tests.unit.test_compose import VARIABLE, command_line

ROOT = Path(__file__).parents[2]
KEEPERS = ["keeper-1", "keeper-2", "keeper-3"]
REPLICAS = ["clickhouse-1", "clickhouse-2"]
SENTINELS = ["sentinel-1", "sentinel-2", "sentinel-3"]
APP_SERVICES = ["migrate", "api", "worker"]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.cluster.yml").read_text())
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose["services"]
    return result


def mounted(service: dict[str, Any], target: str) -> Path:
    [source] = [v.split(":")[0] for v in service["volumes"] if v.split(":")[1] == target]
    path = ROOT / source
    assert path.is_file(), source
    return path


def app_settings(service: dict[str, Any]) -> Settings:
    """The Settings the service's environment builds, secrets interpolated as compose would."""
    env = {
        k: re.sub(r"\$\{[A-Z_]+(?::-([^}]*)|[^}]*)\}", lambda m: m[1] or "interpolated-secret-value", str(v))
        for k, v in service["environment"].items()
    }
    prefix = "TRACKHOUSE_"
    return Settings(**{k[len(prefix) :].lower(): _value(v) for k, v in env.items() if k.startswith(prefix)})


def _value(text: str) -> Any:
    return json.loads(text) if text.startswith(("[", "{")) else text


def test_redis_primary_and_replica_persist_with_aof(services: dict[str, dict[str, Any]]) -> None:
    for name in ("redis-primary", "redis-replica"):
        assert "--appendonly yes" in command_line(services[name])
        assert any(volume.endswith(":/data") for volume in services[name]["volumes"])
    assert "--replicaof redis-primary 6379" in command_line(services["redis-replica"])


def test_three_sentinels_watch_the_primary_with_a_majority(services: dict[str, dict[str, Any]]) -> None:
    conf = mounted(services["sentinel-1"], "/etc/trackhouse/sentinel.conf").read_text()
    [(host, quorum)] = re.findall(r"^sentinel monitor trackhouse (\S+) 6379 (\d+)$", conf, re.MULTILINE)
    assert host == "redis-primary" and int(quorum) == len(SENTINELS) // 2 + 1  # a majority decides
    for name in SENTINELS:
        assert services[name]["command"] == services["sentinel-1"]["command"]
        assert "--sentinel" in command_line(services[name])


def test_keeper_has_three_voters_with_distinct_ids(services: dict[str, dict[str, Any]]) -> None:
    config = ET.parse(mounted(services["keeper-1"], "/etc/clickhouse-keeper/keeper_config.xml")).getroot()
    voters = {s.findtext("hostname"): s.findtext("id") for s in config.iter("server")}
    assert set(voters) == set(KEEPERS) and len(set(voters.values())) == len(KEEPERS)
    # Each keeper takes its id from its environment: the one its own entry in the voters names.
    assert config.find("keeper_server/server_id").get("from_env") == "KEEPER_SERVER_ID"  # type: ignore[union-attr]
    assert {name: services[name]["environment"]["KEEPER_SERVER_ID"] for name in KEEPERS} == voters


def test_clickhouse_replicas_share_a_shard_and_keeper(services: dict[str, dict[str, Any]]) -> None:
    config = ET.parse(
        mounted(services["clickhouse-1"], "/etc/clickhouse-server/config.d/cluster.xml")
    ).getroot()
    cluster = app_settings(services["api"]).clickhouse_cluster
    [shard] = config.findall(f"remote_servers/{cluster}/shard")
    assert shard.findtext("internal_replication") == "true"
    assert [replica.findtext("host") for replica in shard.findall("replica")] == REPLICAS
    assert [node.findtext("host") for node in config.findall("zookeeper/node")] == KEEPERS
    assert (
        config.findtext("macros/shard")
        and config.find("macros/replica").get("from_env") == "CLICKHOUSE_REPLICA"
    )  # type: ignore[union-attr]
    assert [services[name]["environment"]["CLICKHOUSE_REPLICA"] for name in REPLICAS] == REPLICAS
    for name in REPLICAS:
        assert mounted(services[name], "/etc/clickhouse-server/config.d/cluster.xml").name == "cluster.xml"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_use_sentinel_replica_acks_and_the_cluster(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    settings = app_settings(services[name])
    assert settings.redis_url is None
    assert sorted(settings.redis_sentinels) == [f"{sentinel}:26379" for sentinel in SENTINELS]
    assert settings.redis_min_replicas_ack >= 1  # a failover cannot lose an acknowledged event
    assert settings.clickhouse_cluster == app_settings(services["api"]).clickhouse_cluster
    assert settings.store_url.split("@")[1] in {f"{replica}:8123" for replica in REPLICAS}


def test_app_services_wait_for_redis_clickhouse_and_migrations(services: dict[str, dict[str, Any]]) -> None:
    for name in ("api", "worker"):
        depends = services[name]["depends_on"]
        assert {k for k, v in depends.items() if v == {"condition": "service_healthy"}} == {
            *SENTINELS,
            *REPLICAS,
        }
        assert depends["migrate"] == {"condition": "service_completed_successfully"}


def test_healthchecks_restarts_and_scaling(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if name in ("migrate", "worker", "rq-dashboard"):
            continue
        assert service["healthcheck"]["test"][0] in {"CMD", "CMD-SHELL"}, name
    assert services["migrate"]["restart"] == "no"
    assert {n for n, s in services.items() if s.get("restart") == "unless-stopped"} == set(services) - {
        "migrate"
    }
    assert "container_name" not in services["worker"] and "ports" not in services["worker"]


def test_only_the_api_and_a_loopback_dashboard_are_published(services: dict[str, dict[str, Any]]) -> None:
    published = {name: service["ports"] for name, service in services.items() if "ports" in service}
    assert set(published) == {"api", "rq-dashboard"}
    assert all(str(port).startswith("127.0.0.1:") for port in published["rq-dashboard"])
    assert "--json" in command_line(services["rq-dashboard"]).split()
    dashboard = services["rq-dashboard"]["environment"]
    assert dashboard["RQ_DASHBOARD_REDIS_URL"].startswith("redis+sentinel://:${REDIS_PASSWORD:?")
    assert re.match(r"^\$\{RQ_DASHBOARD_PASSWORD:\?[^}]+\}$", dashboard["RQ_DASHBOARD_PASSWORD"])


def test_redis_needs_a_required_password_everywhere(services: dict[str, dict[str, Any]]) -> None:
    # A JSON job can name any function: whoever writes to Redis must hold its password.
    for name in ("redis-primary", "redis-replica"):
        line = command_line(services[name])
        assert services[name]["environment"]["REDIS_PASSWORD"].startswith("${REDIS_PASSWORD:?")
        # masterauth too: after a failover either node replicates from the other.
        assert '--requirepass "$$REDIS_PASSWORD"' in line and '--masterauth "$$REDIS_PASSWORD"' in line
        assert "$$REDIS_PASSWORD" in " ".join(services[name]["healthcheck"]["test"])
        assert re.search(r"--maxmemory \S+", line) and "--maxmemory-policy noeviction" in line
    for name in SENTINELS:  # Sentinel must authenticate to the primary it watches
        assert 'sentinel auth-pass trackhouse "%s"' in command_line(services[name])
    for name in APP_SERVICES:
        assert services[name]["environment"]["TRACKHOUSE_REDIS_PASSWORD"].startswith("${REDIS_PASSWORD:?")
        assert app_settings(services[name]).redis_password is not None


def test_no_secret_on_a_command_line(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        arguments = command_line(service) if "command" in service else ""
        assert not re.search(r"--(?:password|token)\b", arguments), name
        assert not re.search(r"\$\{[A-Z_]*(PASSWORD|TOKEN|SECRET)", arguments), name


def test_no_secret_literals(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for key, value in service.get("environment", {}).items():
            if re.search(r"PASSWORD|TOKEN|SECRET", key):
                assert VARIABLE.match(str(value)), f"{name}.{key} is a literal"
            if "://" in str(value) and "@" in str(value):
                assert re.search(r"\$\{[A-Z_]+PASSWORD:\?", str(value)), (
                    f"{name}.{key} embeds a literal password"
                )
        for secret in re.findall(
            r"--(?:password|token)[ =](\$\{[^}]*\}|\S+)",
            command_line(service) if "command" in service else "",
        ):
            assert VARIABLE.match(secret), f"{name} passes a literal secret"


def test_volumes_are_declared(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    declared = set(compose["volumes"])
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name} uses undeclared volume {source}"
