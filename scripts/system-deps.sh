#!/usr/bin/env bash
# The Debian/Ubuntu packages the course needs, installed when missing.
#   scripts/system-deps.sh lab    a font with Hangul glyphs (the lessons' Korean labels)
#   scripts/system-deps.sh test   that font, bubblewrap (the grading sandbox), chromium (browser tests)
# Installs with apt-get as root, or through sudo when it asks for no password. Where it can't
# (no apt-get, no root), it says in one message what to install and which tests will skip; under
# CI=true nothing may skip, so it fails instead. Called by the Makefile (`make lab`, `make test`).
set -uo pipefail

have_font() { fc-list 2>/dev/null | grep -qi 'nanum\|noto sans cjk\|noto sans kr\|undotum'; }
have() {
  case "$1" in
    # Installed, not merely known: a removed package keeps its status entry ("config-files").
    fonts-nanum) have_font || dpkg-query -W -f='${Status}' fonts-nanum 2>/dev/null | grep -q 'ok installed' ;;
    bubblewrap) command -v bwrap >/dev/null ;;
    chromium) test -x /usr/bin/chromium ;;
  esac
}
what_skips() {
  case "$1" in
    fonts-nanum) echo "Korean labels in the plots draw as boxes" ;;
    bubblewrap) echo "the grading, isolation and Gradescope tests skip" ;;
    chromium) echo "the browser tests skip" ;;
  esac
}

case "${1:-test}" in
  lab) wanted=(fonts-nanum) ;;
  test) wanted=(fonts-nanum bubblewrap chromium) ;;
  *) echo "usage: scripts/system-deps.sh [lab|test]" >&2; exit 2 ;;
esac

missing=()
for package in "${wanted[@]}"; do have "$package" || missing+=("$package"); done
[ ${#missing[@]} -eq 0 ] && exit 0

# can_install says whether apt-get may run: an empty as_root array reads as unset in bash.
can_install=false
as_root=()
if command -v apt-get >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    can_install=true
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    can_install=true
    as_root=(sudo -n)
  fi
fi
if [ "$can_install" = true ]; then
  echo "Installing the system packages the course needs: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update -qq &&
    "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  still=()
  for package in "${missing[@]}"; do have "$package" || still+=("$package"); done
  missing=("${still[@]}")
  [ ${#missing[@]} -eq 0 ] && exit 0
fi

{
  echo "The course needs these system packages, which could not be installed here (no apt-get, or no root):"
  for package in "${missing[@]}"; do echo "  - $package: without it, $(what_skips "$package")"; done
  echo "Install them (Debian/Ubuntu: sudo apt-get install ${missing[*]}) and run this again."
} >&2
if [ "${CI:-}" = true ]; then
  echo "CI=true: these tests may not skip, so this fails." >&2
  exit 1
fi
exit 0
