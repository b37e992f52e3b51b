# Sourced by the test scripts: start efm-sandbox on 127.0.0.1 in the background for this shell.
#   start_sandbox BINARY DIR   -> writes DIR/<orgnr>/config.json, sets sandbox_pid
#   stop_sandbox               (call from the EXIT trap)
# The sandbox prints its URL as the first line once it listens; we wait for that line.
sandbox_pid=
start_sandbox() {
    local bin=$1 dir=$2 first
    mkdir -p "$dir"
    rm -f "$dir.out" && mkfifo "$dir.out"
    "$bin" --dir "$dir" --no-stdin >"$dir.out" 2>"$dir.log" &
    sandbox_pid=$!
    exec 3<"$dir.out"
    read -r first <&3
    case "$first" in
        "efm-sandbox listening on "*) ;;
        *) echo "efm-sandbox did not start: $first" >&2; cat "$dir.log" >&2; return 1 ;;
    esac
    cat <&3 >/dev/null &
}
stop_sandbox() {
    if [ -n "$sandbox_pid" ]; then
        kill "$sandbox_pid" 2>/dev/null && { wait "$sandbox_pid" 2>/dev/null || true; }
        sandbox_pid=
    fi
    return 0
}
