# Sourced by tools/sglang-env.sh and tools/smoke-server-env.sh: the last step of building a
# cached venv in a temporary folder, shared so both publish it the same way.
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
