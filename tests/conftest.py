import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = ROOT.parent / "shared" / "mnist"


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The four original MNIST files (../shared/mnist)."""
    if not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"MNIST files not found in {SHARED_MNIST}")
    return SHARED_MNIST


@pytest.fixture
def loopback_server():
    """``loopback_server(handler, **attributes) -> (server, base_url)``: an HTTP server on 127.0.0.1 whose
    attributes the handler reads (``self.server.files`` ...), serving ``/mnist``; every one is shut down after the
    test."""
    import http.server
    import threading

    running = []

    def start(handler, **attributes):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        for name, value in attributes.items():
            setattr(server, name, value)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        running.append((server, thread))
        return server, f"http://127.0.0.1:{server.server_port}/mnist"

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
