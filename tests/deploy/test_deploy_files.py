"""The container and Kubernetes files: Dockerfile, compose.yaml and deploy/k8s.

No Docker daemon or cluster runs here, so the checks are static, but each is made against
the real thing: hadolint for the Dockerfile; the CLI's own click commands (and Dagster's
--help) for every command line the files run; the Kubernetes API schemas
(kubernetes-validate) for the manifests; the Dagster chart's schema for its values; and
the settings, metrics and instance config the code actually has.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
import subprocess
import sys
import tomllib
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import click
import jsonschema
import kubernetes_validate
import pytest
import yaml
from referencing import Registry
from referencing.jsonschema import DRAFT202012

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
K8S = ROOT / "deploy" / "k8s"
CHART = K8S / "schema" / "dagster-1.9.3"
# Not Kubernetes objects: kustomize's own file and the Helm chart's values.
MANIFESTS = sorted(
    p for p in K8S.glob("*.yaml") if p.name not in {"kustomization.yaml", "dagster-values.yaml"}
)
# The oldest Kubernetes the manifests must suit, and the newest the validator knows.
K8S_VERSIONS = ("1.29", kubernetes_validate.latest_version())
GPU = "nvidia.com/gpu"
PLACEHOLDER = "REPLACE_ME"
# Variables of scripts/setup.sh, not settings.
SETUP_VARIABLES = {"VOICEMILL_EXTRAS", "VOICEMILL_SKIP_DOTENV"}
# Below these keys of the Helm values, the keys are Kubernetes' or Dagster's instance config.
FREE_FORM_VALUES = {
    "additionalInstanceConfig", "runK8sConfig", "volumes", "volumeMounts", "resources",
    "podSecurityContext", "securityContext", "envConfigMaps", "envSecrets",
}  # fmt: skip
# voicemill commands that hand their arguments to a Dagster CLI, and that CLI's command.
PASSTHROUGH = {
    "dagster-webserver": ("dagster-webserver",),
    "dagster-daemon": ("dagster-daemon", "run"),
}


# -- helpers -------------------------------------------------------------------


def load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@functools.cache
def compose_services() -> dict[str, dict[str, Any]]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]


@functools.cache
def k8s_objects() -> tuple[dict[str, Any], ...]:
    return tuple(doc for path in MANIFESTS for doc in load_all(path))


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in k8s_objects() if doc["kind"] == kind]


def containers() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(Deployment, container) for every container the manifests run."""
    for deployment in of_kind("Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            yield deployment, container


def argv(container: dict[str, Any]) -> list[str]:
    return [*container.get("command", []), *container.get("args", [])]


def compose_env(service: str) -> dict[str, str]:
    """A service's environment as compose hands it over: ${VAR...} filled in (with a
    URL-safe value, as the passwords must be)."""
    return {
        key: re.sub(r"\$\{(\w+)(?::?[-?][^}]*)?\}", "0123abcd", str(value))
        for key, value in compose_services()[service]["environment"].items()
    }


def app_services() -> list[str]:
    """The compose services that run the VoiceMill image."""
    return sorted(
        name for name, s in compose_services().items() if s.get("image") == "voicemill:latest"
    )


def resolve(root: click.Group, args: list[str]) -> tuple[click.Command, list[str], click.Context]:
    """Walk the subcommands as click would: the leaf command, its arguments and the
    context of the group above it."""
    parent = click.Context(root, info_name="voicemill")
    command: click.Command = root
    while isinstance(command, click.Group):
        name, *args = args
        sub = command.get_command(parent, name)
        assert sub is not None, f"no command {name!r} in {parent.command_path!r}"
        if isinstance(sub, click.Group):
            parent = click.Context(sub, info_name=name, parent=parent)
        command = sub
    return command, args, parent


@functools.cache
def help_options() -> dict[tuple[str, ...], frozenset[str]]:
    """The options Dagster's own CLIs accept, read from their --help (run side by side)."""
    commands = [*PASSTHROUGH.values(), ("dagster", "api", "grpc")]
    bindir = Path(sys.executable).parent
    procs = {
        cmd: subprocess.Popen(
            [str(bindir / cmd[0]), *cmd[1:], "--help"], stdout=subprocess.PIPE, text=True
        )
        for cmd in commands
    }
    options = {}
    for cmd, proc in procs.items():
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{' '.join(cmd)} --help failed"
        # Option lines are indented by two spaces; their descriptions wrap deeper.
        options[cmd] = frozenset(
            flag
            for line in out.splitlines()
            if (m := re.match(r"^  (-[^\s,]+(?:, -[^\s,]+)*)", line))
            for flag in m.group(1).split(", ")
        )
    return options


def check_help_options(command: tuple[str, ...], args: list[str]) -> None:
    """Dagster's ``command`` knows every option in ``args``."""
    flags = {a.split("=", 1)[0] for a in args if a.startswith("-")}
    unknown = flags - help_options()[command]
    assert not unknown, f"{' '.join(command)} has no option {sorted(unknown)}"


def parse_voicemill(args: list[str]) -> click.Context | None:
    """Parse a ``voicemill …`` command line as the CLI would run it (unknown options and bad
    values raise click.UsageError); None for commands that forward to a Dagster CLI."""
    from voicemill.cli import main

    assert args[0] == "voicemill", args
    command, rest, parent = resolve(main, args[1:])
    if command.context_settings.get("ignore_unknown_options"):
        assert command.name in PASSTHROUGH, f"unchecked passthrough command {command.name}"
        check_help_options(PASSTHROUGH[command.name], rest)
        return None
    return command.make_context(command.name, rest, parent=parent)


def worker_queue_kinds() -> set[str]:
    """The queue kinds ``voicemill worker --queues`` takes: those the executor routes to."""
    from voicemill.orchestration.executors import queue

    return set(typing.get_args(typing.get_type_hints(queue)["kind"]))


def check_settings(env: dict[str, Any]) -> None:
    """Every VOICEMILL_* variable names a setting, with a value the settings accept."""
    from voicemill.settings import Settings

    ours = {
        k.removeprefix("VOICEMILL_").lower(): v
        for k, v in env.items()
        if k.startswith("VOICEMILL_")
    }
    unknown = set(ours) - set(Settings.model_fields)
    assert not unknown, f"no such settings: {sorted(unknown)}"
    Settings(**ours)


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    instructions, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.lstrip().startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full, pending = (pending + line).strip(), ""
        if full:
            keyword, _, rest = full.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def final_stage() -> list[tuple[str, str]]:
    steps = dockerfile()
    start = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[start:]


def dockerfile_env(stage: list[tuple[str, str]]) -> dict[str, str]:
    return dict(
        item.split("=", 1)
        for keyword, rest in stage
        if keyword == "ENV"
        for item in shlex.split(rest)
    )


def image_extras() -> list[str]:
    """The extras the image installs (the Dockerfile's VOICEMILL_EXTRAS default)."""
    (extras,) = [
        rest.split("=", 1)[1]
        for keyword, rest in dockerfile()
        if keyword == "ARG" and rest.startswith("VOICEMILL_EXTRAS=")
    ]
    return extras.split(",")


def image_uid() -> int:
    (user,) = [rest for keyword, rest in final_stage() if keyword == "USER"]
    return int(user.split(":")[0])


def helm_merge(defaults: Any, values: Any) -> Any:
    """Helm's coalescing of a values file over a chart's defaults: mappings merge key by
    key, null removes a key, anything else (lists included) replaces."""
    if not (isinstance(defaults, dict) and isinstance(values, dict)):
        return values
    merged = dict(defaults)
    for key, value in values.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = helm_merge(defaults.get(key), value)
    return merged


def chart_validator(schema_path: Path) -> jsonschema.Draft202012Validator:
    """The chart's schema; the Kubernetes definitions it refers to by URL come from
    kubernetes-validate (non-strict, as the chart's own defaults need)."""
    text = schema_path.read_text()
    definitions_file = (
        Path(kubernetes_validate.__file__).parent
        / "kubernetes-json-schema"
        / f"v{K8S_VERSIONS[0]}.0-local"
        / "_definitions.json"
    )
    definitions = json.loads(definitions_file.read_text())["$defs"]
    k8s = DRAFT202012.create_resource({"$defs": definitions, "definitions": definitions})
    uris = set(re.findall(r'"(https://kubernetesjsonschema\.dev/[^"#]+)', text))
    registry = Registry().with_resources((uri, k8s) for uri in uris)
    return jsonschema.Draft202012Validator(json.loads(text), registry=registry)


@functools.cache
def dagster_values() -> dict[str, Any]:
    return yaml.safe_load((K8S / "dagster-values.yaml").read_text())


def chart_values() -> dict[str, Any]:
    """What Helm would render with: the chart's defaults under dagster-values.yaml."""
    return helm_merge(yaml.safe_load((CHART / "values.yaml").read_text()), dagster_values())


def code_server() -> dict[str, Any]:
    (deployment,) = dagster_values()["dagster-user-deployments"]["deployments"]
    return deployment


def config_map_data(names: list[str]) -> dict[str, str]:
    maps = {cm["metadata"]["name"]: cm["data"] for cm in of_kind("ConfigMap")}
    return {k: v for name in names for k, v in maps[name].items()}


def env_sources(container: dict[str, Any], kind: str) -> list[str]:
    return [src[kind]["name"] for src in container.get("envFrom", []) if kind in src]


# -- Dockerfile ----------------------------------------------------------------


def test_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    result = subprocess.run(
        [str(hadolint), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_runs_unprivileged_without_the_embedded_database() -> None:
    assert image_uid() != 0
    env = dockerfile_env(final_stage())
    assert env["VOICEMILL_EMBEDDED_DATABASE"] == "false"
    assert env["VOICEMILL_HOME"] == "/data"
    assert env["PATH"].startswith("/app/.venv/bin:")
    check_settings({k: v for k, v in env.items() if k not in SETUP_VARIABLES})


def test_image_default_command_and_healthcheck() -> None:
    stage = final_stage()
    (cmd,) = [json.loads(rest) for keyword, rest in stage if keyword == "CMD"]
    ctx = parse_voicemill(cmd)
    assert ctx is not None and ctx.command.name == "serve"
    (healthcheck,) = [rest for keyword, rest in stage if keyword == "HEALTHCHECK"]
    assert f"http://127.0.0.1:{ctx.params['port']}/healthz" in healthcheck
    assert f"EXPOSE {ctx.params['port']}" in {f"{k} {r}" for k, r in stage}


def test_image_installs_with_the_setup_script() -> None:
    """Both stages run scripts/setup.sh, which honours the variables the build sets."""
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    for variable in SETUP_VARIABLES:
        assert variable in setup
    stages = " ".join(rest for keyword, rest in dockerfile() if keyword in {"FROM", "RUN"})
    assert re.search(r"AS build .*scripts/setup\.sh.* AS runtime .*scripts/setup\.sh", stages)
    assert dockerfile_env(final_stage())["VOICEMILL_SKIP_DOTENV"] == "1"
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert set(image_extras()) <= set(declared["optional-dependencies"])


def test_image_carries_no_weights_state_or_secrets() -> None:
    for keyword, rest in dockerfile():
        if keyword in {"COPY", "ADD"}:
            assert not re.search(r"\.(pth|ckpt|pt|safetensors)\b|\.voicemill|\.env\b", rest)
    ignored = set((ROOT / ".dockerignore").read_text().splitlines())
    assert {".voicemill", ".venv", ".env", ".git", "**/*.pth", "**/*.ckpt"} <= ignored
    # setup.sh installs the parity peer from this file: the build context keeps it.
    assert "tests/parity/peer-requirements.txt" in (ROOT / "scripts" / "setup.sh").read_text()
    assert "!tests/parity/peer-requirements.txt" in ignored


# -- compose.yaml --------------------------------------------------------------


@pytest.mark.parametrize("service", app_services())
def test_compose_commands_exist_in_the_cli(service: str) -> None:
    command = compose_services()[service]["command"]
    assert isinstance(command, list), "exec form, so no shell reinterprets it"
    parse_voicemill(command)


def test_compose_workers_consume_every_queue() -> None:
    consumed = set()
    for service in app_services():
        ctx = parse_voicemill(compose_services()[service]["command"])
        if ctx is not None and ctx.command.name == "worker":
            consumed |= set(ctx.params["queues"].split(","))
    assert consumed == worker_queue_kinds()


def test_compose_app_services_share_settings_and_state() -> None:
    for name in app_services():
        service = compose_services()[name]
        env = compose_env(name)
        assert urlparse(env["VOICEMILL_DATABASE_URL"]).hostname == "postgres", name
        assert env["VOICEMILL_HOME"] == "/data", name
        assert env["VOICEMILL_EXECUTOR"] == "celery", name
        assert "voicemill-data:/data" in service["volumes"], name
        assert service["build"] == ".", name
        check_settings(env)


def test_compose_mlflow_serves_the_store_and_the_others_reach_it() -> None:
    from mlflow.server.security_utils import is_allowed_host_header

    assert "VOICEMILL_MLFLOW_TRACKING_URI" not in compose_env("mlflow")
    ctx = parse_voicemill(compose_services()["mlflow"]["command"])
    assert ctx is not None
    allowed = compose_env("mlflow")["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")
    for name in set(app_services()) - {"mlflow"}:
        uri = urlparse(compose_env(name)["VOICEMILL_MLFLOW_TRACKING_URI"])
        assert (uri.hostname, uri.port) == ("mlflow", ctx.params["port"]), name
        assert is_allowed_host_header(allowed, uri.netloc), f"MLflow would refuse {name}"


def test_compose_publishes_only_the_ui_and_service_on_loopback() -> None:
    published = set()
    for name, service in compose_services().items():
        for port in service.get("ports", []):
            host_ip, _, container_port = str(port).split(":")
            assert host_ip == "127.0.0.1", f"{name} publishes {port} beyond loopback"
            # The container side is the port the command binds.
            command = service["command"]
            ctx = parse_voicemill(command)
            bound = ctx.params["port"] if ctx else int(command[command.index("-p") + 1])
            assert int(container_port) == bound, name
            published.add(name)
    assert published == {"serve", "dagster-webserver", "mlflow"}


def test_compose_migrates_before_anything_else_starts() -> None:
    services = compose_services()
    assert services["migrate"]["command"] == ["voicemill", "db", "migrate"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    for name in set(app_services()) - {"migrate"}:
        condition = services[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", name


# -- Kubernetes manifests ------------------------------------------------------


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifests_validate(path: Path, version: str) -> None:
    for doc in load_all(path):
        kubernetes_validate.validate(doc, version, strict=True)


def test_kustomization_applies_every_manifest_but_the_example_secret() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert set(kustomization["resources"]) == {p.name for p in MANIFESTS} - {"secret.example.yaml"}
    images = {image["name"] for image in kustomization["images"]}
    assert {c["image"] for _, c in containers()} <= images


def test_secret_example_holds_only_placeholders() -> None:
    for secret in load_all(K8S / "secret.example.yaml"):
        for key, value in secret["stringData"].items():
            assert PLACEHOLDER in value, key


def test_k8s_commands_exist_in_the_cli() -> None:
    for deployment, container in containers():
        assert parse_voicemill(argv(container)) is not None, deployment["metadata"]["name"]


def test_k8s_settings_are_settings() -> None:
    for cm in of_kind("ConfigMap"):
        check_settings(cm["data"])
    for secret in load_all(K8S / "secret.example.yaml"):
        check_settings({k: v for k, v in secret["stringData"].items() if k.startswith("VOICEMILL")})


def test_pods_run_as_the_image_user_on_the_shared_volume() -> None:
    (claim,) = of_kind("PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    for deployment, container in containers():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == image_uid()
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        volumes = {v["name"]: v for v in pod["volumes"]}
        (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/data"]
        source = volumes[mount["name"]]["persistentVolumeClaim"]["claimName"]
        assert source == claim["metadata"]["name"]


def test_k8s_env_sources_exist_and_only_mlflow_serves_the_store() -> None:
    config_maps = {cm["metadata"]["name"] for cm in of_kind("ConfigMap")}
    secrets = {s["metadata"]["name"] for s in load_all(K8S / "secret.example.yaml")}
    for deployment, container in containers():
        maps = env_sources(container, "configMapRef")
        assert set(maps) <= config_maps
        assert set(env_sources(container, "secretRef")) <= secrets
        env = config_map_data(maps)
        serves_store = argv(container)[:3] == ["voicemill", "mlflow", "ui"]
        assert ("VOICEMILL_MLFLOW_TRACKING_URI" in env) != serves_store, deployment
        assert env["VOICEMILL_EMBEDDED_DATABASE"] == "false"


def test_k8s_clients_reach_the_mlflow_service() -> None:
    from mlflow.server.security_utils import is_allowed_host_header

    (uri,) = {
        v
        for cm in of_kind("ConfigMap")
        for k, v in cm["data"].items()
        if k.endswith("TRACKING_URI")
    }
    uri = urlparse(uri)
    services = {s["metadata"]["name"]: s for s in of_kind("Service")}
    service = services[uri.hostname]
    assert uri.port in {p["port"] for p in service["spec"]["ports"]}
    ((deployment, container),) = [
        (d, c) for d, c in containers() if argv(c)[:3] == ["voicemill", "mlflow", "ui"]
    ]
    assert deployment["spec"]["template"]["metadata"]["labels"].items() >= (
        service["spec"]["selector"].items()
    )
    ctx = parse_voicemill(argv(container))
    assert ctx.params["port"] in {p["containerPort"] for p in container["ports"]}
    env = {e["name"]: e["value"] for e in container["env"]}
    allowed = env["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")
    assert is_allowed_host_header(allowed, uri.netloc)
    assert is_allowed_host_header(allowed, f"{uri.hostname}.voicemill.svc.cluster.local:{uri.port}")


def serve_container() -> tuple[dict[str, Any], dict[str, Any]]:
    ((deployment, container),) = [
        (d, c) for d, c in containers() if argv(c)[:2] == ["voicemill", "serve"]
    ]
    return deployment, container


def test_serve_probes_use_readiness_and_liveness_endpoints() -> None:
    _, container = serve_container()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == parse_voicemill(argv(container)).params["port"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    startup = container["startupProbe"]
    assert startup["httpGet"]["path"] == "/healthz"
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] == "http"
    assert container["resources"]["requests"].keys() >= {"cpu", "memory"}


def test_serve_service_autoscaler_and_budget_target_the_deployment() -> None:
    deployment, _ = serve_container()
    name = deployment["metadata"]["name"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    (service,) = [s for s in of_kind("Service") if s["metadata"]["name"] == name]
    assert labels.items() >= service["spec"]["selector"].items()
    (hpa,) = of_kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": name,
    }
    (pdb,) = of_kind("PodDisruptionBudget")
    assert labels.items() >= pdb["spec"]["selector"]["matchLabels"].items()
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]


def test_autoscaler_metric_is_a_gauge_the_service_exports() -> None:
    from prometheus_client.metrics import MetricWrapperBase

    from voicemill.api.metrics import Metrics
    from voicemill.api.pool import LANES

    metrics = Metrics()
    exported = {
        family.name: (family.type, metric)
        for metric in vars(metrics).values()
        if isinstance(metric, MetricWrapperBase)
        for family in metric.describe()
    }
    (hpa,) = of_kind("HorizontalPodAutoscaler")
    for spec in hpa["spec"]["metrics"]:
        assert spec["type"] == "Pods"
        name = spec["pods"]["metric"]["name"]
        assert name in exported, f"/metrics has no {name}"
        kind, metric = exported[name]
        assert kind == "gauge", "an average of a counter means nothing without rate()"
        selector = spec["pods"]["metric"].get("selector", {}).get("matchLabels", {})
        if selector:
            metric.labels(**selector)  # raises unless these are the metric's labels
        if "lane" in selector:
            assert selector["lane"] in LANES


def test_workers_consume_every_queue_and_shard_workers_get_a_gpu() -> None:
    consumed = set()
    for deployment, container in containers():
        ctx = parse_voicemill(argv(container))
        if ctx.command.name != "worker":
            continue
        queues = set(ctx.params["queues"].split(","))
        consumed |= queues
        if "shards" in queues:
            assert int(container["resources"]["limits"][GPU]) >= 1, deployment["metadata"]
        env = {e["name"]: e for e in container.get("env", [])}
        # The steps open the run's instance, the chart's, whose password comes from here.
        secret = env["DAGSTER_PG_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert secret == {
            "name": dagster_values()["global"]["postgresqlSecretName"],
            "key": "postgresql-password",
        }
    assert consumed == worker_queue_kinds()


# -- Dagster's Helm chart ------------------------------------------------------


def test_dagster_values_validate_against_the_chart_schema() -> None:
    values = chart_values()
    errors = list(chart_validator(CHART / "values.schema.json").iter_errors(values))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]
    subchart_defaults = yaml.safe_load(
        (CHART / "dagster-user-deployments" / "values.yaml").read_text()
    )
    subchart = helm_merge(subchart_defaults, values["dagster-user-deployments"])
    subchart["global"] = helm_merge(subchart_defaults["global"], values["global"])
    validator = chart_validator(CHART / "dagster-user-deployments" / "values.schema.json")
    errors = list(validator.iter_errors(subchart))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]


def test_dagster_values_keys_are_the_charts() -> None:
    """A misspelt key passes the schema wherever it allows extra keys: every key we set
    must appear in the chart's values.yaml (set or documented in a comment)."""
    documented = set(re.findall(r"^\s*#?\s*([\w-]+):", (CHART / "values.yaml").read_text(), re.M))

    def keys(node: Any, free: bool) -> Iterator[str]:
        if isinstance(node, list):
            for item in node:
                yield from keys(item, free)
        elif isinstance(node, dict):
            for key, value in node.items():
                if not free:
                    yield key
                yield from keys(value, free or key in FREE_FORM_VALUES)

    assert set(keys(dagster_values(), free=False)) <= documented


def test_dagster_values_kubernetes_parts_are_valid_kubernetes() -> None:
    """The chart's schema checks these loosely; as parts of a pod they must pass strictly."""
    server = code_server()
    run_pod = dagster_values()["runLauncher"]["config"]["k8sRunLauncher"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": server["name"]},
        "spec": {
            "securityContext": server["podSecurityContext"],
            "volumes": server["volumes"],
            "containers": [
                {
                    "name": "code-server",
                    "image": f"{server['image']['repository']}:{server['image']['tag']}",
                    "securityContext": server["securityContext"],
                    "resources": server["resources"],
                    "volumeMounts": server["volumeMounts"],
                    "envFrom": [{"configMapRef": ref} for ref in server["envConfigMaps"]]
                    + [{"secretRef": ref} for ref in server["envSecrets"]],
                }
            ],
        },
    }
    run = {**pod, "spec": {**pod["spec"], **run_pod["runK8sConfig"]["podSpecConfig"]}}
    for version in K8S_VERSIONS:
        kubernetes_validate.validate(pod, version, strict=True)
        kubernetes_validate.validate(run, version, strict=True)
    assert server["podSecurityContext"]["runAsUser"] == image_uid()
    assert run_pod["runK8sConfig"]["podSpecConfig"]["securityContext"]["runAsUser"] == image_uid()


def test_dagster_values_point_at_the_platform() -> None:
    """The code server loads VoiceMill's definitions with the settings, secrets and volume
    the manifests define, and the chart's instance is the platform's Dagster database."""
    from voicemill.db.server import Database, database_url
    from voicemill.settings import Settings

    server = code_server()
    args = server["dagsterApiGrpcArgs"]
    check_help_options(("dagster", "api", "grpc"), args)
    module = args[args.index("-m") + 1]
    workspace = yaml.safe_load((ROOT / "workspace.yaml").read_text())
    assert module == workspace["load_from"][0]["python_module"]["module_name"]
    config_maps = {cm["metadata"]["name"] for cm in of_kind("ConfigMap")}
    secrets = {s["metadata"]["name"]: s for s in load_all(K8S / "secret.example.yaml")}
    run_pod = dagster_values()["runLauncher"]["config"]["k8sRunLauncher"]
    # Both are clients of the MLflow server, like every pod but its own.
    for source in (server, run_pod):
        assert {ref["name"] for ref in source["envConfigMaps"]} == config_maps
        assert {ref["name"] for ref in source["envSecrets"]} <= set(secrets)
    (claim,) = of_kind("PersistentVolumeClaim")
    (volume,) = server["volumes"]
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert server["volumeMounts"] == [{"name": volume["name"], "mountPath": "/data"}]
    values = dagster_values()
    password_secret = secrets[values["global"]["postgresqlSecretName"]]
    assert "postgresql-password" in password_secret["stringData"]
    assert values["generatePostgresqlPasswordSecret"] is False
    postgres = values["postgresql"]
    assert postgres["enabled"] is False
    app_url = secrets["voicemill"]["stringData"]["VOICEMILL_DATABASE_URL"]
    assert urlparse(app_url).username == postgres["postgresqlUsername"]
    dagster_url = database_url(Database.DAGSTER, settings=Settings(database_url=app_url))
    assert postgres["postgresqlDatabase"] == urlparse(dagster_url).path.lstrip("/")


def test_image_has_what_the_charts_instance_loads() -> None:
    """The chart's instance config names K8sRunLauncher (dagster_k8s) and PostgreSQL
    storage (dagster_postgres), so the code location's image must install both: Dagster's
    Kubernetes guide asks for them, since run pods load that instance."""
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    installed = [
        *project["dependencies"],
        *(r for extra in image_extras() for r in project["optional-dependencies"][extra]),
    ]
    names = {Requirement(r).name.replace("_", "-").lower() for r in installed}
    assert {"dagster-k8s", "dagster-postgres"} <= names


def test_dagster_instance_matches_dagster_yaml() -> None:
    """The chart's instance applies dagster.yaml's limits, and keeps step outputs where the
    platform's does under VOICEMILL_HOME=/data (the volume the Celery workers share)."""
    from voicemill.settings import Settings

    ours = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    values = chart_values()
    extra = values["additionalInstanceConfig"]
    assert extra["concurrency"] == ours["concurrency"]
    # Dagster refuses run limits in both run_coordinator and concurrency: the chart must
    # render no run_coordinator block (the default coordinator is the queued one).
    assert values["dagsterDaemon"]["runCoordinator"]["enabled"] is False
    artifacts = extra["local_artifact_storage"]
    assert {k: artifacts[k] for k in ("module", "class")} == {
        k: ours["local_artifact_storage"][k] for k in ("module", "class")
    }
    home = Settings(home=Path("/data"))
    assert artifacts["config"]["base_dir"] == str(home.dagster_storage_dir / "artifacts")
    monitoring = values["dagsterDaemon"]["runMonitoring"]
    camel = {
        re.sub(r"_(\w)", lambda m: m.group(1).upper(), k): v
        for k, v in ours["run_monitoring"].items()
    }
    assert {k: monitoring[k] for k in camel} == camel
    retries = values["dagsterDaemon"]["runRetries"]
    assert (retries["enabled"], retries["maxRetries"]) == (
        ours["run_retries"]["enabled"],
        ours["run_retries"]["max_retries"],
    )
    assert values["telemetry"]["enabled"] is ours["telemetry"]["enabled"]
