"""docker-compose.yml, Dockerfile, .env.example and .dockerignore: valid, and shaped as the design says.

Validation uses the best tool present and never skips: ``docker compose config`` (v2 plugin), else
``docker-compose config`` (v1), else a structural lint with PyYAML. The deployment rules (a beat service
of a leader and a standby, a one-shot migrate the workers wait for, health checks, queues, the sandbox
behind a profile) are checked from the parsed YAML every time, whatever validator ran.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any, Iterator

import yaml

from worker.core.queues import AGENT_QUEUES, WORKER_QUEUES
from worker.core.settings import DEFAULT_GRAPH_VERSION, Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERIGNORE = ROOT / ".dockerignore"
SETTINGS_SOURCE = ROOT / "worker" / "core" / "settings.py"

REQUIRED_SERVICES = {"redis", "postgres", "migrate", "worker-publish", "worker-default", "worker-insights", "beat", "sandbox",
                     "metrics", "flower", "prometheus"}
MONITORING = {"metrics", "flower", "prometheus"}
PROMETHEUS_CONFIG = ROOT / "monitoring" / "prometheus.yml"
ALERT_RULES = ROOT / "monitoring" / "alerts.yml"
ONE_SHOT = {"migrate"}
COMPOSE_DATABASE_URL = "postgresql://socialcal:socialcal@postgres:5432/socialcal"
COMPOSE_BROKER_URL = "redis://redis:6379/0"

# ---------------------------------------------------------------------------------------- helpers


def load_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())  # SafeLoader resolves anchors and `<<` merges
    assert isinstance(data, dict), "docker-compose.yml is not a mapping"
    return data


def services() -> dict[str, dict[str, Any]]:
    found = load_compose().get("services")
    assert isinstance(found, dict) and found, "docker-compose.yml has no services"
    return found


def command_of(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def role(service: dict[str, Any]) -> str | None:
    """The socialcal subcommand a service runs (the image's ENTRYPOINT is `socialcal`)."""
    command = command_of(service)
    ours = "build" in service or "socialcal" in str(service.get("image", ""))
    return command[0] if command and ours else None


def option_value(command: list[str], *names: str) -> str | None:
    for position, part in enumerate(command):
        for name in names:
            if part == name and position + 1 < len(command):
                return command[position + 1]
            if part.startswith(name + "="):
                return part.split("=", 1)[1]
    return None


def depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    deps = service.get("depends_on", {})
    if isinstance(deps, list):  # short syntax: service_started
        return {name: {"condition": "service_started"} for name in deps}
    return {name: (spec or {"condition": "service_started"}) for name, spec in deps.items()}


def env_mapping(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {}) or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def env_files(service: dict[str, Any]) -> list[str]:
    files = service.get("env_file", [])
    files = [files] if isinstance(files, (str, dict)) else files
    return [entry["path"] if isinstance(entry, dict) else entry for entry in files]


DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)")


