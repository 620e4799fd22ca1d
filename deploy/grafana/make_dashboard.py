#!/usr/bin/env python3
# Writes deploy/grafana/psd-dashboard.json (stdout): python3 deploy/grafana/make_dashboard.py > deploy/grafana/psd-dashboard.json
# Every metric is described in docs/observability.md.
import json
panels = []
pid = [0]
y = [0]
def row(title):
    pid[0] += 1
    panels.append({"type": "row", "title": title, "id": pid[0], "collapsed": False,
                   "gridPos": {"h": 1, "w": 24, "x": 0, "y": y[0]}, "panels": []})
    y[0] += 1
col = [0]
def ts(title, targets, unit, desc, stack=False, w=8):
    pid[0] += 1
    if col[0] + w > 24:
        col[0] = 0
        y[0] += 8
    p = {"type": "timeseries", "title": title, "id": pid[0], "description": desc,
         "datasource": {"type": "prometheus", "uid": "${datasource}"},
         "gridPos": {"h": 8, "w": w, "x": col[0], "y": y[0]},
         "fieldConfig": {"defaults": {"unit": unit, "custom": {
             "drawStyle": "line", "lineWidth": 1, "fillOpacity": 20 if stack else 0,
             "stacking": {"mode": "normal" if stack else "none", "group": "A"}}},
             "overrides": []},
         "options": {"legend": {"displayMode": "table", "placement": "bottom",
                                "calcs": ["lastNotNull", "max"]},
                     "tooltip": {"mode": "multi", "sort": "desc"}},
         "targets": [{"datasource": {"type": "prometheus", "uid": "${datasource}"},
                      "expr": e, "legendFormat": l, "refId": chr(65 + i)}
                     for i, (e, l) in enumerate(targets)]}
    panels.append(p)
    col[0] += w
def newrow(title):
    if col[0] != 0:
        y[0] += 8
        col[0] = 0
    row(title)

J = 'job=~"$job"'
R = '$__rate_interval'
newrow("Workers")
ts("Samples/s by worker", [(f'sum by (job, worker) (rate(psd_worker_samples_total{{{J}}}[{R}]))', "{{job}} worker {{worker}}")],
   "short", "Training examples per second of each worker (psd_worker_samples_total). A worker below the others is a straggler: see its phases.")
ts("Step time by worker (p50, p99)", [
    (f'histogram_quantile(0.5, sum by (le, job, worker) (rate(psd_worker_step_seconds_bucket{{{J}}}[{R}])))', "p50 {{job}} w{{worker}}"),
    (f'histogram_quantile(0.99, sum by (le, job, worker) (rate(psd_worker_step_seconds_bucket{{{J}}}[{R}])))', "p99 {{job}} w{{worker}}")],
   "s", "psd_worker_step_seconds: one training step, all phases.")
ts("Step phases (mean per step)", [
    (f'sum by (job, worker, phase) (rate(psd_worker_step_phase_seconds_sum{{{J}}}[{R}])) / sum by (job, worker, phase) (rate(psd_worker_step_phase_seconds_count{{{J}}}[{R}]))', "w{{worker}} {{phase}}")],
   "s", "psd_worker_step_phase_seconds: where a step's time goes (data, forward, backward, push, wait, pull). A large 'wait' means the servers or the network; large forward/backward means compute.", stack=True)
ts("Push / pull bytes/s by server", [
    (f'sum by (server) (rate(psd_worker_push_bytes_total{{{J}}}[{R}]))', "push to server {{server}}"),
    (f'sum by (server) (rate(psd_worker_pull_bytes_total{{{J}}}[{R}]))', "pull from server {{server}}")],
   "Bps", "Payload bytes the workers send to and receive from each server. Uneven servers mean an unbalanced placement.")
ts("Chunk RPC latency p99 by server", [
    (f'histogram_quantile(0.99, sum by (le, server) (rate(psd_worker_rpc_seconds_bucket{{{J}}}[{R}])))', "server {{server}}")],
   "s", "psd_worker_rpc_seconds: one chunk push/pull attempt as the workers see it. One server higher than the others is a slow server.")
ts("RPC retries and errors", [
    (f'sum by (server) (rate(psd_worker_rpc_retries_total{{{J}}}[{R}]))', "retries server {{server}}"),
    (f'sum by (server) (rate(psd_worker_rpc_errors_total{{{J}}}[{R}]))', "errors server {{server}}")],
   "reqps", "Retries (server unavailable) and final errors of the workers' chunk RPCs.")

newrow("Servers")
ts("Push / pull requests/s", [
    (f'sum by (server) (rate(psd_server_push_requests_total{{{J}}}[{R}]))', "push server {{server}}"),
    (f'sum by (server) (rate(psd_server_pull_requests_total{{{J}}}[{R}]))', "pull server {{server}}")],
   "reqps", "psd_server_push_requests_total, psd_server_pull_requests_total.")
ts("Push handling and pull latency p99", [
    (f'histogram_quantile(0.99, sum by (le, server) (rate(psd_server_push_seconds_bucket{{{J}}}[{R}])))', "push server {{server}}"),
    (f'histogram_quantile(0.99, sum by (le, server) (rate(psd_server_pull_seconds_bucket{{{J}}}[{R}])))', "pull server {{server}}")],
   "s", "psd_server_push_seconds (decode, checks, apply) and psd_server_pull_seconds (start to reply, waiting included).")
