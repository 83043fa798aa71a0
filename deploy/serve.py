"""A class server on one machine: ``./run.sh serve`` runs this.

Starts ``SMARTFLOW_REPLICAS`` app processes (default: the number of cores) on loopback ports and HAProxy in front
of them on ``SMARTFLOW_PORT`` (default 8501, on every interface: ``SMARTFLOW_BIND`` narrows it), configured from
``deploy/haproxy.cfg.template``. Each browser stays on one process (a cookie), since a session's state lives in
the process that holds its websocket. A process that dies is restarted (HAProxy's health check takes it out of
rotation meanwhile); Ctrl-C or SIGTERM stops them all. Every process gets the same cookie secret, so a browser
that lands on another process after a restart keeps working, and the same folder of training slots
(``SMARTFLOW_RUN_SLOTS``), so ``SMARTFLOW_MAX_RUNS`` caps the runs of the whole machine, not of each process.

Prints one line per process, ``app<N> pid <pid> port <port>``, and ``proxy pid <pid> port <port> socket <path>``
(HAProxy's runtime API, for an operator or a test), as it starts them.

``python deploy/serve.py app [--address A] [--port P]`` becomes one app process (``os.execve`` of
:func:`app_command`, with the same environment): the container's start command (``deploy/Dockerfile``).
"""
from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "deploy" / "haproxy.cfg.template"
RESTART_AFTER = 1.0  # seconds a dead process waits before it is started again


def app_command(port: int, address: str = "127.0.0.1") -> list[str]:
    """The command of one app process (the container's start command is the same, on its own port)."""
    return [sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "main.py"), "--server.headless", "true",
            "--server.address", address, "--server.port", str(port), "--browser.gatherUsageStats", "false"]


def app_env(**extra: str) -> dict[str, str]:
    """The environment of one app process: one BLAS thread unless set (S1), the repository on the import path."""
    return {**os.environ, "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1"),
            "PYTHONPATH": str(ROOT), **extra}


def exec_app(port: int, address: str) -> None:
    """Become one app process (the container's start command); the cookie secret comes from the environment."""
    os.chdir(ROOT)
    command = app_command(port, address)
    os.execve(command[0], command, app_env())


def haproxy_config(bind: str, port: int, app_ports: list[int], socket: str, hosts: list[str] | None = None,
                   check: str = "check") -> str:
    """The proxy's configuration; ``hosts`` (default: loopback for each) and ``check`` (the server lines' last
    words) let ``deploy/haproxy-compose.cfg`` come from the same template."""
    hosts = hosts or ["127.0.0.1"] * len(app_ports)
    servers = "\n".join(f"    server app{i} {h}:{p} cookie app{i} {check}"
                         for i, (h, p) in enumerate(zip(hosts, app_ports), 1))
    return string.Template(TEMPLATE.read_text()).substitute(bind=bind, port=port, servers=servers, socket=socket)


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as r:
            return r.read() == b"ok"
    except OSError:
        return False


class Server:
    def __init__(self, replicas: int, port: int, bind: str) -> None:
        self.replicas, self.port, self.bind = replicas, port, bind
        self.app_ports = [port + 100 + i for i in range(1, replicas + 1)]
        self.secret = secrets.token_hex(16)
        # the proxy's configuration and runtime socket, and the training slots every app process shares
        self.folder = Path(tempfile.mkdtemp(prefix="smartflow-proxy-"))
        slots = os.environ.get("SMARTFLOW_RUN_SLOTS") or str(self.folder / "run-slots")
        self.env = app_env(STREAMLIT_SERVER_COOKIE_SECRET=self.secret, SMARTFLOW_RUN_SLOTS=slots)
        self.apps: list[subprocess.Popen | None] = [None] * replicas
        self.proxy: subprocess.Popen | None = None
        self.stopping = False

    def start_app(self, i: int) -> None:
        proc = subprocess.Popen(app_command(self.app_ports[i]), cwd=ROOT, env=self.env,
                                stdout=subprocess.DEVNULL, stderr=sys.stderr)
        self.apps[i] = proc
        print(f"app{i + 1} pid {proc.pid} port {self.app_ports[i]}", flush=True)

    def start(self) -> None:
        haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not Path(haproxy).exists():
            raise SystemExit("HAProxy is not installed: apt-get install haproxy (./run.sh serve does it as root)")
        for i in range(self.replicas):
            self.start_app(i)
        cfg, self.socket = self.folder / "haproxy.cfg", self.folder / "admin.sock"
        cfg.write_text(haproxy_config(self.bind, self.port, self.app_ports, str(self.socket)))
        check = subprocess.run([haproxy, "-c", "-f", str(cfg)], capture_output=True, text=True)
        if check.returncode != 0:
            raise SystemExit(f"the proxy's configuration is refused: {(check.stdout + check.stderr).strip()}")
        self.proxy = subprocess.Popen([haproxy, "-db", "-f", str(cfg)], stdout=sys.stderr, stderr=sys.stderr)
        print(f"proxy pid {self.proxy.pid} port {self.port} socket {self.socket}", flush=True)
        deadline = time.monotonic() + 60
        while not all(healthy(p) for p in self.app_ports):
            if time.monotonic() > deadline:
                raise SystemExit("the app processes did not become healthy in 60 s")
            time.sleep(0.2)
        while not all(healthy(self.port) for _ in range(2 * self.replicas)):  # the proxy has seen them come up
            if time.monotonic() > deadline:
                raise SystemExit("the proxy did not pass requests to the app processes in 60 s")
            time.sleep(0.2)
        where = "localhost" if self.bind in ("0.0.0.0", "127.0.0.1") else self.bind
        print(f"serving http://{where}:{self.port} with {self.replicas} app processes", flush=True)

    def watch(self) -> None:
        """Restart app processes that die; end when the proxy does."""
        dead_since: dict[int, float] = {}
        while not self.stopping:
            if self.proxy.poll() is not None:
                raise SystemExit(f"the proxy ended (exit code {self.proxy.returncode})")
            for i, proc in enumerate(self.apps):
                if proc.poll() is None:
                    continue
                since = dead_since.setdefault(i, time.monotonic())
                if time.monotonic() - since >= RESTART_AFTER:
                    print(f"app{i + 1} ended (exit code {proc.returncode}): restarting", file=sys.stderr, flush=True)
                    del dead_since[i]
                    self.start_app(i)
            time.sleep(0.2)

    def stop(self, *_args) -> None:
        self.stopping = True
        procs = [p for p in (*self.apps, self.proxy) if p is not None]
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10
        for proc in procs:
            try:
                proc.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["app"]:
        parser = argparse.ArgumentParser(prog="serve.py app", description="one app process (the container's)")
        parser.add_argument("--address", default="127.0.0.1", help="the interface to listen on (default loopback)")
        parser.add_argument("--port", type=int, default=8501)
        args = parser.parse_args(argv[1:])
        return exec_app(args.port, args.address)
    replicas = int(os.environ.get("SMARTFLOW_REPLICAS") or os.cpu_count() or 1)
    server = Server(max(replicas, 1), int(os.environ.get("SMARTFLOW_PORT", "8501")),
                    os.environ.get("SMARTFLOW_BIND", "0.0.0.0"))
    signal.signal(signal.SIGTERM, lambda *a: (server.stop(), sys.exit(0)))
    try:
        server.start()
        server.watch()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
