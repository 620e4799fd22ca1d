#!/usr/bin/env bash
# bench/sparse/run.sh: issue 12's benchmark, in one run, on data from `psd-datagen ctr` (26
# fields, 13 dense, about 10^6 distinct keys in play):
#   1. rows/s of sparse pull and push, 1x1 and 2x2, async and sync (bench/sparse:rows_pushpull);
#   2. end to end: dlrm (dim 16, hidden 64,32, adagrad for rows and dense, global batch 4096)
#      trained by psd 1x1 and 2x2 in sync and async (deploy/local/cluster.sh --insecure, psdctl
#      submit + wait) and by PyTorch in one process (bench/sparse/torch_ctr.py), samples/s and
#      test AUC beside the planted model's Bayes AUC;
#   3. server memory per row against raw bytes at 10^7 rows (bench/sparse:table_memory);
#   4. a table bigger than one server's model.embedding.memory_budget: the same job on 1 server
#      (it evicts) and on 4 servers (it fits), rows and evictions per server (GetStats, via
#      bench/sparse:table_stats) and the test AUC;
# then a final table. Everything goes under $PSD_SBENCH_DIR (default /tmp/psd-bench-sparse).
#
# usage: bench/sparse/run.sh [--full]
#   --full: the issue's full sizes (4M train rows, 10^6 values per field); the defaults run in
#   a few minutes on 2 cores. Environment (each overrides the default or --full's value):
#   TRAIN_ROWS TEST_ROWS CARDINALITY ZIPF EPOCHS BATCH DIM HIDDEN ROW_LR LR TABLE_ROWS PARTS
#   CONFIGS (part 2's servers x workers, default "1x1 2x2") MODES (default "sync async") MODEL
#   (part 2's psd model, default dlrm; fm has no PyTorch peer here) DATAGEN_ARGS (more
#   psd-datagen ctr flags, e.g. "--interactions=0")
#   (PARTS: comma list of rows,e2e,torch,memory,budget; default all) TORCH_THREADS (comma list,
#   default 1 and the core count; psd's 1x1 worker has cores BLAS threads) BAZEL_FLAGS (extra
#   bazel build flags, e.g. --disk_cache=...), PYTHON (default /usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

full=0
for a in "$@"; do
  case "$a" in
    --full) full=1 ;;
    -h | --help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $a (see --help)" >&2; exit 2 ;;
  esac
done
if [[ $full == 1 ]]; then
  : "${TRAIN_ROWS:=4000000}" "${TEST_ROWS:=400000}" "${CARDINALITY:=1000000}"
else
  : "${TRAIN_ROWS:=1000000}" "${TEST_ROWS:=100000}" "${CARDINALITY:=60000}"
fi
: "${ZIPF:=1.1}" "${EPOCHS:=1}" "${BATCH:=4096}" "${DIM:=16}" "${HIDDEN:=64,32}"
: "${ROW_LR:=0.02}" "${LR:=0.02}" "${TABLE_ROWS:=10000000}" "${PARTS:=rows,e2e,torch,memory,budget}"
: "${PYTHON:=/usr/bin/python3}" "${BAZEL_FLAGS:=}" "${TORCH_THREADS:=1,$(nproc)}"
: "${CONFIGS:=1x1 2x2}" "${MODES:=sync async}" "${MODEL:=dlrm}"
out=${PSD_SBENCH_DIR:-/tmp/psd-bench-sparse}
mkdir -p "$out"
cores=$(nproc)
want() { [[ ",$PARTS," == *",$1,"* ]]; }

# shellcheck disable=SC2086
bazel build $BAZEL_FLAGS //tools:psd-datagen //tools:psdctl //coordinator:psd-coordinator \
  //server:psd-server //worker:psd-worker //bench/sparse:rows_pushpull \
  //bench/sparse:table_memory //bench/sparse:table_stats
bin=$repo/bazel-bin

summary=$out/summary.txt
: >"$summary"
row() { printf '%-34s %14s %10s %s\n' "$@" | tee -a "$summary" >/dev/null; }

