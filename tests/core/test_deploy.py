"""The deployment files agree with each other and with the app: deploy/Dockerfile, deploy/kubernetes.yaml,
deploy/compose.yaml and deploy/haproxy-compose.cfg against deploy/serve.py, its HAProxy template and
app/.streamlit/config.toml. There is no container runtime or cluster here, so nothing is built or applied: the
files are parsed and compared. ``python tests/core/test_deploy.py > deploy/haproxy-compose.cfg`` regenerates the
compose proxy's configuration from the template.

The slow test starts ``python deploy/serve.py app`` (the image's start command) and asks for its health."""
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from fnmatch import fnmatch
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
sys.path.insert(0, str(DEPLOY))
import serve  # noqa: E402  (deploy/ is not a package)

HEALTH = "/_stcore/health"
COMPOSE_APPS = ("app1", "app2", "app3")
COMPOSE_SOCKET = "/var/lib/haproxy/admin.sock"  # the official image's haproxy user owns /var/lib/haproxy
COMPOSE_CHECK = "check resolvers docker init-addr libc,none"  # a restarted container may come back on a new address
COMPOSE_HEADER = ("# deploy/compose.yaml's proxy, made from deploy/haproxy.cfg.template by\n"
                  "#   .venv/bin/python tests/core/test_deploy.py > deploy/haproxy-compose.cfg\n"
                  "# (tests/core/test_deploy.py fails when they differ). Servers are the compose services.\n")
COMPOSE_RESOLVERS = "\nresolvers docker\n    nameserver dns 127.0.0.11:53   # Docker's DNS for the services\n"
# measured (README, "Beyond one machine"), MiB: the web process's peak, one default-preset worker's peak, the
# worker of a network near the builder's cap, multiprocessing's resource tracker
WEB, WORKER, HEAVY_WORKER, TRACKER = 386, 477, 1660, 13
MIB = {"Ki": 2 ** -10, "Mi": 1, "Gi": 2 ** 10}


def compose_proxy_config() -> str:
    port = serve_args()["port"]
    return COMPOSE_HEADER + serve.haproxy_config("*", port, [port] * len(COMPOSE_APPS), COMPOSE_SOCKET,
                                                 hosts=list(COMPOSE_APPS), check=COMPOSE_CHECK) + COMPOSE_RESOLVERS


# ---------------------------------------------------------------------------------------------- the Dockerfile


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) per instruction, continuation lines joined, comments dropped."""
    out, current = [], ""
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        word, _, rest = current.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        current = ""
    return out


def instruction(name: str) -> list[str]:
    return [args for word, args in dockerfile() if word == name]


def cmd() -> list[str]:
    (args,) = instruction("CMD")
    return json.loads(args)


def serve_args() -> dict:
    """What the image's CMD asks deploy/serve.py for (``python deploy/serve.py app --address A --port P``)."""
    command = cmd()
    assert command[:3] == ["python", "deploy/serve.py", "app"], command
    opts = dict(zip(command[3::2], command[4::2]))
    return {"address": opts["--address"], "port": int(opts["--port"])}


def exposed_port() -> int:
    (port,) = instruction("EXPOSE")
    return int(port.split("/")[0])


def test_the_image_starts_the_command_serve_py_starts(monkeypatch):
    """The CMD runs deploy/serve.py's entry point, which execs exactly app_command() on the exposed port."""
    calls = []
    monkeypatch.setattr(os, "chdir", lambda path: calls.append(("chdir", path)))
    monkeypatch.setattr(os, "execve", lambda path, argv, env: calls.append(("execve", path, argv, env)))
    serve.main(cmd()[2:])
    (_, where), (_, path, argv, env) = calls
    assert where == serve.ROOT and path == argv[0] == sys.executable  # the interpreter is the image's python
    assert argv == serve.app_command(8501, "0.0.0.0")
    assert env["PYTHONPATH"] == str(serve.ROOT) and env["OPENBLAS_NUM_THREADS"]
    assert serve_args() == {"address": "0.0.0.0", "port": exposed_port()}
    assert argv[argv.index("--server.port") + 1] == str(exposed_port())


def test_the_image_is_offline_non_root_and_checks_its_health():
    (workdir,) = instruction("WORKDIR")
    (user,) = instruction("USER")
    assert user.isdigit() and int(user) != 0  # numeric, so runAsNonRoot can verify it
    assert instruction("FROM")[0].startswith("python:3.11-slim")
    env = " ".join(instruction("ENV"))
    assert "OPENBLAS_NUM_THREADS=1" in env
    (check,) = instruction("HEALTHCHECK")
    assert f"127.0.0.1:{exposed_port()}{HEALTH}" in check
    assert "pip install -r requirements.txt" in " ".join(instruction("RUN"))
    assert all("==" in line for line in (ROOT / "requirements.txt").read_text().splitlines()
               if line.strip() and not line.startswith("#"))  # the image installs pinned versions
    copied = {dest.rstrip("/") for dest in (shlex.split(a)[-1] for a in instruction("COPY"))}
    assert cmd()[1] in copied and workdir == "/srv/smartflow"  # the start script, relative to WORKDIR


