#!/usr/bin/env bash
# Issue 16, defect 5: under a low file-descriptor limit, more idle connections than the server may hold must be
# refused (closed at once), and the server must survive and answer a real request afterwards.
# Before the connection limit, 1,100 idle connections under `prlimit --nofile=1200:1200` aborted the process
# ("Out of memory.", exit 134).
#
# usage: tools/fd-limit-check.sh [LOOM_DLL] [MODEL_DIR] [NOFILE] [CONNECTIONS]
#   LOOM_DLL defaults to artifacts/cli/loom.dll (build it with ./loom --help), MODEL_DIR to models/demo.
# Exit status: 0 = refused and survived; 1 = the server died or did not answer; 77 = prlimit missing (skip).
set -uo pipefail
dll=${1:-artifacts/cli/loom.dll}
model=${2:-models/demo}
nofile=${3:-1200}
connections=${4:-1100}
command -v prlimit >/dev/null || { echo "prlimit not found: skipped"; exit 77; }
ulimit -n $((connections + 256)) 2>/dev/null || { echo "this shell cannot open $connections descriptors: skipped"; exit 77; }

log=$(mktemp)
prlimit --nofile=$nofile:$nofile dotnet "$dll" serve --model "$model" --port 0 --max-num-seqs 4 >"$log" 2>&1 &
server=$!
cleanup() { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -f "$log"; }
trap cleanup EXIT

url=""
for _ in $(seq 600); do
  url=$(grep -o 'http://[^ ]*/v1' "$log" | head -1)
  [[ -n $url ]] && break
  kill -0 "$server" 2>/dev/null || { echo "server exited during start:"; cat "$log"; exit 1; }
  sleep 0.1
done
[[ -n $url ]] || { echo "server did not start"; cat "$log"; exit 1; }
hostport=${url#http://}; hostport=${hostport%/v1}
host=${hostport%:*}; port=${hostport##*:}
echo "server pid $server at $url under nofile=$nofile; fds at idle: $(ls /proc/$server/fd | wc -l)"

opened=0
for _ in $(seq "$connections"); do
  if exec {fd}<>"/dev/tcp/$host/$port" 2>/dev/null; then opened=$((opened + 1)); fi
done
sleep 1
kill -0 "$server" 2>/dev/null || { echo "server died with $opened idle connections open:"; tail -5 "$log"; exit 1; }
held=$(ls /proc/$server/fd | wc -l)
echo "opened $opened idle connections; the server holds $held fds (limit $nofile)"

# The idle connections stay open on this side: the server's keep-alive timeout (5 s) must shed them by itself.
body='{"prompt": "Paged attention", "max_tokens": 4, "temperature": 0}'
status=000
for attempt in $(seq 20); do
  answer=$(curl -s -m 10 -w ' %{http_code}' -H 'Content-Type: application/json' -d "$body" "$url/completions")
  status=${answer##* }
  [[ $status == 200 ]] && break
  sleep 1
done
echo "a real request after the flood (attempt $attempt): $status ${answer:0:160}"
echo "the server holds $(ls /proc/$server/fd | wc -l) fds after shedding idle connections"
kill -0 "$server" 2>/dev/null || { echo "server died"; tail -5 "$log"; exit 1; }
(( held < nofile )) || { echo "the server held as many fds as its limit"; exit 1; }
[[ $status == 200 ]] || exit 1
echo "OK: extra connections refused, server alive and answering"