echo "== bench/sparse $(date -u +%FT%TZ) on $cores cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "   train $TRAIN_ROWS rows, test $TEST_ROWS, cardinality $CARDINALITY/field (zipf $ZIPF), batch $BATCH, dim $DIM, hidden $HIDDEN, epochs $EPOCHS"

# --- the data -------------------------------------------------------------------------------
data=$out/data-$TRAIN_ROWS-$TEST_ROWS-$CARDINALITY-$ZIPF${DATAGEN_ARGS:+-$(echo "$DATAGEN_ARGS" | tr -c 'a-z0-9._=' '_')}
if [[ ! -f $data/ground_truth.json ]]; then
  # shellcheck disable=SC2086
  "$bin/tools/psd-datagen" ctr --out "$data" --train_rows "$TRAIN_ROWS" --test_rows "$TEST_ROWS" \
    --cardinality "$CARDINALITY" --zipf "$ZIPF" --seed 1 --threads 0 $DATAGEN_ARGS | tee "$data.log"
fi
train=$data/train.txt test=$data/test.txt
bayes_auc=$("$PYTHON" -c 'import json,sys; print("%.4f" % json.load(open(sys.argv[1]))["test"]["bayes_auc"])' \
  "$data/ground_truth.json")
if [[ ! -f $data/train_keys ]]; then
  # Distinct (field, value) pairs of the train rows: the rows a table ends with.
  awk -F'\t' '{for (i = 15; i <= NF; i++) print i ":" $i}' "$train" | sort -u | wc -l >"$data/train_keys"
fi
train_keys=$(<"$data/train_keys")
echo "   data: $data, $train_keys distinct train keys, Bayes test AUC $bayes_auc"

# --- 1. rows/s of sparse pull and push ------------------------------------------------------
if want rows; then
  echo "== 1. sparse pull/push rows/s (bench/sparse:rows_pushpull)"
  "$bin/bench/sparse/rows_pushpull" --keys=1e6 --dim="$DIM" --rows="$BATCH" 2>"$out/rows.log" |
    tee "$out/rows.txt"
  awk '$1 ~ /^[0-9]+x[0-9]+$/ {printf "%-34s %14s %10s %s\n", "rows/s pull " $1 " " $2, $4, "", "(push " $5 ")"}' \
    "$out/rows.txt" >>"$summary"
fi

# --- 2. end to end ----------------------------------------------------------------------------
# job_yaml NAME SERVERS WORKERS CONSISTENCY [BUDGET]
job_yaml() {
  local per_worker=$((BATCH / $3)) budget=""
  [[ -n ${5:-} ]] && budget=", memory_budget: $5"
  cat <<EOF
name: $1
seed: 1
model:
  type: $MODEL
$([[ $MODEL == dlrm ]] && echo "  hidden: [$HIDDEN]")
  embedding: {dim: $DIM, optimizer: {type: adagrad, learning_rate: $ROW_LR}$budget}
data:
  format: criteo
  train_files: [$train]
  test_files: [$test]
training:
  epochs: $EPOCHS
  batch_size: $per_worker
  consistency: $4
  optimizer: {type: adagrad, learning_rate: $LR}
  log_every: 10
cluster: {servers: $2, workers: $3, device: cpu}
EOF
}

