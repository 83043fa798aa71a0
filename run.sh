#!/usr/bin/env bash
# SmartFlow CNN Lab: one command to set up and start the app, one to run the tests.
#   ./run.sh          create .venv if needed, install, start the app on http://localhost:8501
#   ./run.sh test     the same set-up (with the test tools), then the whole test suite
# Browser tests need Debian's chromium (apt-get install chromium); without it they are skipped.
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
if [ "${1:-}" != "test" ] && [ "${1:-}" != "app" ]; then
  set -- app "$@"  # ./run.sh --server.port 8600 passes the options to the app
fi
case "$1" in
  app)
    setup requirements.txt
    exec .venv/bin/python -m streamlit run app/main.py "${@:2}"
    ;;
  test)
    setup requirements-dev.txt
    exec .venv/bin/python -m pytest -q "${@:2}"
    ;;
esac