def test_every_copied_file_exists_and_is_not_ignored():
    ignored = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines()
               if p.strip() and not p.startswith("#")]
    for args in instruction("COPY"):
        *sources, _dest = shlex.split(args)
        for src in sources:
            assert (ROOT / src).exists(), src
            first = src.rstrip("/").split("/")[0]
            assert not any(fnmatch(first, p) or fnmatch(src.rstrip("/"), p) for p in ignored), src
    sources = [s.rstrip("/") for a in instruction("COPY") for s in shlex.split(a)[:-1]]
    for needed in ("app/main.py", "app/.streamlit/config.toml", "pages/home.py", "app/lessons/stepper/stepper.js",
                   "smartflow_core/models/pretrained.npz", "smartflow_core/datasets/mnist_subset.npz"):
        assert any(needed == s or needed.startswith(s + "/") for s in sources), needed
    for left_out in (".venv", ".git", "tests", "build", "**/__pycache__"):
        assert left_out in ignored


def test_the_app_bundles_its_data_and_model():
    """What the image copies holds everything the app reads at run time: no download."""
    from smartflow_core import data, persist

    assert persist.PRETRAINED.is_relative_to(ROOT / "smartflow_core") and persist.PRETRAINED.is_file()
    assert data.SUBSET_PATH.is_relative_to(ROOT / "smartflow_core") and data.SUBSET_PATH.is_file()


# ---------------------------------------------------------------------------------------------- Kubernetes


def manifests() -> dict[str, dict]:
    docs = [d for d in yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text()) if d]
    by_kind = {d["kind"]: d for d in docs}
    assert len(by_kind) == len(docs), "one object of each kind"
    return by_kind


def mib(quantity: str) -> float:
    return float(quantity[:-2]) * MIB[quantity[-2:]]


def upload_limit_mb() -> int:
    return tomllib.loads((ROOT / "app" / ".streamlit" / "config.toml").read_text())["server"]["maxUploadSize"]


def container() -> dict:
    (app,) = manifests()["Deployment"]["spec"]["template"]["spec"]["containers"]
    return app


def port_number(name_or_number) -> int:
    if isinstance(name_or_number, int):
        return name_or_number
    (port,) = [p["containerPort"] for p in container()["ports"] if p["name"] == name_or_number]
    return port


