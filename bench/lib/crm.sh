# Shared by the CRM benchmark scripts (source it from the repository root).

# crm_base LOG: waits until the crm-app writing LOG listens and is ready,
# and prints its base URL; fails with the log if it never does.
crm_base() {
  local log=$1 port=""
  for _ in $(seq 1 200); do
    port=$(grep -oE 'Listening on http://[0-9.]+:[0-9]+' "$log" | grep -oE '[0-9]+$' || true)
    [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/api/health/ready" >/dev/null && break
    sleep 0.05
  done
  [ -n "$port" ] || { cat "$log" >&2; return 1; }
  echo "http://127.0.0.1:$port"
}

# crm_token BASE: an access token of the demo shop's administrator.
crm_token() {
  curl -sf "$1/api/auth/login" -H 'content-type: application/json' \
    -d '{"email":"admin@cutlist.pro","password":"admin123"}' | sed -E 's/.*"accessToken":"([^"]+)".*/\1/'
}
