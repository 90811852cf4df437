#!/usr/bin/env bash
# Re-vendor nng and mbedtls from the source archives in ../shared/vendor (or $VENDOR).
# Checks SHA256SUMS, unpacks, applies deps/patches/*.patch (nng) in order, prunes to what the
# build needs. Run from anywhere: deps/update.sh [vendor-dir]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
vendor=${1:-${VENDOR:-$here/../../shared/vendor}}
nng_ver=1.5.2
mbed_ver=3.6.7
(cd "$vendor" && sha256sum -c SHA256SUMS)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
tar -C "$tmp" -xzf "$vendor/nng_${nng_ver}.orig.tar.gz"
tar -C "$tmp" -xjf "$vendor/mbedtls_${mbed_ver}.orig.tar.bz2"

rm -rf "$here/nng" "$here/mbedtls"
src=$tmp/nng-$nng_ver
for p in minor_cleanups endpoint_close_could_be_synchronous aio_abort_prepared_task aio_expire_queue_round_robin pair1_poly_queue_depth tls_fail_after_tcp_error msg_alloc_uninitialized pipe_recvmaxsz; do
  patch -d "$src" -p1 --no-backup-if-mismatch < "$here/patches/$p.patch"
done
mkdir -p "$here/nng/docs/man"
cp -r "$src/CMakeLists.txt" "$src/LICENSE.txt" "$src/cmake" "$src/include" "$src/src" "$here/nng/"
cp "$src/docs/man/CMakeLists.txt" "$here/nng/docs/man/"
# Unit tests live next to the sources; they are only referenced when NNG_TESTS is on.
find "$here/nng/src" -name '*_test.c' -delete

msrc=$tmp/mbedtls-$mbed_ver
mkdir -p "$here/mbedtls"
cp -r "$msrc/LICENSE" "$msrc/include" "$msrc/library" "$here/mbedtls/"
# Only the C library is compiled (by CMakeLists.txt at the project root); drop generators.
find "$here/mbedtls/library" -type f ! -name '*.c' ! -name '*.h' -delete
find "$here/mbedtls/include" -type f ! -name '*.h' -delete
echo "vendored nng $nng_ver and mbedtls $mbed_ver into $here"