ts("Barrier wait of pulls p50 / p99", [
    (f'histogram_quantile(0.5, sum by (le, server) (rate(psd_server_pull_wait_seconds_bucket{{{J}}}[{R}])))', "p50 server {{server}}"),
    (f'histogram_quantile(0.99, sum by (le, server) (rate(psd_server_pull_wait_seconds_bucket{{{J}}}[{R}])))', "p99 server {{server}}")],
   "s", "psd_server_pull_wait_seconds: time a pull waited for its step (sync or ssp). High everywhere: a slow worker holds the step.")
ts("Optimizer apply time p99", [
    (f'histogram_quantile(0.99, sum by (le, server) (rate(psd_server_optimizer_apply_seconds_bucket{{{J}}}[{R}])))', "server {{server}}")],
   "s", "psd_server_optimizer_apply_seconds: one optimizer update of one chunk.")
ts("Staleness", [
    (f'max by (job) (psd_server_max_staleness{{{J}}})', "max {{job}}"),
    (f'histogram_quantile(0.99, sum by (le, job) (rate(psd_server_pull_staleness_bucket{{{J}}}[{R}])))', "p99 {{job}}"),
    (f'max by (job, worker) (psd_worker_max_staleness{{{J}}})', "worker {{worker}} max {{job}}")],
   "short", "Steps between the clock a pull read and the slowest worker's (async, ssp). Sync: always 0.")
ts("Non-finite gradients", [
    (f'sum by (job, server) (rate(psd_server_nonfinite_pushes_rejected_total{{{J}}}[{R}]))', "rejected pushes {{job}} s{{server}}"),
    (f'sum by (job, server) (rate(psd_server_nonfinite_chunks_skipped_total{{{J}}}[{R}]))', "skipped chunks {{job}} s{{server}}")],
   "reqps", "NaN/Inf gradients seen (training.nonfinite_gradients). Anything above 0: lower the learning rate, check the data.")
ts("Checkpoint duration (mean) and bytes/s", [
    (f'sum by (server) (rate(psd_server_checkpoint_seconds_sum{{{J}}}[5m])) / sum by (server) (rate(psd_server_checkpoint_seconds_count{{{J}}}[5m]))', "seconds server {{server}}")],
   "s", "psd_server_checkpoint_seconds: writing this server's part of a checkpoint.")
ts("Checkpoint bytes and failures", [
    (f'sum by (server) (increase(psd_server_checkpoint_bytes_total{{{J}}}[5m]))', "bytes/5m server {{server}}"),
    (f'sum by (server) (increase(psd_server_checkpoints_failed_total{{{J}}}[5m]))', "failed/5m server {{server}}")],
   "decbytes", "psd_server_checkpoint_bytes_total, psd_server_checkpoints_failed_total.")
ts("Server step and waiting pulls", [
    (f'psd_server_step{{{J}}}', "step {{job}} s{{server}}"),
    (f'psd_server_waiting_pulls{{{J}}}', "waiting pulls {{job}} s{{server}}")],
   "short", "psd_server_step: the lowest chunk clock; psd_server_waiting_pulls: pulls parked for their step now.")

newrow("Coordinator and processes")
ts("Jobs by state", [('sum by (state) (psd_coordinator_jobs)', "{{state}}")], "short",
   "psd_coordinator_jobs: every job the coordinator knows.", stack=True)
ts("Nodes by role and state", [('sum by (node_role, state) (psd_coordinator_nodes)', "{{node_role}} {{state}}")], "short",
   "psd_coordinator_nodes. Dead nodes stay listed for a while.", stack=True)
ts("Job submissions and denied calls", [
    (f'sum by (result) (increase(psd_coordinator_job_submissions_total[5m]))', "submissions {{result}} /5m"),
    (f'sum by (role, method) (increase(psd_rpc_denied_total[5m]))', "denied {{role}} {{method}} /5m")],
   "short", "Refused submissions (bad specs) and calls refused by authorisation (docs/security.md).")
ts("Resident memory", [('psd_process_resident_memory_bytes', "{{instance}}")], "bytes",
   "psd_process_resident_memory_bytes of every daemon.")
ts("CPU (cores)", [(f'rate(psd_process_cpu_seconds_total[{R}])', "{{instance}}")], "short",
   "rate(psd_process_cpu_seconds_total): cores busy in each daemon.")
ts("Threads", [('psd_process_threads', "{{instance}}")], "short", "psd_process_threads.")

dash = {
  "__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus", "type": "datasource",
                "pluginId": "prometheus", "pluginName": "Prometheus"}],
  "title": "psd", "uid": "psd-overview", "description": "psd parameter-server cluster: workers, servers, coordinator (docs/observability.md)",
  "tags": ["psd"], "timezone": "browser", "schemaVersion": 38, "version": 1, "editable": True,
  "refresh": "10s", "time": {"from": "now-30m", "to": "now"},
  "templating": {"list": [
    {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source", "current": {}},
    {"name": "job", "type": "query", "label": "psd job", "datasource": {"type": "prometheus", "uid": "${datasource}"},
     "query": {"query": "label_values(psd_worker_steps_total, job)", "refId": "jobs"},
     "definition": "label_values(psd_worker_steps_total, job)",
     "includeAll": True, "multi": True, "allValue": ".*", "refresh": 2, "current": {}}]},
  "annotations": {"list": []},
  "panels": panels,
}
print(json.dumps(dash, indent=2))
