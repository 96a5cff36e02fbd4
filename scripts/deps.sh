#!/usr/bin/env bash
# deps.sh - install what building and testing mlfs needs, from Debian's
# packages, and check that it is all there.
#
# Installs (as root, with apt-get) whichever of the packages below is
# missing, then checks every header, library, tool and /dev/fuse that the
# build and the tests use.  Quiet and quick when everything is present; when
# something is missing and cannot be installed, it says what in a sentence
# and exits non-zero.

set -uo pipefail

PACKAGES=(build-essential pkg-config fuse3 libfuse3-dev liblmdb-dev lmdb-utils
	libxxhash-dev libzstd-dev python3-pytest clang)

die() {
	echo "deps.sh: $*" >&2
	exit 1
}

installed() {
	[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

command -v dpkg-query >/dev/null || die "this is not a Debian system (no dpkg-query); install by hand: ${PACKAGES[*]}"

UPDATED=0
apt_install() {
	[ "$(id -u)" = 0 ] || die "missing packages: $*; run as root (or: sudo apt-get install $*)"
	export DEBIAN_FRONTEND=noninteractive
	if [ "$UPDATED" = 0 ]; then
		echo "deps.sh: apt-get update" >&2
		apt-get update -qq </dev/null >/dev/null || die "apt-get update failed"
		UPDATED=1
	fi
	echo "deps.sh: apt-get install $*" >&2
	apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 "$@" </dev/null >/dev/null ||
		die "apt-get install $* failed"
}

missing=()
for p in "${PACKAGES[@]}"; do
	installed "$p" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"

# The fuzzer and sanitizer runtime of clang comes in its own package on
# Debian 12 (libclang-rt-14-dev); name it after the clang installed.
clang_major=$(clang -dumpversion 2>/dev/null | cut -d. -f1)
[ -n "$clang_major" ] || die "clang is installed but does not run"
rt=libclang-rt-$clang_major-dev
if ! installed "$rt" && apt-cache show "$rt" >/dev/null 2>&1; then
	apt_install "$rt"
fi

# Check what the build and the tests use, not only the package names.
problems=()
for pkg in fuse3 lmdb libzstd libxxhash; do
	pkg-config --exists "$pkg" 2>/dev/null || problems+=("pkg-config does not know '$pkg'")
done
for h in fuse3/fuse_lowlevel.h lmdb.h xxhash.h zstd.h; do
	printf '#include <%s>\n' "$h" | cc -DFUSE_USE_VERSION=314 $(pkg-config --cflags fuse3 2>/dev/null) -E -x c - \
		>/dev/null 2>&1 || problems+=("the header <$h> cannot be included")
done
for tool in cc make pkg-config fusermount3 mdb_stat clang timeout mountpoint; do
	command -v "$tool" >/dev/null || problems+=("the tool '$tool' is missing")
done
/usr/bin/python3 -m pytest --version >/dev/null 2>&1 || problems+=("/usr/bin/python3 cannot run pytest")
fuzz_probe=$(mktemp /tmp/mlfs-deps.XXXXXX)
if ! printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }\n' |
	clang -fsanitize=fuzzer,address -x c - -o "$fuzz_probe" >/dev/null 2>&1; then
	problems+=("clang cannot link a libFuzzer program (install $rt)")
fi
rm -f "$fuzz_probe"
if [ ! -c /dev/fuse ]; then
	problems+=("/dev/fuse is missing: FUSE mounts are impossible here (load the fuse module, or give the container --device /dev/fuse)")
elif ! (: <>/dev/fuse) 2>/dev/null; then
	problems+=("/dev/fuse cannot be opened for reading and writing by $(id -un)")
fi

if [ ${#problems[@]} -gt 0 ]; then
	for p in "${problems[@]}"; do
		echo "deps.sh: $p" >&2
	done
	die "mlfs cannot be built or tested until the above is fixed"
fi
exit 0
