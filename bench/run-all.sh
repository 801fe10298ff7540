#!/usr/bin/env bash
# Builds the benchmarks in Release into build-bench/ and runs them all, printing the figures.
# Usage: bench/run-all.sh [--quick]    --quick: small counts and fewer rounds, a smoke run.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build-bench"

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DREPORTHUB_TESTS=OFF >/dev/null
# Two jobs: the benchmarks are meant for small shared machines.
ninja -C "$build" -j2 bench

if [[ "${1:-}" == "--quick" ]]; then
  throughput_args=(-n 100000 -r 1)
  latency_args=(-n 5000 -r 1)
  shutdown_args=(-r 1)
  recovery_args=(-n 10000 -r 1)
  checks_args=(-n 200 --every 2 -d 4)
  desksend_args=(-n 1000 -r 1)
  logscan_args=(--mb 64 -r 1 --e2e-lines 200000)
  syslog_args=(-n 100000 -r 1)
  ns_link_args=(-n 20000 -r 1)
  ds_send_args=(-n 20000 -r 1)
else
  throughput_args=()
  latency_args=()
  shutdown_args=()
  recovery_args=()
  checks_args=()
  desksend_args=()
  logscan_args=()
  syslog_args=()
  ns_link_args=()
  ds_send_args=()
fi

echo
"$build/bench/throughput" "${throughput_args[@]}"
echo
"$build/bench/latency" "${latency_args[@]}"
echo
"$build/bench/latency" --sync off "${latency_args[@]}"
echo
"$build/bench/shutdown" "${shutdown_args[@]}"
echo
"$build/bench/recovery" "${recovery_args[@]}"
echo
"$build/bench/checks" "${checks_args[@]}"
echo
"$build/bench/desksend" "${desksend_args[@]}"
echo
"$build/bench/logscan" "${logscan_args[@]}"
echo
"$build/bench/syslog_ingest" "${syslog_args[@]}"
"$build/bench/ns_link" "${ns_link_args[@]}"
"$build/bench/ds_send" "${ds_send_args[@]}"