# run_psd NAME SERVERS WORKERS CONSISTENCY [BUDGET]: trains on a fresh local cluster; leaves
# RUN/verdict, RUN/status and (with a budget) RUN/table.txt.
run_psd() {
  local name=$1 s=$2 w=$3 mode=$4 budget=${5:-}
  local rd=$out/run-$name
  rm -rf "$rd"
  "$repo/deploy/local/cluster.sh" up --servers "$s" --workers "$w" --base-port 0 --insecure \
    --run-dir "$rd" --metrics-base-port -1 --console-port -1 >"$out/$name.up.log" 2>&1 || {
    echo "cluster.sh up failed ($name):" && tail -20 "$out/$name.up.log"
    return 1
  }
  local coord
  coord=$(<"$rd/coordinator.addr")
  local ctl=("$bin/tools/psdctl" --coordinator="$coord" --insecure)
  job_yaml "$name" "$s" "$w" "$mode" "$budget" >"$rd/job.yaml"
  local id
  # psdctl prints the id alone when its output is not a terminal, else "job ID submitted".
  id=$("${ctl[@]}" submit "$rd/job.yaml" 2>&1 | tee "$rd/submit.out" |
    awk 'NF == 1 {print $1} $1 == "job" && $3 == "submitted" {print $2}' | tail -1)
  if [[ -z $id ]]; then
    echo "psdctl submit failed ($name):" && cat "$rd/submit.out"
    "$repo/deploy/local/cluster.sh" down --run-dir "$rd" >/dev/null 2>&1 || true
    return 1
  fi
  "${ctl[@]}" wait "$id" >"$rd/wait.out" 2>&1 &
  local waiter=$!
  local poller=""
  if [[ -n $budget ]]; then
    local servers="" i
    for ((i = 0; i < s; i++)); do servers+="${servers:+,}127.0.0.1:$(<"$rd/ports/server-$i")"; done
    "$bin/bench/sparse/table_stats" --servers="$servers" --job="$id" --while_pid="$waiter" \
      >"$rd/table.txt" 2>&1 &
    poller=$!
  fi
  local rc=0
  wait "$waiter" || rc=$?
  [[ -n $poller ]] && wait "$poller" || true
  tail -1 "$rd/wait.out" >"$rd/verdict"
  "${ctl[@]}" status "$id" >"$rd/status" 2>&1 || true
  "$repo/deploy/local/cluster.sh" down --run-dir "$rd" >/dev/null 2>&1 || true
  if [[ $rc != 0 ]]; then
    echo "psd $name failed (psdctl wait exit $rc): $(cat "$rd/verdict")"
    echo "  logs: $rd/logs"
    return 1
  fi
}

# psd_figures NAME: "train_samples/s e2e_samples/s auc wall_s" of a finished run: the last
# progress report's samples/s during training (psdctl wait's lines before the evaluation), and
# train rows x epochs over the job's wall time (start-up, reading and evaluation included).
psd_figures() {
  local rd=$out/run-$1
  local sps auc wall e2e
  sps=$(grep ': step .* samples/s' "$rd/wait.out" | grep -v 'test_auc [0-9]' | grep -o '[0-9.]* samples/s' | tail -1 | cut -d' ' -f1) || true
  if [[ -z $sps ]]; then  # no report before the evaluation: the final one's
    sps=$(grep -o '[0-9.]* samples/s' "$rd/status" | tail -1 | cut -d' ' -f1) || true
  fi
  auc=$(grep -o 'test_auc=[0-9.]*' "$rd/verdict" | cut -d= -f2) || true
  wall=$(grep -o 'wall_s=[0-9.]*' "$rd/verdict" | cut -d= -f2) || true
  e2e=$(awk -v n="$TRAIN_ROWS" -v e="$EPOCHS" -v w="${wall:-0}" 'BEGIN {print (w > 0) ? int(n * e / w) : "-"}')
  echo "${sps:--} ${e2e} ${auc:--} ${wall:--}"
}

