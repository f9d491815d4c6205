#!/usr/bin/env bash
# Install the system packages dynab needs when they are missing: Java 17+ (Spark's local mode)
# and Debian's Chromium (browser tests). Usage: scripts/ensure-system-deps.sh [java] [chromium]
set -euo pipefail

want_java=0
want_chromium=0
for arg in "$@"; do
  case "$arg" in
    java) want_java=1 ;;
    chromium) want_chromium=1 ;;
    *) echo "ensure-system-deps: unknown component '$arg' (expected: java, chromium)" >&2; exit 2 ;;
  esac
done

java_ok() {
  command -v java >/dev/null 2>&1 || return 1
  local v
  v=$(java -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')
  [ "${v%%.*}" -ge 17 ] 2>/dev/null
}

packages=()
if [ "$want_java" = 1 ] && ! java_ok; then packages+=(openjdk-17-jre-headless); fi
if [ "$want_chromium" = 1 ] && [ ! -x /usr/bin/chromium ]; then packages+=(chromium); fi
[ "${#packages[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo -n)
else
  echo "ensure-system-deps: need ${packages[*]} but cannot install them (not root, no sudo);" \
       "install them with your package manager" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-system-deps: need ${packages[*]}; this is not a Debian-like system, install them" \
       "with your package manager" >&2
  exit 1
fi
echo "ensure-system-deps: installing ${packages[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
echo "ensure-system-deps: done"
