#!/usr/bin/env bash
# Install the Debian packages that are missing. Each argument is `package` (checked with dpkg) or `package:command`
# (present when `command` is on PATH, however it got there).
set -euo pipefail
missing=()
for spec in "$@"; do
  package="${spec%%:*}"
  if [[ "$spec" == *:* ]]; then
    command -v "${spec#*:}" >/dev/null 2>&1 || missing+=("$package")
  else
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "Installing system packages: ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
