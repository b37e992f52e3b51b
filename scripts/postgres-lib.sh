# Sourced by the test scripts: a throwaway PostgreSQL server (Debian's package) for this shell,
# on 127.0.0.1 at a free port and on a Unix socket in its own temporary directory.
#   start_postgres DIR   -> initdb into DIR/data, start it with TLS (a certificate for
#                           127.0.0.1 from a throwaway CA), export EFM_TEST_POSTGRES (a URL
#                           without the password), EFM_TEST_POSTGRES_PASSWORD_FILE and
#                           EFM_TEST_POSTGRES_CA (that CA, for "ca_bundle")
#   stop_postgres        (call from the EXIT trap)
# initdb and postgres refuse to run as root: as root they run as the system user `efm-pg`
# (created by scripts/install-deps.sh), which then owns DIR. Password authentication
# (scram-sha-256) on TCP, so the tests read the password the way a deployment does.
postgres_dir=
postgres_bin() {
    local b
    for b in /usr/lib/postgresql/*/bin; do [ -x "$b/initdb" ] && { echo "$b"; return 0; }; done
    command -v initdb >/dev/null && { dirname "$(command -v initdb)"; return 0; }
    echo "PostgreSQL is not installed (scripts/install-deps.sh installs Debian's postgresql)" >&2
    return 1
}
postgres_as() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u efm-pg -- "$@"; else "$@"; fi
}
start_postgres() {
    local dir=$1 bin port
    bin=$(postgres_bin) || return 1
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ "$(id -u)" -eq 0 ]; then chown efm-pg "$dir"; fi
    # A free port: bind to port 0 and read what the kernel chose.
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$dir/password"
    chmod 600 "$dir/password"
    if [ "$(id -u)" -eq 0 ]; then chown efm-pg "$dir/password"; fi
    postgres_tls_certificate "$dir" || return 1
    postgres_as "$bin/initdb" -D "$dir/data" -U efm --pwfile="$dir/password" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; return 1; }
    postgres_as "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=200 -c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key" \
        >/dev/null || { cat "$dir/server.log" >&2; return 1; }
    postgres_dir=$dir
    postgres_as "$bin/createdb" -h "$dir" -p "$port" -U efm efm_test
    export EFM_TEST_POSTGRES="postgresql://efm@127.0.0.1:$port/efm_test"
    # The tests read it like a deployment does; the file stays readable by whoever runs them.
    cp "$dir/password" "$dir/password.client" && chmod 600 "$dir/password.client"
    export EFM_TEST_POSTGRES_PASSWORD_FILE="$dir/password.client"
    export EFM_TEST_POSTGRES_CA="$dir/ca.pem"
}
# A throwaway CA and a server certificate for 127.0.0.1 signed by it, made with the openssl
# command line (independent of efm's own certificate code).
postgres_tls_certificate() {
    local dir=$1
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/ca.key" -out "$dir/ca.pem" \
        -subj "/CN=efm test PostgreSQL CA" -days 2 >"$dir/tls.log" 2>&1 &&
    openssl req -newkey rsa:2048 -nodes -keyout "$dir/server.key" -out "$dir/server.csr" \
        -subj "/CN=127.0.0.1" >>"$dir/tls.log" 2>&1 &&
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$dir/server.ext" &&
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -CAcreateserial -out "$dir/server.crt" -days 2 -extfile "$dir/server.ext" >>"$dir/tls.log" 2>&1 \
        || { cat "$dir/tls.log" >&2; return 1; }
    rm -f "$dir/ca.key"
    chmod 600 "$dir/server.key"
    if [ "$(id -u)" -eq 0 ]; then chown efm-pg "$dir/server.key" "$dir/server.crt"; fi
}
stop_postgres() {
    if [ -n "$postgres_dir" ]; then
        postgres_as "$(postgres_bin)/pg_ctl" -D "$postgres_dir/data" -m immediate -w stop >/dev/null 2>&1 || true
        postgres_dir=
    fi
    return 0
}
