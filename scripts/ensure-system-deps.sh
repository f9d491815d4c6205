#!/usr/bin/env bash
# Install the system packages dynab needs when they are missing: Java 17+ (Spark's local mode)
# and Debian's Chromium (browser tests). Usage: scripts/ensure-system-deps.sh [java] [chromium]
#   scripts/ensure-system-deps.sh --which-java   prints the Java package apt would be asked for
#
# Java: PySpark 4 runs on Java 17 or 21, Spark 3.5 (EMR 7, `make test-emr`) on 8, 11 or 17.
# Any installed Java 17+ is used as it is. Otherwise the distribution's default-jre-headless when
# it is Java 17 to 21 (Debian 12: 17, Debian 13 and Ubuntu 24.04: 21), else the newest
# openjdk-N-jre-headless with N from 17 to 21, else the newest with N >= 17.
set -euo pipefail

want_java=0
want_chromium=0
which_java=0
for arg in "$@"; do
  case "$arg" in
    java) want_java=1 ;;
    chromium) want_chromium=1 ;;
    --which-java) which_java=1 ;;
    *) echo "ensure-system-deps: unknown component '$arg' (expected: java, chromium)" >&2; exit 2 ;;
  esac
done

java_ok() {
  command -v java >/dev/null 2>&1 || return 1
  local v
  v=$(java -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')
  [ "${v%%.*}" -ge 17 ] 2>/dev/null
}

# The Java package to install, from what apt offers; empty when it offers no Java 17+.
java_package() {
  local candidate major versions pick
  candidate=$(apt-cache policy default-jre-headless 2>/dev/null | awk '/Candidate:/ {print $2; exit}')
  # default-jre-headless is versioned EPOCH:1.N-REV (2:1.17-74 on Debian 12): N is the Java.
  major=$(printf '%s\n' "$candidate" | sed -n 's/^\([0-9]*:\)\{0,1\}1\.\([0-9][0-9]*\).*/\2/p')
  if [ -n "$major" ] && [ "$major" -ge 17 ] && [ "$major" -le 21 ]; then
    echo default-jre-headless
    return
  fi
  versions=$(apt-cache search --names-only '^openjdk-[0-9]+-jre-headless$' 2>/dev/null \
    | sed -n 's/^openjdk-\([0-9][0-9]*\)-jre-headless .*/\1/p' | sort -n | uniq)
  pick=$(printf '%s\n' "$versions" | awk '$1 >= 17 && $1 <= 21' | tail -1)
  [ -n "$pick" ] || pick=$(printf '%s\n' "$versions" | awk '$1 >= 17' | tail -1)
  [ -n "$pick" ] && echo "openjdk-$pick-jre-headless"
  return 0
}

if [ "$which_java" = 1 ]; then
  java_package
  exit 0
fi

need_java=0
if [ "$want_java" = 1 ] && ! java_ok; then need_java=1; fi
packages=()
if [ "$want_chromium" = 1 ] && [ ! -x /usr/bin/chromium ]; then packages+=(chromium); fi
[ "$need_java" = 0 ] && [ "${#packages[@]}" -eq 0 ] && exit 0
wanted="${packages[*]:-}"
if [ "$need_java" = 1 ]; then wanted="Java 17+ ${wanted}"; fi

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo -n)
else
  echo "ensure-system-deps: need ${wanted} but cannot install (not root, no sudo);" \
       "install it with your package manager" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-system-deps: need ${wanted}; this is not a Debian-like system, install it" \
       "with your package manager" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
if [ "$need_java" = 1 ]; then
  java=$(java_package)
  if [ -z "$java" ]; then
    echo "ensure-system-deps: apt offers no Java 17 or newer; install one (Spark needs 17+)" >&2
    exit 1
  fi
  packages+=("$java")
fi
echo "ensure-system-deps: installing ${packages[*]} (apt-get)"
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
echo "ensure-system-deps: done"