if want e2e; then
  echo "== 2. end to end: psd dlrm (psdctl submit + wait on deploy/local/cluster.sh --insecure)"
  for cfg in $CONFIGS; do
    for mode in $MODES; do
      s=${cfg%x*} w=${cfg#*x}
      name=sbench-$cfg-$mode
      if run_psd "$name" "$s" "$w" "$mode"; then
        read -r sps e2e auc wall < <(psd_figures "$name")
        echo "psd $MODEL $cfg $mode: $sps samples/s training ($e2e with start-up, reading and evaluation), test_auc $auc  ($(cat "$out/run-$name/verdict"))"
        row "psd $MODEL $cfg $mode" "$e2e" "$auc" "samples/s over the job's wall ${wall}s (start-up, reading, evaluation), test AUC; last progress report $sps samples/s"
      else
        row "psd $MODEL $cfg $mode" "failed" "-" "see above"
      fi
    done
  done
fi

if want torch; then
  echo "== 2. end to end: PyTorch $("$PYTHON" -c 'import torch; print(torch.__version__)') in one process, threads $TORCH_THREADS"
  if "$PYTHON" "$repo/bench/sparse/torch_ctr.py" --train "$train" --test "$test" --dim "$DIM" \
    --hidden "$HIDDEN" --batch "$BATCH" --epochs "$EPOCHS" --row_lr "$ROW_LR" --lr "$LR" \
    --threads "$TORCH_THREADS" --json "$out/torch.json" | tee "$out/torch.txt"; then
    while read -r threads sps e2e auc; do
      row "torch dlrm 1 process, $threads thr" "$sps" "$auc" "samples/s training loop, test AUC; $e2e samples/s with parsing the train rows"
    done < <("$PYTHON" -c 'import json,sys
for d in json.load(open(sys.argv[1])): print("%d %.0f %.0f %.4f" % (d["threads"], d["samples_per_s"], d["samples_per_s_with_parse"], d["test_auc"]))' "$out/torch.json")
  else
    row "torch dlrm 1 process" "failed" "-" "see above"
  fi
fi
row "Bayes (planted model)" "-" "$bayes_auc" "test AUC ceiling (ground_truth.json)"

# --- 3. memory per row ------------------------------------------------------------------------
if want memory; then
  echo "== 3. server memory per row at $TABLE_ROWS rows (bench/sparse:table_memory)"
  "$bin/bench/sparse/table_memory" --rows="$TABLE_ROWS" --dim="$DIM" --optimizer=adagrad \
    --compare_flat_hash_map=false --ops=200000 | tee "$out/memory.txt"
  mem=$(awk '/^memory_bytes\/row/ {print $2}' "$out/memory.txt")
  ratio=$(awk '/^memory_bytes\/row/ {print substr($3, 2)}' "$out/memory.txt")
  raw=$(awk '/^raw bytes\/row/ {print $3}' "$out/memory.txt")
  rss=$(awk '/^RSS growth\/row/ {print $3 " B (" substr($4, 2) " raw)"}' "$out/memory.txt")
  row "table memory/row, $TABLE_ROWS rows" "$mem" "$ratio" "bytes/row, x raw ($raw B: key, values, adagrad slots); RSS growth/row $rss"
fi

# --- 4. a table bigger than one server's budget -----------------------------------------------
if want budget; then
  # About 160 bytes per adagrad row of dim 16 (part 3); a budget of half the table per server:
  # one server must evict, four hold a quarter each.
  budget_mib=$((train_keys * (8 + 8 * DIM + 24) * 50 / 100 / 1048576 + 1))
  echo "== 4. memory_budget ${budget_mib}MiB per server, table of ~$train_keys rows (~$((train_keys * (8 + 8 * DIM + 24) / 1048576)) MiB)"
  for cfg in 1x1 4x1; do
    s=${cfg%x*} w=${cfg#*x}
    name=sbench-budget-$cfg
    if run_psd "$name" "$s" "$w" async "${budget_mib}MiB"; then
      read -r sps e2e auc wall < <(psd_figures "$name")
      echo "psd $cfg async, budget ${budget_mib}MiB/server: $sps samples/s, test_auc $auc"
      cat "$out/run-$name/table.txt"
      rows_total=$(awk '$1 == "total" {print $2}' "$out/run-$name/table.txt")
      ev_total=$(awk '$1 == "total" {print $3}' "$out/run-$name/table.txt")
      per_server=$(awk '$1 ~ /^[0-9]+$/ {printf "%s%s", sep, $2; sep="/"}' "$out/run-$name/table.txt")
      row "budget ${budget_mib}MiB $cfg" "$auc" "${ev_total:--}" "test AUC, evictions; rows/server ${per_server:--} (total ${rows_total:--})"
    else
      row "budget ${budget_mib}MiB $cfg" "failed" "-" "see above"
    fi
  done
fi

echo
echo "== summary ($summary)"
printf '%-34s %14s %10s %s\n' "what" "figure" "figure 2" "notes"
cat "$summary"
