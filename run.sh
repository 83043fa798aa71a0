#!/usr/bin/env bash
# SmartFlow CNN Lab: one command to set up and start the app, one to run the tests.
#   ./run.sh          create .venv if needed, install, start the app on http://localhost:8501
#   ./run.sh test     the same set-up (with the test tools), then lint and the whole test suite in two tiers
#   ./run.sh lint     ruff: the lint and layout rules of pyproject.toml
#   ./run.sh serve    a class server: SMARTFLOW_REPLICAS app processes (default: one per core) behind HAProxy on
#                     port SMARTFLOW_PORT (8501); installs Debian's haproxy first when it is missing (as root)
# Browser tests need Debian's chromium (apt-get install chromium); without it they are skipped. The Chinese pages
# need a CJK font in the browser: ./run.sh test installs Debian's fonts-wqy-microhei (as root) when it is missing.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}

setup() {  # $1: the requirements file
  if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
  fi
  local stamp=".venv/.installed-$(basename "$1")-$(cat requirements*.txt pyproject.toml | md5sum | cut -c1-12)"
  if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -r "$1"
    .venv/bin/python -m pip install --quiet --no-deps -e .
    touch "$stamp"
  fi
}

export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
lint() {
  .venv/bin/python -m ruff check .
}

if [ "${1:-}" != "test" ] && [ "${1:-}" != "app" ] && [ "${1:-}" != "lint" ] && [ "${1:-}" != "serve" ]; then
  set -- app "$@"  # ./run.sh --server.port 8600 passes the options to the app
fi
case "$1" in
  app)
    setup requirements.txt
    exec .venv/bin/python -m streamlit run app/main.py "${@:2}"
    ;;
  lint)
    setup requirements-dev.txt
    lint
    ;;
  serve)
    setup requirements.txt
    if ! command -v haproxy >/dev/null && ! [ -x /usr/sbin/haproxy ]; then
      if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null
      else
        echo "HAProxy is missing: sudo apt-get install haproxy" >&2
        exit 1
      fi
    fi
    exec .venv/bin/python deploy/serve.py
    ;;
  test)
    setup requirements-dev.txt
    if [ -x /usr/bin/chromium ] && ! fc-list 2>/dev/null | grep -qi -e wqy -e "noto sans cjk"; then
      if [ "$(id -u)" = 0 ]; then  # a CJK font for the browser tests' Chinese pages and screenshots
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei >/dev/null
      else
        echo "No CJK font: the Chinese screenshots show boxes (sudo apt-get install fonts-wqy-microhei)" >&2
      fi
    fi
    if [ $# -gt 1 ]; then  # ./run.sh test -m "not e2e" tests/app: pytest with these arguments only
      exec .venv/bin/python -m pytest -q "${@:2}"
    fi
    lint
    .venv/bin/python -m pytest -q -m "not slow and not e2e"  # tier 1: the quick tests, about two minutes
    exec .venv/bin/python -m pytest -q -m "slow or e2e"      # tier 2: training, packaging, the real browser
    ;;
esac
