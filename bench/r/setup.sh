#!/usr/bin/env bash
# Builds R's mirai (and nanonext, its NNG binding) for the side-by-side columns of `npm run bench`.
# Idempotent: installs R from Debian only when Rscript is missing, and builds each package only
# when the cached library does not already hold that version. Nothing is written in the repo.
#
#   bash bench/r/setup.sh          # then: npm run bench
#
# Environment: MIRAI_BENCH_R_LIB (default ~/.cache/mirai-bench/R-lib): where the packages go;
# the bench reads the same variable. MIRAI_BENCH_R_SRC: the folder with the source archives
# (default ../shared/reference/r-mirai beside the repository's main checkout).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
lib=${MIRAI_BENCH_R_LIB:-$HOME/.cache/mirai-bench/R-lib}
nanonext=nanonext-1.10.2
mirai=mirai-2.7.1

find_src() {
  if [ -n "${MIRAI_BENCH_R_SRC:-}" ]; then echo "$MIRAI_BENCH_R_SRC"; return; fi
  # A git worktree sits beside the main checkout, so walk up until shared/ is found.
  local d=$repo
  while [ "$d" != / ]; do
    if [ -f "$d/shared/reference/r-mirai/$mirai.tar.gz" ]; then echo "$d/shared/reference/r-mirai"; return; fi
    if [ -f "$d/../shared/reference/r-mirai/$mirai.tar.gz" ]; then (cd "$d/../shared/reference/r-mirai" && pwd); return; fi
    d=$(dirname "$d")
  done
  echo "setup.sh: cannot find $mirai.tar.gz under ../shared/reference/r-mirai; set MIRAI_BENCH_R_SRC" >&2
  exit 1
}
src=$(find_src)

if ! command -v Rscript >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup.sh: Rscript is missing; install R 4.2 or newer (Debian: apt-get install r-base-core r-base-dev)" >&2
    exit 1
  fi
  echo "setup.sh: installing R from Debian (r-base-core r-base-dev)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  nice -n 10 apt-get install -y -qq --no-install-recommends r-base-core r-base-dev >/dev/null
fi

# The version of an installed package in $lib, or nothing.
installed() {
  local f="$lib/$1/DESCRIPTION"
  [ -f "$f" ] && sed -n 's/^Version: *//p' "$f" || true
}

mkdir -p "$lib"
if (cd "$src" && command -v sha256sum >/dev/null && [ -f SHA256SUMS ]); then
  (cd "$src" && grep -E "($nanonext|$mirai)\.tar\.gz" SHA256SUMS | sha256sum -c --quiet -)
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for p in $nanonext $mirai; do
  name=${p%-*}
  version=${p##*-}
  if [ "$(installed "$name")" = "$version" ]; then
    echo "setup.sh: $name $version already in $lib"
    continue
  fi
  echo "setup.sh: building $name $version into $lib (a few minutes on 2 cores)"
  tar xzf "$src/$p.tar.gz" -C "$work"
  # MAKEFLAGS: nanonext builds its bundled NNG and Mbed TLS; 2 jobs on a 2-core machine.
  MAKEFLAGS="-j2" R_LIBS="$lib" nice -n 10 R CMD INSTALL --no-docs --no-html --no-multiarch -l "$lib" "$work/$p" >"$work/$name.log" 2>&1 || {
    tail -40 "$work/$name.log" >&2
    echo "setup.sh: building $name failed" >&2
    exit 1
  }
done

# A daemon only finds the library through R_LIBS: without it daemons(2) would wait forever.
out=$(R_LIBS="$lib" timeout 60 Rscript -e 'suppressMessages(library(mirai)); daemons(2); cat(mirai(1 + 1)[], "\n"); daemons(0)' 2>&1) || {
  echo "$out" >&2
  echo "setup.sh: the check (2 daemons, 1 + 1) failed" >&2
  exit 1
}
[ "$(echo "$out" | tr -d '[:space:]')" = 2 ] || { echo "setup.sh: the check gave '$out', not 2" >&2; exit 1; }
echo "setup.sh: R's mirai $(installed mirai) with nanonext $(installed nanonext) is ready in $lib"
