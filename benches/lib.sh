# Shared pieces of the server benchmarks (benches/*/run.sh and friends), sourced by each:
#   . "$(dirname "$0")/../lib.sh"
# Installing the peers they need, reading a process's CPU time, and taking medians.

# require PACKAGE:COMMAND ...: each COMMAND on PATH, else its Debian PACKAGE installed (as root)
# or a message naming what to install.
require() {
  local missing=() spec
  for spec in "$@"; do
    command -v "${spec#*:}" >/dev/null 2>&1 || missing+=("${spec%%:*}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "needs ${missing[*]} (apt-get install ${missing[*]})" >&2
    exit 1
  fi
}

# ticks PID ...: user + system clock ticks (/proc/PID/stat fields 14 and 15) of these processes
# with all their threads, summed; a process gone counts 0.
ticks() {
  local total=0 p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] && total=$((total + $(awk '{print $14+$15}' "/proc/$p/stat")))
  done
  echo "$total"
}

# median: the median of the numbers on stdin, one per line.
median() { sort -g | awk '{a[NR]=$1} END { if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2 }'; }

# nginx_conf NAME PORT SERVER_BODY [HTTP_EXTRA]: writes $OUT/NAME.conf, an nginx with one worker,
# no logs, keep-alive without end, listening on 127.0.0.1:PORT with SERVER_BODY (its locations);
# HTTP_EXTRA goes in the http block (an upstream). Run it with
#   nginx -c "$PWD/$OUT/NAME.conf" -p "$PWD/$OUT"
nginx_conf() {
  cat > "$OUT/$1.conf" <<NGINX
worker_processes 1;
daemon off;
pid $PWD/$OUT/$1.pid;
error_log /dev/null;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  ${4:-}
  server {
    listen 127.0.0.1:$2 reuseport;
    $3
  }
}
NGINX
}
