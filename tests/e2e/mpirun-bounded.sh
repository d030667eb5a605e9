#!/usr/bin/env bash
# mpirun, bounded (the %mpirun of the end-to-end tests). Open MPI 4.1's
# mpirun can deadlock in its own shutdown after every rank has ended
# (orte_finalize -> PMIx_server_finalize waiting on PMIx's thread, which
# waits on a lock: seen in 1 of ~125 fault-test jobs under load here), and
# MPIEXEC_TIMEOUT does not fire there. This runs mpirun and, once it has
# outlived all its ranks (its child processes) by 30 s, kills it and exits
# 125 saying so: a test then reads what the job printed instead of waiting
# out Bazel's limit.
mpirun "$@" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT
alone=0
for (( ; ; )); do
  # A poll for a hang, not a synchronisation: the job's end wakes the wait.
  sleep 1 &
  ticker=$!
  ended=
  wait -n -p ended "$pid" "$ticker"
  status=$?
  if [[ "$ended" == "$pid" ]]; then
    kill "$ticker" 2>/dev/null
    exit "$status"
  fi
  # A rank mpirun has not reaped (a zombie, state Z) has ended too: in
  # the same shutdown hang mpirun stops reaping, and counting those as
  # running kept one job waiting for Bazel's limit.
  if ps --ppid "$pid" -o stat= | grep -qv '^Z'; then
    alone=0
  else
    alone=$((alone + 1))
  fi
  if ((alone > 30)); then
    echo "mpirun-bounded: mpirun still running 30 s after its ranks ended" \
      "(a hang in Open MPI's shutdown); killed" >&2
    kill -KILL "$pid" 2>/dev/null
    exit 125
  fi
done