def test_the_deployment_serves_the_image_port_with_health_probes():
    app = container()
    assert [p["containerPort"] for p in app["ports"]] == [exposed_port()]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = app[probe]["httpGet"]
        assert get["path"] == HEALTH and port_number(get["port"]) == exposed_port(), probe
    assert "command" not in app and "args" not in app  # the image's own start command
    deployment = manifests()["Deployment"]
    assert deployment["spec"]["replicas"] >= 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert str(pod["securityContext"]["runAsUser"]) == instruction("USER")[0]
    assert pod["terminationGracePeriodSeconds"] > 5 + 3  # the preStop pause and Streamlit's own stop
    labels = deployment["spec"]["selector"]["matchLabels"]
    assert deployment["spec"]["template"]["metadata"]["labels"] == labels
    assert manifests()["Service"]["spec"]["selector"] == labels
    assert manifests()["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == labels


def test_every_pod_gets_the_same_cookie_secret_and_the_run_cap():
    env = {e["name"]: e for e in container()["env"]}
    ref = env["STREAMLIT_SERVER_COOKIE_SECRET"]["valueFrom"]["secretKeyRef"]
    head = (DEPLOY / "kubernetes.yaml").read_text().split("apiVersion")[0]
    assert f"secret generic {ref['name']}" in head and f"--from-literal={ref['key']}=" in head
    assert int(env["SMARTFLOW_MAX_RUNS"]["value"]) >= 1


def test_memory_matches_the_measured_figures():
    resources = container()["resources"]
    runs = int({e["name"]: e for e in container()["env"]}["SMARTFLOW_MAX_RUNS"]["value"])
    assert mib(resources["requests"]["memory"]) >= WEB + runs * WORKER + TRACKER
    assert mib(resources["limits"]["memory"]) >= WEB + runs * HEAVY_WORKER + TRACKER
    assert float(resources["limits"]["cpu"]) >= 1 + runs


def test_the_service_and_ingress_reach_the_container_port():
    service, ingress = manifests()["Service"], manifests()["Ingress"]
    assert service["spec"]["type"] == "ClusterIP"
    (port,) = service["spec"]["ports"]
    assert port_number(port["targetPort"]) == exposed_port()
    (rule,) = ingress["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    backend = path["backend"]["service"]
    assert backend["name"] == service["metadata"]["name"]
    assert backend["port"] in ({"name": port["name"]}, {"number": port["port"]})
    assert path["path"] == "/" and ingress["spec"]["ingressClassName"] == "nginx"


def test_the_ingress_keeps_each_browser_on_its_pod():
    notes = {k.removeprefix("nginx.ingress.kubernetes.io/"): v
             for k, v in manifests()["Ingress"]["metadata"]["annotations"].items()}
    assert all(isinstance(v, str) for v in notes.values())  # annotations are strings
    assert notes["affinity"] == "cookie" and notes["affinity-mode"] == "persistent"
    assert notes["session-cookie-name"] == template_cookie()
    assert int(notes["session-cookie-max-age"]) >= 3600
    assert int(notes["proxy-read-timeout"]) >= 3600 and int(notes["proxy-send-timeout"]) >= 3600  # websockets
    size = notes["proxy-body-size"]
    assert size[-1] in "mMgG" and int(size[:-1]) * (1024 if size[-1] in "gG" else 1) >= upload_limit_mb()


# ---------------------------------------------------------------------------------------------- compose and HAProxy


def template_lines(prefix: str) -> list[str]:
    return [line.strip() for line in serve.TEMPLATE.read_text().splitlines() if line.strip().startswith(prefix)]


def template_cookie() -> str:
    (line,) = template_lines("cookie ")
    return line.split()[1]


def test_the_compose_proxy_config_is_the_template_filled_in():
    text = (DEPLOY / "haproxy-compose.cfg").read_text()
    assert text == compose_proxy_config(), "regenerate: .venv/bin/python tests/core/test_deploy.py > " \
                                           "deploy/haproxy-compose.cfg"
    for prefix in ("cookie ", "option httpchk", "http-check", "balance", "default-server", "timeout tunnel"):
        assert template_lines(prefix) and all(line in text for line in template_lines(prefix)), prefix
    assert f"option httpchk GET {HEALTH}" in text
    servers = [line.split() for line in text.splitlines() if line.strip().startswith("server ")]
    assert [(s[1], s[2], s[4]) for s in servers] == [(a, f"{a}:{exposed_port()}", a) for a in COMPOSE_APPS]


@pytest.mark.skipif(not (shutil.which("haproxy") or Path("/usr/sbin/haproxy").exists()), reason="no haproxy")
def test_haproxy_accepts_the_compose_config(tmp_path):
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text((DEPLOY / "haproxy-compose.cfg").read_text().replace(COMPOSE_SOCKET, str(tmp_path / "s")))
    check = subprocess.run([shutil.which("haproxy") or "/usr/sbin/haproxy", "-c", "-f", str(cfg)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_compose_runs_the_image_behind_the_proxy():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {*COMPOSE_APPS, "proxy"}
    for name in COMPOSE_APPS:
        app = services[name]
        assert app["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
        assert app["image"] == container()["image"]  # one image everywhere
        assert "command" not in app and "ports" not in app  # the image's start command; reached through the proxy
        assert app["expose"] == [str(exposed_port())]
        assert app["environment"]["STREAMLIT_SERVER_COOKIE_SECRET"].startswith("${SMARTFLOW_COOKIE_SECRET:?")
        assert float(app["mem_limit"].rstrip("g")) * 1024 >= mib(container()["resources"]["limits"]["memory"])
    proxy = services["proxy"]
    assert proxy["image"].startswith("haproxy:")
    assert proxy["volumes"] == ["./haproxy-compose.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro"]
    assert proxy["ports"] == [f"{serve_args()['port']}:{exposed_port()}"]
    assert set(proxy["depends_on"]) == set(COMPOSE_APPS)


# ---------------------------------------------------------------------------------------------- the start command


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_the_start_command_serves_health_and_stops_on_sigterm():
    port = _free_port()
    proc = subprocess.Popen([sys.executable, str(DEPLOY / "serve.py"), "app", "--port", str(port),
                             "--address", "127.0.0.1"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline, answer = time.monotonic() + 60, None
        while answer != b"ok" and time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{HEALTH}", timeout=2) as r:
                    answer = r.read()
            except OSError:
                time.sleep(0.3)
        assert answer == b"ok", "no health answer in 60 s"
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode().split("\0")[:-1]
        assert cmdline == serve.app_command(port, "127.0.0.1")  # the same process, exec'd into the app command
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    print(compose_proxy_config(), end="")
