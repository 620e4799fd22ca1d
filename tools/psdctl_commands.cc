#include "tools/psdctl_commands.h"

namespace psd::psdctl {

const Flag* Command::FindFlag(absl::string_view flag_name) const {
  for (const Flag& f : flags) {
    if (f.name == flag_name) return &f;
  }
  return nullptr;
}

const Command* CommandTable::FindCommand(absl::string_view command_name) const {
  for (const Command& c : commands) {
    if (c.name == command_name) return &c;
  }
  return nullptr;
}

const Flag* CommandTable::FindGlobalFlag(absl::string_view flag_name) const {
  for (const Flag& f : global_flags) {
    if (f.name == flag_name) return &f;
  }
  return nullptr;
}

const CommandTable& PsdctlCommands() {
  static const CommandTable* const table = new CommandTable{
      "psdctl",
      "the command line of psd, a parameter-server training cluster",
      "exit codes: 0 ok; 1 failed (job failed or cancelled, bad job file, unknown job,\n"
      "request refused); 2 bad usage; 3 coordinator unreachable.\n"
      "`psdctl COMMAND --help` shows a command's help.\n",
      {
          {"coordinator", FlagType::kString, "HOST:PORT",
           "the coordinator (default: $PSD_COORDINATOR, else 127.0.0.1:7070)"},
          {"timeout", FlagType::kDuration, "DURATION",
           "deadline of each call to the coordinator, e.g. 10s or 500ms (default 10s)"},
          {"tls-ca", FlagType::kString, "FILE",
           "CA bundle to trust (default: $PSD_TLS_CA, else RUN/certs/ca-bundle.crt, RUN being "
           "$PSD_RUN_DIR or .run/cluster)"},
          {"tls-cert", FlagType::kString, "FILE",
           "your certificate, role admin or viewer (default: $PSD_TLS_CERT, else "
           "RUN/certs/admin.crt)"},
          {"tls-key", FlagType::kString, "FILE",
           "its key (default: $PSD_TLS_KEY, else RUN/certs/admin.key)"},
          {"insecure", FlagType::kSwitch, "",
           "plaintext, to a cluster run with --insecure (default: $PSD_INSECURE=1)"},
      },
      {
          {CommandId::kValidate,
           "validate",
           {"FILE"},
           1,
           "check a job file offline",
           "Parses and validates the job file, including that its data files exist and are\n"
           "readable here, and that each parameter server can hold its share of the model.\n"
           "Prints \"ok: <name>: <n> servers, <m> workers, <consistency>, <k> parameters,\n"
           "<size> per server\", or the first problem as \"FILE:LINE: field: reason\".\n"
           "Needs no coordinator.",
           {{"server-memory", FlagType::kString, "SIZE",
             "memory each parameter server has for the job, e.g. 16GiB (default: 80% of this\n"
             "machine's; 0: no check)"}}},
          {CommandId::kSubmit,
           "submit",
           {"FILE"},
           1,
           "submit a job file",
           "Sends the job file to the coordinator, which validates and queues it, and prints the\n"
           "new job's id. With --wait, follows the job like `psdctl wait` and exits 0 only if it\n"
           "succeeds.",
           {{"wait", FlagType::kSwitch, "", "follow the job's progress until it ends"},
            {"resume-from", FlagType::kString, "DIR",
             "start from this checkpoint directory (CKPT_DIR/<job>/<step>)"}}},
          {CommandId::kStatus,
           "status",
           {"JOB"},
           1,
           "show a job's state, progress and events",
           "Prints the job's state and why, its nodes, its latest progress, its result when it\n"
           "succeeded, and its events.",
           {}},
          {CommandId::kList,
           "list",
           {},
           0,
           "list every job",
           "Prints one line per job, oldest first.",
           {}},
          {CommandId::kCancel,
           "cancel",
           {"JOB"},
           1,
           "cancel a queued or running job",
           "A queued job is cancelled at once; a running one is cancelled and its servers and\n"
           "workers are told to stop. Cancelling a cancelled job does nothing; a finished one is\n"
           "an error.",
           {}},
          {CommandId::kNodes,
           "nodes",
           {},
           0,
           "list registered servers and workers",
           "Prints every node the coordinator knows: role, address, state (idle, busy, dead),\n"
           "job and rank, devices, and the age of its last heartbeat.",
           {}},
          {CommandId::kTop,
           "top",
           {},
           0,
           "a live view of nodes and jobs",
           "On a terminal, redraws one screen every --interval: the nodes by role and state, the\n"
           "running and queued jobs (step, loss, test accuracy, samples/s, live workers, ETA),\n"
           "the latest finished jobs and the node table; Ctrl-C ends it. Otherwise prints the\n"
           "same screen as plain lines, one frame every --interval, each after a blank line.\n"
           "Keeps going while the coordinator is unreachable, saying so.",
           {{"interval", FlagType::kDuration, "DURATION", "time between refreshes (default 2s)"},
            {"once", FlagType::kSwitch, "", "print one frame and exit"}}},
          {CommandId::kWait,
           "wait",
           {"JOB"},
           1,
           "follow a job until it ends",
           "On a terminal, redraws one progress line in place (epoch, step, loss, test accuracy,\n"
           "samples/s, ETA); otherwise prints a progress line every few seconds. Ends with one\n"
           "line: \"job <id> succeeded: test_accuracy=<x> wall_s=<y>\", \"job <id> failed: "
           "<reason>\"\n"
           "or \"job <id> cancelled: <reason>\". Exits 0 only if the job succeeded. Rides out a\n"
           "coordinator restart of up to a minute.",
           {}},
          {CommandId::kCheckpoint,
           "checkpoint",
           {"JOB"},
           1,
           "checkpoint a running job now",
           "Asks the coordinator to have the job's servers write a checkpoint of a step they will\n"
           "reach shortly, and prints that step. The job must be running and have a\n"
           "checkpoint.dir; `psdctl status` shows \"checkpoint of step N complete\" once every\n"
           "server has written it.",
           {}},
          {CommandId::kScale,
           "scale",
           {"JOB"},
           1,
           "grow or shrink a running job's workers or servers",
           "Asks the coordinator to run the job on --workers N live workers from a step every\n"
           "worker will hear of in time (printed by `psdctl status` as an event). Fewer: the\n"
           "highest ranks leave and become idle. More: idle workers join, as soon as enough are\n"
           "registered (status says it waits for them; on Kubernetes, raise the worker Job's\n"
           "parallelism). The job must be running and have cluster.elastic: true; the data is\n"
           "re-sharded over the new workers and the sync global batch follows their count\n"
           "(docs/operations.md, \"Elastic workers\").\n"
           "--servers N moves the job onto N servers at such a step: the servers checkpoint it,\n"
           "the job restarts on the new servers from that checkpoint (each loads what it owns\n"
           "now; only the chunks and rows of the ranks added or removed change owner) and the\n"
           "workers go on. Fewer: the highest ranks leave. The job also needs a checkpoint.dir\n"
           "that every server can read; the event says what moved and how long it paused\n"
           "(docs/operations.md, \"Elastic servers\"). Sparse (CTR) jobs change servers only.\n"
           "At least one of the two flags.",
           {{"workers", FlagType::kString, "N", "the live workers wanted"},
            {"servers", FlagType::kString, "N", "the servers wanted"}}},
          {CommandId::kTrace,
           "trace",
           {"JOB"},
           1,
           "record a running job's step timeline",
           "Has every worker and server of the running job record what it does in steps A-B\n"
           "(steps count from 0): each worker's phases (data, forward, backward with its pushes,\n"
           "wait, pull) and each chunk RPC it sends (server, chunk, bytes, send to reply); each\n"
           "server's requests (receive to reply), applies and a pull's wait for the other\n"
           "workers' pushes. Waits until the job has passed step B (at most --timeout, default\n"
           "5m), then writes one Chrome trace JSON file on the coordinator's clock (each node's\n"
           "clock offset and its error bound are in otherData.nodes): open it in\n"
           "https://ui.perfetto.dev or chrome://tracing. Workers hear of the trace with their\n"
           "next progress report (every training.log_every steps), so pick A at least that far\n"
           "ahead; an A the job has already passed is refused, and a worker armed after A says\n"
           "so in the file and here. At most 1000 steps per trace; the job must be running.",
           {{"steps", FlagType::kStepRange, "A-B", "the steps to record, both included (required)"},
            {"output",
             FlagType::kString,
             "FILE",
             "where to write the trace (JSON; required)",
             {},
             "o"}}},
          {CommandId::kEval,
           "eval",
           {"MODEL_FILE"},
           1,
           "score a model file on a test set",
           "Loads a model file (<checkpoint.dir>/<job>/model.psdm), runs it on this machine's CPU\n"
           "over the test set its job spec names (or the given IDX files) and prints\n"
           "\"model <path>: test_accuracy=<x> test_loss=<y> examples=<n>\". A sparse model\n"
           "(logreg, fm, dlrm) is scored on its spec's data.test_files with the rows the\n"
           "servers exported beside the file: \"model <path>: test_auc=<x> test_logloss=<y>\n"
           "examples=<n> rows=<r>\". Needs no coordinator.",
           {{"data-images", FlagType::kString, "FILE",
             "IDX images to score on instead of the spec's test set", "data-labels"},
            {"data-labels", FlagType::kString, "FILE", "IDX labels of --data-images"}}},
          {CommandId::kHelp,
           "help",
           {"COMMAND"},
           0,
           "show help",
           "Prints the list of commands, or a command's usage, help and flags;\n"
           "`psdctl help COMMAND` is the same as `psdctl COMMAND --help`.",
           {}},
      },
  };
  return *table;
}

}  // namespace psd::psdctl
