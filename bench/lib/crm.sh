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

# crm_fresh_db ADMIN_URL DB ROLE: drops and creates the database DB and the
# ordinary role ROLE (Row-Level Security applies to it), with the role's
# privileges on every table the migrations will create; sets owner_url
# (the migrations' connection) and app_url (the service's).
crm_fresh_db() {
  local admin=$1 db=$2 role=$3
  psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "DROP ROLE IF EXISTS $role" \
    -c "CREATE ROLE $role LOGIN" -c "CREATE DATABASE $db" >/dev/null
  owner_url="${admin%/*}/$db"
  app_url="postgres://$role@127.0.0.1:5432/$db"
  psql "$owner_url" -qc "GRANT USAGE ON SCHEMA public TO $role" \
    -c "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO $role" >/dev/null
}
