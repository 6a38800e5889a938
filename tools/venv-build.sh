# Sourced by tools/sglang-env.sh and tools/smoke-server-env.sh: the steps both take to build a
# cached venv, shared so that both lock, skip and publish the same way.
#
#   take_build_lock DEST LABEL
# Serialises builds of DEST (flock on DEST.build.lock, held until the script exits). Exits 0
# when another build finished DEST while we waited: the caller defines is_done().
take_build_lock() {
    local dest="$1" label="$2"
    mkdir -p "$(dirname "$dest")"
    exec 9>"$dest.build.lock"
    if ! flock -w 1800 9; then
        echo "$label: timed out waiting for another build ($dest.build.lock)" >&2
        exit 1
    fi
    if is_done; then  # another process finished it while we waited for the lock
        echo "$label is up to date: $dest"
        exit 0
    fi
}
#
#   publish_env TMP DEST MARKER_NAME STAMP OLD LABEL START_SECONDS
# Rewrites the build folder's path in console-script shebangs and activate scripts to DEST,
# writes the done-marker, moves any previous env aside to OLD and renames TMP into place (one
# rename, so nobody ever sees a half-built env at DEST).
publish_env() {
    local tmp="$1" dest="$2" marker_name="$3" stamp="$4" label="$6" start="$7" f
    old="$5"  # global on purpose: the caller's EXIT trap removes the env moved aside
    for f in "$tmp"/bin/*; do
        if [[ -f "$f" && ! -L "$f" ]] && head -c 2 "$f" | grep -q '#!'; then
            sed -i "1s|^#!$tmp/|#!$dest/|" "$f"
        fi
    done
    sed -i "s|$tmp|$dest|g" "$tmp"/bin/activate* "$tmp/pyvenv.cfg" 2>/dev/null || true
    echo "$stamp" >"$tmp/$marker_name"
    if [[ -e "$dest" ]]; then
        mv "$dest" "$old"
    fi
    mv "$tmp" "$dest"
    echo "$label: ready in $((SECONDS - start))s, $(du -sh "$dest" | cut -f1): $dest"
}
#
#   open_build_dir DEST
# Sets the globals tmp (a fresh build folder beside DEST) and old (empty; publish_env fills it)
# and an EXIT trap that removes both. Call it holding the build lock: then no other build is
# live, so leftovers of one that was killed outright (SIGKILL runs no trap) are removed first.
open_build_dir() {
    local parent name
    parent="$(dirname "$1")"
    name="$(basename "$1")"
    rm -rf "$parent/.$name.tmp."* "$parent/.$name.old."*
    tmp="$(mktemp -d "$parent/.$name.tmp.XXXXXX")"
    old=""
    trap 'rm -rf "$tmp"; if [[ -n "$old" ]]; then rm -rf "$old"; fi' EXIT
}