def seconds(duration: Any) -> float:
    text = str(duration)
    assert DURATION_PART.sub("", text) == "" and text, f"not a compose duration: {duration!r}"
    unit = {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    return sum(float(number) * unit[suffix] for number, suffix in DURATION_PART.findall(text))


def strings_in(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings_in(key)
            yield from strings_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings_in(item)


# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}, ${VAR:+alt}, $VAR; `$$` is a literal $.
BRACED = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")
BARE = re.compile(r"\$(?P<name>[A-Za-z_][A-Za-z0-9_]*)")


def interpolations(text: str) -> list[tuple[str, str | None, str | None]]:
    text = text.replace("$$", "")
    found = [(m["name"], m["op"], m["arg"]) for m in BRACED.finditer(text)]
    rest = BRACED.sub("", text)
    found += [(m["name"], None, None) for m in BARE.finditer(rest)]
    assert "${" not in rest, f"unparsable interpolation in {text!r}"
    return found


ASSIGNMENT = re.compile(r"^(?P<commented>#\s*)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)$", re.M)


def example_assignments(commented: bool | None = None) -> dict[str, list[str]]:
    """NAME -> values shown in .env.example (commented-out lines included unless commented=False)."""
    found: dict[str, list[str]] = {}
    for match in ASSIGNMENT.finditer(ENV_EXAMPLE.read_text()):
        if commented is False and match["commented"]:
            continue
        found.setdefault(match["name"], []).append(match["value"].strip())
    return found


def settings_variables() -> set[str]:
    names = set(re.findall(r"[\"'](SOCIALCAL_[A-Z0-9_]+)[\"']", SETTINGS_SOURCE.read_text()))
    assert len(names) >= 8, "could not read the SOCIALCAL_* names from worker/core/settings.py"
    return names


def exec_form(rest: str) -> list[str] | None:
    """A Dockerfile instruction's JSON (exec-form) arguments, or None for the shell form."""
    try:
        parsed = json.loads(rest)
    except ValueError:
        return None
    return parsed if isinstance(parsed, list) else None


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


# ----------------------------------------------------------------- validation with the best tool


def compose_cli() -> list[str] | None:
    candidates = [["docker", "compose"]] if shutil.which("docker") else []
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for candidate in candidates:
        try:
            probe = subprocess.run([*candidate, "version"], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return candidate
    return None


def test_compose_file_validates(tmp_path: Path) -> None:
    cli = compose_cli()
    if cli is None:
        lint_compose_structure()
        return
    # A throwaway project directory: the repository's own .env is neither needed nor touched.
    for name in ("docker-compose.yml", "Dockerfile", ".dockerignore"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copy(ENV_EXAMPLE, tmp_path / ".env")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOCIALCAL_", "COMPOSE_"))}
    for name in ("monitoring",):
        shutil.copytree(ROOT / name, tmp_path / name)
    for profiles in ([], ["--profile", "sandbox"], ["--profile", "monitoring"]):
        argv = [*cli, "-f", str(tmp_path / "docker-compose.yml"), "--project-directory", str(tmp_path),
                *profiles, "config", "-q"]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
        assert result.returncode == 0, f"{' '.join(argv)} failed:\n{result.stdout}\n{result.stderr}"


SERVICE_KEYS = {
    "build", "image", "command", "entrypoint", "environment", "env_file", "depends_on", "healthcheck",
    "restart", "profiles", "ports", "expose", "volumes", "init", "stop_grace_period", "stop_signal", "user",
    "working_dir", "deploy", "labels", "logging", "networks", "hostname", "container_name", "extra_hosts",
    "ulimits", "tmpfs", "read_only", "cap_add", "cap_drop", "security_opt", "pull_policy", "scale",
    "mem_limit", "cpus", "shm_size", "platform", "secrets", "configs", "tty", "stdin_open", "dns", "sysctls",
}
TOP_LEVEL_KEYS = {"services", "volumes", "networks", "configs", "secrets", "name", "version", "include"}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


def lint_compose_structure() -> None:
    """What `docker compose config` would reject, checked without it (no compose on this machine)."""
    data = load_compose()
    unknown_top = {k for k in data if k not in TOP_LEVEL_KEYS and not str(k).startswith("x-")}
    assert not unknown_top, f"unknown top-level keys: {unknown_top}"
    declared_volumes = set((data.get("volumes") or {}).keys())
    all_services = services()
    for name, service in all_services.items():
        assert isinstance(service, dict), f"{name}: not a mapping"
        unknown = {k for k in service if k not in SERVICE_KEYS and not str(k).startswith("x-")}
        assert not unknown, f"{name}: unknown keys {unknown}"
        assert "image" in service or "build" in service, f"{name}: needs image or build"
        restart = service.get("restart", "no")
        assert isinstance(restart, str), f"{name}: restart must be a quoted string (YAML reads no as false)"
        assert re.fullmatch(r"no|always|unless-stopped|on-failure(:\d+)?", restart), f"{name}: restart {restart!r}"
        assert isinstance(service.get("command", []), (str, list)), f"{name}: command"
        assert all(isinstance(p, str) for p in service.get("command", []) if isinstance(service.get("command"), list)), \
            f"{name}: command items must be strings"
        env = service.get("environment", {})
        if isinstance(env, dict):
            assert all(isinstance(v, (str, int, float, bool, type(None))) for v in env.values()), f"{name}: environment"
        else:
            assert isinstance(env, list) and all(isinstance(item, str) for item in env), f"{name}: environment"
        assert all(isinstance(f, str) and f for f in env_files(service)), f"{name}: env_file"
        profiles = service.get("profiles", [])
        assert isinstance(profiles, list) and all(isinstance(p, str) for p in profiles), f"{name}: profiles"
        for target, spec in depends_on(service).items():
            assert target in all_services, f"{name}: depends on unknown service {target}"
            assert target != name, f"{name}: depends on itself"
            assert spec.get("condition") in CONDITIONS, f"{name}: depends_on {target} condition {spec.get('condition')!r}"
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in all_services[target], f"{name}: waits for {target} healthy, which has no healthcheck"
            if not profiles and spec.get("required", True):
                assert not all_services[target].get("profiles"), \
                    f"{name}: always on, but depends on {target}, which only runs under a profile"
        if "healthcheck" in service:
            check = service["healthcheck"]
            test = check.get("test")
            assert isinstance(test, (str, list)) and test, f"{name}: healthcheck.test"
            if isinstance(test, list):
                assert test[0] in ("CMD", "CMD-SHELL", "NONE") and all(isinstance(p, str) for p in test), \
                    f"{name}: healthcheck.test must start with CMD, CMD-SHELL or NONE"
            for key in ("interval", "timeout", "start_period", "start_interval"):
                if key in check:
                    seconds(check[key])
            assert isinstance(check.get("retries", 1), int), f"{name}: healthcheck.retries"
        if "stop_grace_period" in service:
            seconds(service["stop_grace_period"])
        for port in service.get("ports", []):
            assert isinstance(port, str) and re.fullmatch(r"(\d{1,3}(\.\d{1,3}){3}:)?(\d+:)?\d+(/tcp|/udp)?", port), \
                f"{name}: port {port!r} (quote ports: YAML reads 80:80 as a number)"
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if source and not source.startswith((".", "/", "~", "$")):
                assert source in declared_volumes, f"{name}: named volume {source} is not declared"
    # Interpolation must resolve: every ${VAR} has a default or is set in .env.example.
    check_interpolations(data)


def check_interpolations(data: dict[str, Any]) -> None:
    defined = set(example_assignments(commented=False))
    for text in strings_in(data):
        for name, op, _arg in interpolations(text):
            assert op in ("-", ":-") or name in defined, \
                f"${{{name}}} in docker-compose.yml has no default and is not set in .env.example"


def test_compose_interpolations_resolve() -> None:
    check_interpolations(load_compose())


# -------------------------------------------------------------------------- the deployment rules


def test_required_services_exist() -> None:
    missing = REQUIRED_SERVICES - set(services())
    assert not missing, f"docker-compose.yml lacks services: {sorted(missing)}"
    assert str(services()["redis"]["image"]).split(":")[0] == "redis"
    assert str(services()["postgres"]["image"]).startswith("postgres:16")


def test_every_long_running_service_has_a_healthcheck() -> None:
    for name, service in services().items():
        if name in ONE_SHOT:
            continue
        check = service.get("healthcheck")
        assert check and not check.get("disable") and check.get("test") not in (["NONE"], "NONE"), \
            f"{name}: long-running service without a health check"


def test_migrate_is_one_shot_and_gates_workers_and_beat() -> None:
    all_services = services()
    migrate = all_services["migrate"]
    assert command_of(migrate)[:2] == ["db", "upgrade"], "migrate must run `socialcal db upgrade`"
    assert migrate.get("restart") == "no", 'migrate is one-shot: restart: "no"'
    assert depends_on(migrate).get("postgres", {}).get("condition") == "service_healthy", \
        "migrate must wait for postgres to be healthy"
    gated = [name for name, s in all_services.items() if role(s) in ("worker", "beat")]
    assert len(gated) >= 3, f"expected two workers and a beat, found {gated}"
    for name in gated:
        deps = depends_on(all_services[name])
        assert deps.get("migrate", {}).get("condition") == "service_completed_successfully", \
            f"{name}: must wait for migrate to complete successfully"
        for store in ("redis", "postgres"):
            assert deps.get(store, {}).get("condition") == "service_healthy", f"{name}: must wait for {store} healthy"


def test_beat_runs_as_a_leader_and_a_standby() -> None:
    """One beat service, scaled to two: safe only because beat schedules under a Redis lock."""
    from worker.app import BEAT_KEY_PREFIX, beat_config

    all_services = services()
    beats = [name for name, s in all_services.items() if role(s) == "beat"]
    assert beats == ["beat"], f"beat services: {beats}"
    beat = all_services["beat"]
    assert (beat.get("deploy") or {}).get("replicas", beat.get("scale", 1)) == 2
    config = beat_config(Settings(broker_url=COMPOSE_BROKER_URL))
    assert config["beat_scheduler"] == "schedules.leader:LeaderScheduler"
    assert config["redbeat_lock_key"] == BEAT_KEY_PREFIX + "lock"
    assert config["redbeat_lock_key"] in " ".join(strings_in(beat["healthcheck"]["test"]))
    for name, service in all_services.items():  # no worker runs an embedded beat (-B) as well
        if role(service) == "worker":
            assert not {"-B", "--beat"} & set(command_of(service)), f"{name}: embedded beat"


def test_worker_queues_cover_the_pipeline() -> None:
    consumed: dict[str, set[str]] = {}
    for name, service in services().items():
        if role(service) == "worker":
            queues = option_value(command_of(service), "-Q", "--queues")
            assert queues, f"{name}: worker without -Q"
            consumed[name] = {q.strip() for q in queues.split(",") if q.strip()}
    assert consumed.get("worker-publish") == {"publish"}, f"worker-publish consumes {consumed.get('worker-publish')}"
    assert consumed.get("worker-default") == {"default"}, f"worker-default consumes {consumed.get('worker-default')}"
    assert consumed.get("worker-insights") == {"insights"}, f"worker-insights consumes {consumed.get('worker-insights')}"
    everything = set().union(*consumed.values())
    missing = {q.value for q in WORKER_QUEUES} - everything
    assert not missing, f"no worker consumes {sorted(missing)}"
    assert not {q.value for q in AGENT_QUEUES} & everything, "agent queues belong to the outside agents"


def test_publish_queue_runs_on_threads() -> None:
    """The publish queue waits on Graph: its worker runs a thread pool; the others keep prefork."""
    for name, service in services().items():
        if role(service) != "worker":
            continue
        pool = option_value(command_of(service), "--pool", "-P")
        if name == "worker-publish":
            assert pool == "threads", f"worker-publish pool {pool}"
            threads = option_value(command_of(service), "--concurrency", "-c")
            assert threads and int(threads.split(":-")[-1].rstrip("}")) >= 8, f"worker-publish threads {threads}"
        else:
            assert pool in (None, "prefork"), f"{name}: pool {pool}"


def test_workers_shut_down_gracefully() -> None:
    for name, service in services().items():
        if role(service) == "worker":
            assert seconds(service.get("stop_grace_period", "10s")) >= 60, f"{name}: stop_grace_period under 60 s"


def test_sandbox_only_under_its_profile() -> None:
    all_services = services()
    sandbox = all_services["sandbox"]
    assert sandbox.get("profiles") == ["sandbox"], f"sandbox profiles: {sandbox.get('profiles')}"
    command = command_of(sandbox)
    assert command[:1] == ["sandbox"], f"sandbox runs {command}"
    assert option_value(command, "--host") == "0.0.0.0" and option_value(command, "--port") == "8765", \
        "the sandbox must listen on 0.0.0.0:8765 inside the compose network"
    assert "/_sandbox/" in " ".join(strings_in(sandbox["healthcheck"]["test"])), "sandbox health check"
    for name, service in all_services.items():
        assert service.get("profiles") or role(service) != "sandbox", f"{name}: sandbox outside its profile"
        assert "sandbox" not in depends_on(service) or service.get("profiles"), f"{name} needs the sandbox profile"


def test_app_services_share_env_and_in_compose_defaults() -> None:
    for name, service in services().items():
        if role(service) in ("worker", "beat", "db", "metrics"):
            assert ".env" in env_files(service), f"{name}: no env_file .env"
            env = env_mapping(service)
            for variable, default in (("SOCIALCAL_DATABASE_URL", COMPOSE_DATABASE_URL),
                                      ("SOCIALCAL_BROKER_URL", COMPOSE_BROKER_URL)):
                found = interpolations(env.get(variable, ""))
                assert found and found[0][:3] == (variable, ":-", default), \
                    f"{name}: {variable} should be ${{{variable}:-{default}}}"


def test_no_secret_values_in_compose() -> None:
    for name, service in services().items():
        env = env_mapping(service)
        for secret in ("SOCIALCAL_ENCRYPTION_KEYS", "SOCIALCAL_FB_APP_SECRET"):
            assert secret not in env, f"{name}: {secret} belongs in .env, not in docker-compose.yml"


def test_monitoring_only_under_its_profile() -> None:
    all_services = services()
    for name, service in all_services.items():
        if name in MONITORING:
            assert service.get("profiles") == ["monitoring"], f"{name}: profiles {service.get('profiles')}"
        else:
            assert not set(depends_on(service)) & MONITORING, f"{name} needs a monitoring service"
    assert command_of(all_services["metrics"])[:1] == ["metrics"], "the state exporter runs `socialcal metrics`"
    assert str(all_services["flower"]["image"]).startswith("mher/flower:")
    assert str(all_services["prometheus"]["image"]).startswith("prom/prometheus:")
    for name in ("flower", "prometheus"):  # neither has authentication
        assert all(str(port).startswith("127.0.0.1:") for port in all_services[name].get("ports", [])), \
            f"{name} must be published on the host's loopback only"


def test_flower_reads_the_broker_socialcal_uses() -> None:
    env = env_mapping(services()["flower"])
    found = interpolations(env.get("CELERY_BROKER_URL", ""))
    assert found and found[0][:3] == ("SOCIALCAL_BROKER_URL", ":-", COMPOSE_BROKER_URL)
    assert depends_on(services()["flower"]).get("redis", {}).get("condition") == "service_healthy"


def test_prometheus_scrapes_every_worker_and_the_state_exporter() -> None:
    all_services = services()
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    workers = [name for name, s in all_services.items() if role(s) == "worker"]
    port = env_mapping(all_services[workers[0]])["SOCIALCAL_METRICS_PORT"]
    worker_port = int(interpolations(port)[0][2])
    discovered = {(name, sd["port"]) for sd in jobs["socialcal-workers"]["dns_sd_configs"] for name in sd["names"]}
    for name in workers:
        assert (name, worker_port) in discovered, f"Prometheus does not scrape {name} on {worker_port}"
        assert str(worker_port) in [str(p) for p in all_services[name].get("expose", [])], f"{name}: expose the port"
    exporter_port = option_value(command_of(all_services["metrics"]), "--port")
    assert jobs["socialcal-state"]["static_configs"][0]["targets"] == [f"metrics:{exporter_port}"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in all_services["prometheus"]["volumes"] if v.startswith(".")}
    assert mounts.get("/etc/prometheus/prometheus.yml") == "./monitoring/prometheus.yml"
    assert mounts.get("/etc/prometheus/alerts.yml") == "./monitoring/alerts.yml"
    assert "/etc/prometheus/alerts.yml" in config["rule_files"]


def test_alert_rules_use_metrics_socialcal_exports() -> None:
    exported = exported_metric_names()
    rules = [rule for group in yaml.safe_load(ALERT_RULES.read_text())["groups"] for rule in group["rules"]]
    assert len(rules) >= 2
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert rule["alert"].startswith("Socialcal") and rule["expr"].strip()
        used = set(re.findall(r"\bsocialcal_[a-z_]+", rule["expr"]))
        assert used and used <= exported, f"{rule['alert']} uses unknown metrics {sorted(used - exported)}"
        if "for" in rule:
            seconds(rule["for"])
    readme = (ROOT / "README.md").read_text()
    shown = [block for block in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "alert:" in block]
    assert shown, "README documents no alert rule"
    shown_rules = [r for block in shown for r in (yaml.safe_load(block) or [])]
    assert len(shown_rules) >= 2 and all(r in rules for r in shown_rules), "README alerts differ from monitoring/alerts.yml"


def exported_metric_names() -> set[str]:
    """Every series name socialcal exposes: counters (+_total), histograms (+_bucket/_count/_sum), gauges."""
    from prometheus_client import Counter, Histogram

    from worker.core import metrics

    names: set[str] = set()
    for value in vars(metrics).values():
        if isinstance(value, Counter):
            names |= {value._name + "_total"}
        elif isinstance(value, Histogram):
            names |= {value._name + suffix for suffix in ("_bucket", "_count", "_sum")}
    source = (ROOT / "tasks" / "domain" / "state_metrics.py").read_text()
    names |= set(re.findall(r'"(socialcal_[a-z_]+)"', source))
    return names


# ------------------------------------------------------------------------------------ .env.example


def test_env_example_lists_every_setting() -> None:
    shown = set(example_assignments())
    wanted = settings_variables()
    assert not wanted - shown, f".env.example lacks {sorted(wanted - shown)}"
    stale = {n for n in shown if n.startswith("SOCIALCAL_")} - wanted
    assert not stale, f".env.example shows variables worker/core/settings.py does not read: {sorted(stale)}"


def test_env_example_shows_true_defaults_and_no_secrets() -> None:
    shown = example_assignments()
    set_lines = example_assignments(commented=False)
    assert set_lines.get("SOCIALCAL_ENCRYPTION_KEYS") == [""], "SOCIALCAL_ENCRYPTION_KEYS must be left blank"
    assert all(value == "" for values in set_lines.values() for value in values), \
        f"only blanks may be set in .env.example: {set_lines}"
    defaults = Settings()
    for name, values in shown.items():
        if name in ("SOCIALCAL_DATABASE_URL", "SOCIALCAL_BROKER_URL") or not name.startswith("SOCIALCAL_"):
            continue
        assert any(Settings.from_env({name: value}) == defaults for value in values), \
            f".env.example shows {name}={values}, none of which is the default"
    assert shown["SOCIALCAL_DATABASE_URL"] == [COMPOSE_DATABASE_URL]
    assert shown["SOCIALCAL_BROKER_URL"] == [COMPOSE_BROKER_URL]
    sandbox_url = f"http://sandbox:8765/{DEFAULT_GRAPH_VERSION}"
    assert sandbox_url in shown["SOCIALCAL_GRAPH_URL"] and sandbox_url in shown["SOCIALCAL_GRAPH_VIDEO_URL"]
    assert "socialcal keys generate" in ENV_EXAMPLE.read_text()


# -------------------------------------------------------------------------- Dockerfile, .dockerignore


def test_dockerfile_runs_socialcal_as_non_root() -> None:
    instructions = dockerfile_instructions()
    froms = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert froms and froms[-1].split()[0] == "python:3.11-slim"
    entrypoints = [exec_form(rest) for keyword, rest in instructions if keyword == "ENTRYPOINT"]
    assert entrypoints and entrypoints[-1] == ["socialcal"], 'ENTRYPOINT must be exec-form ["socialcal"]'
    cmds = [exec_form(rest) for keyword, rest in instructions if keyword == "CMD"]
    assert cmds and (cmds[-1] or [""])[0] == "worker", 'CMD must be exec-form ["worker", ...]'
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users, "no USER: the container would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"USER {users[-1]} is root"


def test_dockerfile_installs_every_package_without_extras_or_secrets() -> None:
    instructions = dockerfile_instructions()
    copied = " ".join(rest for keyword, rest in instructions if keyword in ("COPY", "ADD"))
    includes = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    for package in {pattern.rstrip("*").rstrip(".") for pattern in includes}:
        assert re.search(rf"(^|\s){package}(\s|/)", copied), f"the Dockerfile does not copy package {package}"
    assert "pyproject.toml" in copied
    assert not any(keyword == "COPY" and rest.split()[0] == "." for keyword, rest in instructions), \
        "copy only what the install needs, not the whole build context"
    runs = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    assert re.search(r"pip install[^&]*\s\.(\s|$)", runs), "the project is not pip-installed from pyproject"
    assert "[test]" not in runs and "-e " not in runs, "no test extras, no editable install in the image"
    for keyword, rest in instructions:
        if keyword in ("ENV", "ARG"):
            assert not re.search(r"ENCRYPTION_KEYS|APP_SECRET|TOKEN|PASSWORD", rest, re.I), f"{keyword} {rest}: a secret"
        if keyword in ("COPY", "ADD"):
            assert ".env" not in rest.split(), "never copy .env into the image"


def test_dockerignore_keeps_local_state_out() -> None:
    patterns = {line.strip() for line in DOCKERIGNORE.read_text().splitlines()
                if line.strip() and not line.startswith("#")}
    for wanted in (".venv", ".git", "test-results", ".env"):
        assert wanted in patterns, f".dockerignore lacks {wanted}"
    assert {"__pycache__", "**/__pycache__"} & patterns
    assert {"*.db", "**/*.db"} & patterns
