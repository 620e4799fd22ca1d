#include "coordinator/checkpoint_catalog.h"

#include "tests/testing.h"

namespace psd {
namespace {

// Every one of `num_servers` ranks reports `step` written.
void WriteAll(CheckpointCatalog& c, int64_t step) {
  for (int rank = 0; rank < c.num_servers(); ++rank) c.AddWritten(step, rank);
}

TEST_CASE("a checkpoint is complete once every server rank wrote it") {
  CheckpointCatalog c(3, 5, "");
  CHECK(c.AddWritten(100, 2) == 1);
  CHECK(c.AddWritten(100, 0) == 2);
  CHECK(c.AddWritten(100, 0) == 0);  // reported twice
  CHECK_FALSE(c.IsComplete(100));
  CHECK(c.AddWritten(100, 1) == 3);
  CHECK(c.IsComplete(100));
  CHECK_FALSE(c.IsComplete(200));
}

TEST_CASE("the newest complete checkpoint is the one to resume from") {
  CheckpointCatalog c(2, 5, "");
  CHECK(c.PickResumePoint() == ResumePoint{0, ""});  // the seed
  WriteAll(c, 100);
  WriteAll(c, 200);
  c.AddWritten(300, 1);  // partial
  CHECK(c.PickResumePoint() == ResumePoint{200, ""});
}

TEST_CASE("unusable checkpoints are skipped until written again") {
  CheckpointCatalog c(2, 5, "");
  WriteAll(c, 100);
  WriteAll(c, 200);
  c.ResumeFrom({200, ""});
  c.MarkUnusable(200);
  CHECK(c.PickResumePoint() == ResumePoint{100, ""});
  c.ResumeFrom(*c.PickResumePoint());
  c.MarkUnusable(100);
  CHECK(c.PickResumePoint() == ResumePoint{0, ""});
  c.ResumeFrom({0, ""});
  CHECK(c.AddWritten(200, 0) == 1);  // a new checkpoint of that step
  CHECK(c.unusable() == std::set<int64_t>{100});
  CHECK(c.PickResumePoint() == ResumePoint{0, ""});
  c.AddWritten(200, 1);
  CHECK(c.PickResumePoint() == ResumePoint{200, ""});
}

TEST_CASE("a job submitted from a checkpoint falls back to it, not to older ones") {
  CheckpointCatalog c(2, 5, "/other/a-1/500/");
  CHECK(c.resume() == ResumePoint{500, "/other/a-1/500/"});
  CHECK(c.PickResumePoint() == ResumePoint{500, "/other/a-1/500/"});
  WriteAll(c, 400);  // older than the start: never picked
  WriteAll(c, 600);
  CHECK(c.PickResumePoint() == ResumePoint{600, ""});
  c.MarkUnusable(600);
  CHECK(c.PickResumePoint() == ResumePoint{500, "/other/a-1/500/"});
  c.MarkUnusable(500);
  CHECK(c.PickResumePoint() == ResumePoint{400, ""});
  c.MarkUnusable(400);
  CHECK_FALSE(c.PickResumePoint().has_value());
}

TEST_CASE("pruning keeps the newest `keep` complete checkpoints") {
  CheckpointCatalog c(2, 2, "");
  c.AddWritten(50, 0);  // never completes
  WriteAll(c, 100);
  CHECK(c.written().size() == 2);
  WriteAll(c, 200);  // older partial ones never complete
  CHECK(c.written() == std::map<int64_t, std::set<int>>{{100, {0, 1}}, {200, {0, 1}}});
  c.AddWritten(250, 1);
  WriteAll(c, 300);
  CHECK(c.written() == std::map<int64_t, std::set<int>>{{200, {0, 1}}, {250, {1}}, {300, {0, 1}}});

  CheckpointCatalog at_least_one(1, 0, "");
  WriteAll(at_least_one, 100);
  WriteAll(at_least_one, 200);
  CHECK(at_least_one.written() == std::map<int64_t, std::set<int>>{{200, {0}}});
}

TEST_CASE("pruning never drops the checkpoint a recovery restores from") {
  CheckpointCatalog c(2, 1, "");
  WriteAll(c, 100);
  c.AddWritten(200, 0);
  c.ResumeFrom(*c.PickResumePoint());  // server 0's 200 belongs to the abandoned run
  CHECK(c.resume() == ResumePoint{100, ""});
  CHECK(c.written().count(200) == 0);
  c.AddWritten(200, 1);  // not complete: nothing is pruned
  CHECK(c.IsComplete(100));
  CHECK(c.PickResumePoint() == ResumePoint{100, ""});
}

TEST_CASE("pruning forgets old unusable marks except the submitted start's") {
  CheckpointCatalog c(1, 1, "/ckpt/a-1/50");
  c.MarkUnusable(50);
  WriteAll(c, 100);
  c.MarkUnusable(100);
  WriteAll(c, 200);
  CHECK(c.unusable() == std::set<int64_t>{50});
  c.MarkUnusable(200);
  CHECK_FALSE(c.PickResumePoint().has_value());
}

TEST_CASE("a catalogue survives the job store") {
  CheckpointCatalog c(2, 3, "/ckpt/a-1/50");
  WriteAll(c, 100);
  WriteAll(c, 200);
  c.ResumeFrom({200, ""});
  c.MarkUnusable(200);
  c.AddWritten(300, 1);
  JobRecord rec;
  rec.resume_from = "/ckpt/a-1/50";
  rec.servers.resize(2);
  rec.info.set_state(JOB_RUNNING);
  rec.info.set_generation(2);
  c.SaveTo(rec);
  CHECK(rec.resume_step == 200);
  CHECK(rec.resume_dir.empty());
  CHECK(rec.unusable_steps == std::set<int64_t>{200});

  CheckpointCatalog back = CheckpointCatalog::Restore(rec, 3);
  CHECK(back.num_servers() == 2);
  CHECK(back.resume() == ResumePoint{200, ""});
  CHECK(back.written() == c.written());
  CHECK(back.unusable() == c.unusable());
  CHECK(back.PickResumePoint() == ResumePoint{100, ""});
  CHECK(back.AddWritten(300, 0) == 2);  // completes, and keeps 3: nothing pruned
  CHECK(back.written().size() == 3);
}

TEST_CASE("a running job saved before schema 2 resumes from where it was submitted to") {
  JobRecord rec;
  rec.resume_from = "/ckpt/a-1/50";
  rec.servers.resize(1);
  rec.info.set_state(JOB_RUNNING);
  rec.info.set_generation(1);
  CHECK(CheckpointCatalog::Restore(rec, 1).resume() == ResumePoint{50, "/ckpt/a-1/50"});
  rec.info.set_state(JOB_FAILED);
  CHECK(CheckpointCatalog::Restore(rec, 1).resume() == ResumePoint{0, ""});
}

}  // namespace
}  // namespace psd
