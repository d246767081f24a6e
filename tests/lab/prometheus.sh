# Prometheus for real (issue 14 item 4), sourced by tests/lab.sh: Debian's
# prometheus server scrapes the running cgnatd with the packaged alert
# rules loaded; the session count is read back through its HTTP API and
# compared with cgnatctl's.

PROM_LISTEN=127.0.0.1:${LAB_PROMETHEUS_PORT:-9471}

prometheus_check() {
    say "== Prometheus ($(prometheus --version 2>&1 | head -1 | awk '{print $3}')) scraping cgnatd at $METRICS"
    if ! command -v prometheus >/dev/null; then fail "prometheus is not installed (scripts/install-deps.sh installs it)"; return; fi
    mkdir -p "$WORK/prometheus"
    cp "$ROOT/packaging/prometheus/cgnat-alerts.yml" "$WORK/prometheus/"
    cat >"$WORK/prometheus/prometheus.yml" <<EOC
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [cgnat-alerts.yml]
scrape_configs:
  - job_name: cgnat
    static_configs:
      - targets: ['$METRICS']
EOC
    # In the host namespace, where the metrics endpoint listens.
    prometheus --config.file="$WORK/prometheus/prometheus.yml" \
        --storage.tsdb.path="$WORK/prometheus/data" --web.listen-address=$PROM_LISTEN >"$WORK/prometheus-server.log" 2>&1 &
    echo $! >"$PIDS/prometheus-server"
    local api="http://$PROM_LISTEN/api/v1" got="" want i
    for i in $(seq 1 30); do
        got=$(curl -sS --max-time 2 "$api/query" --data-urlencode 'query=cgnat_table_entries{table="sessions"}' 2>/dev/null \
            | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' 2>/dev/null || true)
        [ -n "$got" ] && break
        sleep 1
    done
    want=$("$CGNATCTL" --socket "$WORK/cgnatd.sock" --json stats 2>/dev/null \
        | python3 -c 'import json,sys; print([t["used"] for t in json.load(sys.stdin)["tables"] if t["name"]=="sessions"][0])' 2>/dev/null || true)
    if [ -n "$got" ] && [ -n "$want" ] && [ "$got" -gt 0 ] && [ $(( got > want ? got - want : want - got )) -le $(( want / 10 + 5 )) ]; then
        pass "prometheus scraped cgnatd: $got sessions through its HTTP API (cgnatctl stats: $want)"
    else fail "prometheus read '$got' sessions (cgnatctl: '$want')"; fi
    local rules
    rules=$(curl -sS --max-time 2 "$api/rules" 2>/dev/null | python3 -c 'import json,sys; print(len([r for g in json.load(sys.stdin)["data"]["groups"] for r in g["rules"] if r.get("health")=="ok"]))' 2>/dev/null || true)
    if [ "${rules:-0}" -ge 6 ]; then pass "the packaged alert rules load and evaluate in prometheus ($rules rules healthy)"; else fail "alert rules in prometheus: '$rules'"; fi
    stop_pid "$PIDS/prometheus-server" TERM
}
