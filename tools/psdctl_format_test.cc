#include "tools/psdctl_format.h"

#include "absl/time/clock.h"
#include "tests/testing.h"

namespace psd {
namespace {

Progress Midway() {
  Progress p;
  p.set_step(2500);
  p.set_total_steps(10000);
  p.set_epoch(2);
  p.set_epochs(10);
  p.set_loss(0.43216);
  p.set_test_accuracy(0.8712);
  p.set_samples_per_sec(12345.4);
  p.set_wall_seconds(50);
  p.set_timestamp_ms(1);
  return p;
}

TEST_CASE("ProgressLine shows epoch, step, loss, accuracy, rate and ETA") {
  CHECK(ProgressLine(Midway()) ==
        "epoch 3/10  step 2500/10000  loss 0.4322  test_acc 0.8712  12345 samples/s  ETA 2m30s");
  Progress none = Midway();
  none.set_test_accuracy(-1);
  CHECK_THAT(ProgressLine(none), Catch::Contains("test_acc -"));
  CHECK(ProgressLine(Progress()) == "waiting for the first progress report");
}

TEST_CASE("ProgressBar fits the terminal") {
  const std::string bar = ProgressBar(Midway(), 200);
  CHECK_THAT(bar, Catch::StartsWith("[=====>              ]  25%  epoch 3/10"));
  CHECK(ProgressBar(Midway(), 30).size() == 30);
}

TEST_CASE("FinalLine is the one line scripts look for") {
  JobInfo job;
  job.set_job_id("mnist-3");
  job.set_state(JOB_SUCCEEDED);
  job.mutable_result()->set_test_accuracy(0.88764);
  job.mutable_result()->set_wall_seconds(123.45);
  CHECK(FinalLine(job) == "job mnist-3 succeeded: test_accuracy=0.8876 wall_s=123.5");
  // With the coordinator's start and end times, those: a recovery's time counts too.
  job.set_started_ms(1000);
  job.set_ended_ms(3500);
  CHECK(FinalLine(job) == "job mnist-3 succeeded: test_accuracy=0.8876 wall_s=2.5");
  job.set_state(JOB_FAILED);
  job.set_reason("worker 1: out of memory");
  CHECK(FinalLine(job) == "job mnist-3 failed: worker 1: out of memory");
  job.set_state(JOB_CANCELLED);
  job.set_reason("cancelled by user");
  CHECK(FinalLine(job) == "job mnist-3 cancelled: cancelled by user");
}

TEST_CASE("sparse models: test AUC in progress and results, tables in status") {
  Progress p = Midway();
  p.set_test_auc(-1);
  CHECK_THAT(ProgressLine(p), Catch::Contains("test_auc -"));
  p.set_test_auc(0.78123);
  p.set_test_logloss(0.45678);
  CHECK_THAT(ProgressLine(p), Catch::Contains("test_auc 0.7812 logloss 0.4568"));
  JobInfo job;
  job.set_job_id("ctr-1");
  job.set_state(JOB_SUCCEEDED);
  job.mutable_result()->set_test_auc(0.80004);
  job.mutable_result()->set_test_loss(0.4321);
  job.mutable_result()->set_wall_seconds(12);
  CHECK(FinalLine(job) == "job ctr-1 succeeded: test_auc=0.8000 test_logloss=0.4321 wall_s=12.0");
  job.set_state(JOB_RUNNING);
  SparseTableStats* t = job.add_tables();
  t->set_rank(1);
  t->set_rows(1000);
  t->set_raw_row_bytes(136);
  t->set_memory_bytes(153900);
  t->set_evictions(7);
  t->set_not_admitted_updates(3);
  CHECK_THAT(JobStatusText(job, absl::Now()),
             Catch::Contains("server 1: 1000 rows, ") &&
                 Catch::Contains("(1.13x raw), 7 evictions, 3 updates of unadmitted keys dropped"));
}

TEST_CASE("ShortDuration") {
  CHECK(ShortDuration(0) == "0s");
  CHECK(ShortDuration(59.4) == "59s");
  CHECK(ShortDuration(192) == "3m12s");
  CHECK(ShortDuration(3720) == "1h02m");
}

TEST_CASE("tables line up their columns") {
  ListJobsResponse jobs;
  JobInfo* a = jobs.add_jobs();
  a->set_job_id("a-1");
  a->set_state(JOB_QUEUED);
  a->set_reason("waiting: 1 of 2 workers registered");
  JobInfo* b = jobs.add_jobs();
  b->set_job_id("longer-name-2");
  b->set_state(JOB_RUNNING);
  b->set_reason("running");
  b->mutable_progress()->set_step(5);
  b->mutable_progress()->set_total_steps(10);
  const std::string table = JobsTable(jobs);
  CHECK_THAT(table, Catch::StartsWith("JOB            STATE    SUBMITTED  STEP  REASON\n"));
  CHECK_THAT(table, Catch::Contains("\na-1            queued   -          -     waiting: 1 of 2"));
  CHECK_THAT(table, Catch::Contains("\nlonger-name-2  running  -          5/10  running\n"));

  ListNodesResponse nodes;
  NodeStatus* n = nodes.add_nodes();
  n->mutable_node()->set_node_id("worker-1");
  n->mutable_node()->set_role(ROLE_WORKER);
  n->mutable_node()->set_address("h:1");
  Device* d = n->mutable_node()->add_devices();
  d->set_kind("cuda");
  d->set_detail("driver too old");
  n->set_state(NODE_BUSY);
  n->set_job_id("a-1");
  n->set_rank(0);
  n->set_last_heartbeat_ms(1000);
  const std::string listed = NodesTable(nodes, absl::FromUnixMillis(1500));
  CHECK_THAT(listed, Catch::Contains("worker-1  worker  h:1      busy   a-1  0     "
                                     "cuda:0(unusable)  0.5s ago"));
  CHECK_THAT(listed, !Catch::Contains("refused"));
  (*nodes.mutable_denied_calls())["psd.Coordinator/SubmitJob"] = 2;
  (*nodes.mutable_denied_calls())["psd.Coordinator/CancelJob"] = 1;
  CHECK_THAT(NodesTable(nodes, absl::FromUnixMillis(1500)),
             Catch::EndsWith("\nthe coordinator refused 3 calls since it started (unauthenticated "
                             "or not allowed): psd.Coordinator/CancelJob 1, "
                             "psd.Coordinator/SubmitJob 2\n"));
}

TEST_CASE("JobStatusText shows the reason, progress and events") {
  JobInfo job;
  job.set_job_id("mnist-3");
  job.set_name("mnist");
  job.set_state(JOB_RUNNING);
  job.set_reason("running");
  *job.mutable_progress() = Midway();
  job.add_server_nodes("server-1");
  job.add_worker_nodes("worker-1");
  job.add_worker_nodes("worker-2");
  job.set_generation(1);
  job.add_events("worker 1 lost; continuing with 1 worker");
  const std::string text = JobStatusText(job, absl::Now());
  CHECK_THAT(text,
             Catch::StartsWith("job         mnist-3 (mnist)\nstate       running: running\n"));
  CHECK_THAT(text, Catch::Contains("\nworkers     worker-1, worker-2\n"));
  CHECK_THAT(text, Catch::Contains("\nprogress    epoch 3/10  step 2500/10000"));
  CHECK_THAT(text, Catch::EndsWith("events\n  worker 1 lost; continuing with 1 worker\n"));
}

TEST_CASE("JobStatusText counts the faults a job survived") {
  JobInfo job;
  job.set_job_id("mnist-3");
  job.set_state(JOB_RUNNING);
  job.set_reason("running");
  CHECK_THAT(JobStatusText(job, absl::Now()), !Catch::Contains("faults"));
  job.mutable_faults()->set_checkpoint_failures(2);
  job.mutable_faults()->set_nonfinite_pushes_rejected(1);
  job.mutable_faults()->set_nonfinite_chunks_skipped(7);
  job.add_events("checkpoint of step 40 failed on server 0: No space left on device");
  const std::string text = JobStatusText(job, absl::Now());
  CHECK_THAT(text, Catch::Contains("\nfaults "));
  CHECK_THAT(text, Catch::Contains(" 2 checkpoints failed to write; 1 push refused for non-finite "
                                   "gradients; 7 chunks of non-finite gradients skipped\n"));
  CHECK_THAT(text,
             Catch::EndsWith("events\n  checkpoint of step 40 failed on server 0: No space left on "
                             "device\n"));
}

TEST_CASE("a recovering job shows why it is paused") {
  JobInfo job;
  job.set_job_id("mnist-3");
  job.set_state(JOB_RUNNING);
  job.set_reason("recovering: waiting for a server to replace server 1");
  *job.mutable_progress() = Midway();
  job.add_events("server 1 lost at step 2500; pausing");
  CHECK(IsRecovering(job));
  const std::string text = JobStatusText(job, absl::Now());
  CHECK_THAT(text,
             Catch::Contains(" running: recovering: waiting for a server to replace server 1\n"));
  CHECK_THAT(text, Catch::Contains(" paused: epoch 3/10  step 2500/10000"));
  CHECK_THAT(text, Catch::EndsWith("events\n  server 1 lost at step 2500; pausing\n"));
  job.set_reason("running");
  CHECK_FALSE(IsRecovering(job));
  job.set_state(JOB_FAILED);
  job.set_reason("recovering: x");
  CHECK_FALSE(IsRecovering(job));
}

TEST_CASE("a failed call's line is never an empty \"psdctl: \"") {
  CHECK(FailureLine(3, "job.yaml:2: name: required", "127.0.0.1:7070") ==
        "psdctl: job.yaml:2: name: required");
  // gRPC answers a request it cannot parse (a string field that is not UTF-8) with INTERNAL
  // and no message.
  CHECK(FailureLine(13, "", "127.0.0.1:7070") ==
        "psdctl: the coordinator at 127.0.0.1:7070 answered INTERNAL without a message (a "
        "request it could not read?)");
  CHECK(FailureLine(7, "  ", "c:1") ==
        "psdctl: the coordinator at c:1 answered "
        "PERMISSION_DENIED without a message");
}

TEST_CASE("JobStatusText names stragglers and shows each worker's phases") {
  JobInfo job;
  job.set_job_id("mnist-3");
  job.set_state(JOB_RUNNING);
  job.set_reason("running");
  Straggler* s = job.add_stragglers();
  s->set_rank(1);
  s->set_node_id("worker-b");
  s->set_phase("compute");
  s->set_seconds_per_step(0.0412);
  s->set_others_seconds_per_step(0.0130);
  s->set_since_step(20);
  for (int rank : {0, 1}) {
    WorkerProgress* w = job.add_workers();
    w->set_rank(rank);
    w->set_node_id(rank == 0 ? "worker-a" : "worker-b");
    w->set_step(50);
    w->set_samples_per_sec(1000);
    StepPhases* p = w->mutable_phases();
    p->set_steps(10);
    p->set_step(0.045);
    p->set_backward(rank == 0 ? 0.008 : 0.036);
    p->set_wait(rank == 0 ? 0.032 : 0.004);
  }
  const std::string text = JobStatusText(job, absl::Now());
  CHECK_THAT(text, Catch::Contains("\nstraggler  worker 1 (worker-b): compute 41.2 ms per step, "
                                   "the others 13.0 ms (3.2x), since step 20\n"));
  CHECK_THAT(text, Catch::Contains("\nworkers (ms per step, over the last report)\n"
                                   "  RANK  NODE      STEP  SAMPLES/S  STEP  DATA  FWD  BWD   "
                                   "PUSH  WAIT  PULL  STRAGGLER\n"));
  CHECK_THAT(text, Catch::Contains("\n  1     worker-b  50    1000       45.0  0.0   0.0  36.0  "
                                   "0.0   4.0   0.0   compute\n"));
  CHECK_THAT(text, Catch::Contains("\n  0     worker-a  50    1000       45.0  0.0   0.0  8.0   "
                                   "0.0   32.0  0.0   -\n"));
}

TEST_CASE("JobStatusText shows the devices each worker trains on") {
  JobInfo job;
  job.set_job_id("mnist-4");
  job.set_state(JOB_RUNNING);
  job.set_reason("running");
  CHECK(WorkerDevicesText(job).empty());
  CHECK_THAT(JobStatusText(job, absl::Now()), !Catch::Contains("devices"));
  for (int rank : {0, 1, 2}) {
    WorkerProgress* w = job.add_workers();
    w->set_rank(rank);
    w->set_step(50);
    if (rank == 2) continue;  // not reported yet
    for (int i : {0, 1}) {
      Device* d = w->add_devices();
      d->set_kind(rank == 0 ? "cpu" : "cuda");
      d->set_index(rank == 0 ? i : i + 2);
      d->set_name(rank == 0 ? "AMD EPYC, 1 threads" : "NVIDIA H200, 139.8 GiB");
    }
  }
  CHECK(WorkerDevicesText(job) == "worker 0 cpu:0,cpu:1; worker 1 cuda:2,cuda:3");
  CHECK_THAT(JobStatusText(job, absl::Now()),
             Catch::Contains("\ndevices    worker 0 cpu:0,cpu:1; worker 1 cuda:2,cuda:3\n"));
}

TEST_CASE("JobStatusText names slow servers and shows each server's load") {
  JobInfo job;
  job.set_job_id("mnist-4");
  job.set_state(JOB_RUNNING);
  Straggler* s = job.add_slow_servers();
  s->set_rank(1);
  s->set_node_id("server-b");
  s->set_phase("apply");
  s->set_seconds_per_step(0.0210);
  s->set_others_seconds_per_step(0.0005);
  s->set_since_step(30);
  for (int rank : {0, 1}) {
    ServerLoad* l = job.add_servers();
    l->set_rank(rank);
    l->set_node_id(rank == 0 ? "server-a" : "server-b");
    l->set_calls(400);
    l->set_rpc_seconds(rank == 0 ? 0.0015 : 0.0225);
    l->set_apply_seconds(rank == 0 ? 0.0005 : 0.0210);
    l->set_bytes_per_second(12.5e6);
  }
  const std::string text = JobStatusText(job, absl::Now());
  CHECK_THAT(text, Catch::Contains("\nslow server  server 1 (server-b): apply 21.0 ms per call, "
                                   "the others 0.5 ms (42.0x), since step 30\n"));
  CHECK_THAT(text, Catch::Contains("\nservers (ms per chunk RPC, over the workers' last reports)\n"
                                   "  RANK  NODE      CALLS  RPC MS  SERVER MS  NETWORK MS  MB/S  "
                                   "SLOW\n"));
  CHECK_THAT(text, Catch::Contains("\n  1     server-b  400    22.50   21.00      1.50        "
                                   "12.5  apply\n"));
  CHECK_THAT(text, Catch::Contains("\n  0     server-a  400    1.50    0.50       1.00        "
                                   "12.5  -\n"));
}

}  // namespace
}  // namespace psd
