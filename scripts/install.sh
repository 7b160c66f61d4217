#!/usr/bin/env bash
# Sets up the course's virtual environment: the course package and its dev tools.
#   scripts/install.sh PYTHON VENV UV_PIN
# uv installs the wheels in parallel: seconds, where pip takes a minute and a half. uv reads no
# pip configuration, so the wheel folders pip is told of (PIP_FIND_LINKS, pip.conf's find-links)
# are handed to it: that is where a machine keeps a local torch build. It compiles the bytecode, as
# pip does: without it every kernel the tests start compiles torch afresh. Where uv cannot be had
# (no wheel for this platform, no network to it), pip does the install as before.
set -euo pipefail
python="$1" venv="$2" uv_pin="$3"

test -x "$venv/bin/python" || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
if ! "${pip[@]}" install --quiet "$uv_pin"; then
  echo "uv could not be installed; installing with pip (slower)." >&2
  exec "${pip[@]}" install --quiet -e '.[dev]'
fi

find_links=()
# shellcheck disable=SC2086  # both are space-separated lists of folders or URLs
for location in ${PIP_FIND_LINKS:-} $("${pip[@]}" config get global.find-links 2>/dev/null || true); do
  find_links+=(--find-links "$location")
done
"$venv/bin/uv" pip install --quiet --compile-bytecode --python "$venv/bin/python" "${find_links[@]}" -e '.[dev]'
