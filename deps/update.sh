#!/usr/bin/env bash
# Re-vendor nng and mbedtls from the source archives in ../shared/vendor (or $VENDOR).
# Checks SHA256SUMS, unpacks, applies deps/patches/*.patch (nng) in order, prunes to what the
# build needs. Run from anywhere: deps/update.sh [vendor-dir]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
vendor=${1:-${VENDOR:-$here/../../shared/vendor}}
nng_ver=1.12.0
mbed_ver=3.6.7
nng_tar=nng-${nng_ver}.tar.gz           # the upstream release archive (tag v1.12.0)
mbed_tar=mbedtls_${mbed_ver}.orig.tar.bz2
# Check only the two archives used: SHA256SUMS may list others (older releases).
(cd "$vendor" && grep -E "  (${nng_tar}|${mbed_tar})\$" SHA256SUMS | sha256sum -c --strict -) \
  || { echo "checksum of $nng_tar or $mbed_tar missing or wrong in $vendor/SHA256SUMS" >&2; exit 1; }
[ "$(cd "$vendor" && grep -cE "  (${nng_tar}|${mbed_tar})\$" SHA256SUMS)" = 2 ] \
  || { echo "$vendor/SHA256SUMS must list both $nng_tar and $mbed_tar" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
tar -C "$tmp" -xzf "$vendor/$nng_tar"
tar -C "$tmp" -xjf "$vendor/$mbed_tar"

rm -rf "$here/nng" "$here/mbedtls"
src=$tmp/nng-$nng_ver
# Ours, each with a Description: header (why; deps/README.md has the evidence). A patch that
# does not apply cleanly stops the script: no fuzz, no rejects.
for p in version_1_12_0 aio_expire_queue_round_robin pair1_poly_queue_depth tls_fail_after_tcp_error msg_alloc_uninitialized \
    pipe_recvmaxsz surveyor_nonblock_recv pipe_close_fails_recv; do
  patch -d "$src" -p1 -F0 --no-backup-if-mismatch --forward --reject-file=- < "$here/patches/$p.patch"
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
