#include "common/trace_json.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <set>
#include <string>

#include "tests/testing.h"

namespace psd {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

TraceEvent Event(const char* name, const char* track, int64_t start, int64_t dur) {
  TraceEvent e;
  e.name = name;
  e.track = track;
  e.step = 3;
  e.start_us = start;
  e.dur_us = dur;
  return e;
}

Struct Parse(const std::string& json) {
  Struct doc;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &doc);
  INFO(json);
  REQUIRE(status.ok());
  return doc;
}

TEST_CASE("WriteChromeTrace writes trace JSON that parses back, on the reference clock") {
  TraceNode worker;
  worker.label = "worker 0 (node-1)";
  worker.role = "worker";
  worker.node_id = "node-1";
  worker.offset_us = 500;  // its clock runs 500 us ahead
  worker.error_us = 40;
  worker.events.push_back(Event("step", "phases", 1500, 100));
  worker.events.push_back(Event("forward", "phases", 1510, 20));  // nested
  TraceEvent rpc = Event("PushPull", "rpc server 1", 1530, 50);
  rpc.args = {{"server", 1}, {"chunk", 7}, {"bytes", 4096}};
  worker.events.push_back(rpc);
  worker.events.push_back(Event("PushPull", "rpc server 1", 1540, 50));  // overlaps: a lane
  TraceNode server;
  server.label = "server 1 (node-2) \"quoted\"\n";
  server.role = "server";
  server.rank = 1;
  server.events.push_back(Event("apply", "requests", 1100, 5));
  server.dropped = 2;

  const Struct doc = Parse(WriteChromeTrace({worker, server}, {{"job", "j-1"}}));
  CHECK(doc.fields().at("displayTimeUnit").string_value() == "ms");
  CHECK(doc.fields().at("otherData").struct_value().fields().at("job").string_value() == "j-1");
  const auto& nodes =
      doc.fields().at("otherData").struct_value().fields().at("nodes").list_value().values();
  REQUIRE(nodes.size() == 2);
  CHECK(nodes[0].struct_value().fields().at("clock_offset_us").number_value() == 500);
  CHECK(nodes[1].struct_value().fields().at("dropped_events").number_value() == 2);

  int complete = 0;
  std::set<std::string> threads;
  std::set<std::string> processes;
  for (const Value& v : doc.fields().at("traceEvents").list_value().values()) {
    const auto& f = v.struct_value().fields();
    const std::string ph = f.at("ph").string_value();
    if (ph == "M") {
      const std::string what = f.at("name").string_value();
      if (what == "thread_name") {
        threads.insert(f.at("args").struct_value().fields().at("name").string_value());
      }
      if (what == "process_name") {
        processes.insert(f.at("args").struct_value().fields().at("name").string_value());
      }
      continue;
    }
    REQUIRE(ph == "X");
    ++complete;
    if (f.at("name").string_value() == "step") CHECK(f.at("ts").number_value() == 1000);
    if (f.at("name").string_value() == "apply") CHECK(f.at("ts").number_value() == 1100);
    if (f.at("name").string_value() == "PushPull" && f.at("ts").number_value() == 1030) {
      CHECK(f.at("args").struct_value().fields().at("bytes").number_value() == 4096);
    }
  }
  CHECK(complete == 5);
  CHECK(threads == std::set<std::string>{"phases", "rpc server 1", "rpc server 1 #2", "requests"});
  CHECK(processes.count("server 1 (node-2) \"quoted\"\n") == 1);
}

TEST_CASE("WriteChromeTrace of nothing is still a valid trace") {
  const Struct doc = Parse(WriteChromeTrace({}, {}));
  CHECK(doc.fields().at("traceEvents").list_value().values().empty());
}

TEST_CASE("JsonQuote escapes quotes, backslashes and control characters") {
  CHECK(JsonQuote("a\"b\\c\n\x01") == "\"a\\\"b\\\\c\\n\\u0001\"");
}

}  // namespace
}  // namespace psd
