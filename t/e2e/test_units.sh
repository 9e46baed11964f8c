# test_units.sh: the systemd units of deploy/systemd, as systemd would run
# them (t/tools/unit-emulate: sockets, directories, owners, modes, users), with
# a real nginx whose workers run as www-data: nginx must reach the pool.
#
# The units' user `trainprog` need not exist here: `nobody` (group nogroup)
# stands in for it, which, like trainprog, is not in www-data's groups.

if [ "$(id -u)" != 0 ] || ! id www-data >/dev/null 2>&1; then
	TESTS_RUN=$((TESTS_RUN + 1))
	echo "ok $TESTS_RUN - units # SKIP needs root and a www-data user"
	return 0
fi

u=$E2E_TMP/units
mkdir -p "$u/root/run" "$u/nginx/tmp"
chmod 755 "$u" "$u/root" "$u/root/run"
chown www-data "$u/nginx/tmp"
svc=$E2E_ROOT/deploy/systemd/tp-fcgi.service.in
sock=$E2E_ROOT/deploy/systemd/tp-fcgi.socket.in
run=$u/root/run/trainprog

# The pool as the units run it (the socket unit and the service together).
"$E2E_ROOT/t/tools/unit-emulate" --root "$u/root" --service "$svc" --socket "$sock" \
    --user-map trainprog=nobody --group-map trainprog=nogroup \
    -- "$E2E_BIN/tp-fcgi" --workers=1 --database-url="host=/nonexistent" \
    >"$u/emulate.out" 2>"$u/pool.log" &
emulator=$!
pool_started() { [ "$(grep -c '^started ' "$u/emulate.out")" -ge "$1" ] && grep -q "event=pool_start" "$u/pool.log"; }
ok wait_until 10 pool_started 1 -- "the service starts on the socket unit's sockets"
ok grep -q "event=sockets_inherited" "$u/pool.log" -- "it takes both sockets from systemd and binds nothing"

# nginx as a distribution runs it: master root, workers www-data, our snippets.
port=$(pick_port)
sed "s#unix:/run/trainprog/#unix:$run/#" "$E2E_ROOT/conf/nginx/trainprog-http.conf" >"$u/nginx/trainprog-http.conf"
cat >"$u/nginx/nginx.conf" <<EOF
user www-data;
worker_processes 1;
pid $u/nginx/nginx.pid;
error_log $u/nginx/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $u/nginx/tmp/body;
    fastcgi_temp_path $u/nginx/tmp/fastcgi;
    proxy_temp_path $u/nginx/tmp/proxy;
    uwsgi_temp_path $u/nginx/tmp/uwsgi;
    scgi_temp_path $u/nginx/tmp/scgi;
    include $u/nginx/trainprog-http.conf;
    server {
        listen 127.0.0.1:$port;
        include $E2E_ROOT/conf/nginx/trainprog-server.conf;
        include $E2E_ROOT/conf/nginx/trainprog-server-errors.conf;
    }
}
EOF
nginx -p "$u/nginx" -c "$u/nginx/nginx.conf" -e "$u/nginx/error.log"
wait_until 10 test -s "$u/nginx/nginx.pid"
get() { curl -s -o "$BODY_FILE" -w '%{http_code}' --max-time 10 "http://127.0.0.1:$port$1"; }

is "$(get /_trainprog/ping)" 200 "nginx (www-data) reaches the API socket"
is "$(get /_trainprog/status)" 200 "and the status socket"
is "$(get /api/v2/training/jobs/units-probe/progress)" 503 "the API answers through it (no database here: 503, not nginx's 502)"
is "$(stat -c '%U:%G %a' "$run/tp-fcgi.sock" "$run/tp-fcgi-status.sock" | tr '\n' ' ')" \
    "nobody:www-data 660 nobody:www-data 660 " "the sockets: the service's user, www-data's group, 0660"
# Connecting to a unix socket needs write permission on it.
outsider_locked_out() { runuser -u daemon -- test ! -w "$run/tp-fcgi.sock"; }
ok outsider_locked_out -- "another user, outside www-data's group, cannot connect"

# systemctl stop tp-fcgi: the sockets stay (systemd holds them), as they are.
kill -USR1 $emulator
stopped() { grep -q '^stopped ' "$u/emulate.out"; }
ok wait_until 30 stopped -- "the service stops"
is "$(sed -n 's/^stopped //p' "$u/emulate.out")" 0 "cleanly"
is "$(stat -c '%U:%G %a' "$run/tp-fcgi.sock" "$run/tp-fcgi-status.sock" 2>&1 | tr '\n' ' ')" \
    "nobody:www-data 660 nobody:www-data 660 " "the sockets outlive the service's stop, unchanged"
# systemctl start tp-fcgi: the same sockets, served again.
kill -USR2 $emulator
ok wait_until 10 pool_started 2 -- "the service starts again"
pool_answers() { [ "$(get /_trainprog/ping)" = 200 ]; }
ok wait_until 10 pool_answers -- "and nginx reaches it on the same sockets"

kill -QUIT "$(cat "$u/nginx/nginx.pid")"
kill -TERM $emulator
wait $emulator
is "$?" 0 "everything stops cleanly"
