// Plants one known mistake in rendered manifests, to show that the validators catch it.
// Usage: node mutate.mjs MUTATION IN.yaml OUT.yaml
//        node mutate.mjs --list: the mutations, "NAME<tab>TARGET<tab>EXPECT<tab>WHAT" a line
import { readFileSync, writeFileSync } from "node:fs";
import { parseAllDocuments, stringify } from "yaml";

const byKind = (docs, kind, name) => {
  const o = docs.find((d) => d.kind === kind && (!name || d.metadata.name === name));
  if (!o) throw new Error(`no ${kind} ${name ?? ""} in the manifests`);
  return o;
};
const container = (w) => w.spec.template.spec.containers[0];
const jobSpec = (d) => {
  const cm = d.find((o) => o.kind === "ConfigMap" && o.metadata.name.startsWith("psd-job"));
  if (!cm) throw new Error("no psd-job ConfigMap in the manifests");
  return cm;
};
const editJobSpec = (d, from, to) => {
  const cm = jobSpec(d);
  const text = cm.data["job.yaml"].replace(from, to);
  if (text === cm.data["job.yaml"]) throw new Error(`${from} is not in the job spec`);
  cm.data["job.yaml"] = text;
};
const datagen = (d) => {
  const c = (byKind(d, "Job", "psd-submit").spec.template.spec.initContainers ?? []).find((x) => x.args?.[0] === "datagen");
  if (!c) throw new Error("no datagen initContainer in the submit Job");
  return c;
};
const setArg = (c, name, value) => {
  const i = c.args.findIndex((a) => a.startsWith(`--${name}=`));
  if (i < 0) throw new Error(`no --${name} in ${c.name}'s args`);
  c.args[i] = `--${name}=${value}`;
};

// Each: what it plants, the validator output that must report it, and the rendering it is
// planted in (`target`: cpu unless it says ctr, the overlay of the sparse job).
export const MUTATIONS = {
  "unknown-field": {
    what: "a misspelt field (readinessProbe.periodSecond) in the server StatefulSet",
    expect: 'unknown field "periodSecond"',
    apply: (d) => { container(byKind(d, "StatefulSet")).readinessProbe.periodSecond = 5; },
  },
  "wrong-type": {
    what: 'replicas: "2" (a string) in the server StatefulSet',
    expect: ".spec.replicas: must be integer",
    apply: (d) => { byKind(d, "StatefulSet").spec.replicas = "2"; },
  },
  "bad-enum": {
    what: "imagePullPolicy: Sometimes in the coordinator Deployment",
    expect: "imagePullPolicy: must be equal to one of the allowed values",
    apply: (d) => { container(byKind(d, "Deployment")).imagePullPolicy = "Sometimes"; },
  },
  "selector-mismatch": {
    what: "the server StatefulSet's selector asks for component=servers",
    expect: "spec.selector",
    apply: (d) => { byKind(d, "StatefulSet").spec.selector.matchLabels["app.kubernetes.io/component"] = "servers"; },
  },
  "not-headless": {
    what: "the servers' Service gets a cluster IP",
    expect: 'is not a headless Service',
    apply: (d) => { delete byKind(d, "Service", "psd-servers").spec.clusterIP; },
  },
  "missing-configmap": {
    what: "the submit Job mounts a ConfigMap that does not exist",
    expect: 'ConfigMap "psd-job-missing" does not exist',
    apply: (d) => { byKind(d, "Job", "psd-submit").spec.template.spec.volumes[0].configMap.name = "psd-job-missing"; },
  },
  "probe-port": {
    what: "the worker's liveness probe checks port 7071 (the daemon listens on 7072)",
    expect: "livenessProbe checks port 7071",
    apply: (d) => { container(byKind(d, "Job", "psd-worker")).livenessProbe.grpc.port = 7071; },
  },
  "replicas-mismatch": {
    what: "3 server replicas while the job spec says cluster.servers: 2",
    expect: "cluster.servers is 2 but StatefulSet/psd-server has replicas 3",
    apply: (d) => { byKind(d, "StatefulSet").spec.replicas = 3; },
  },
  "bad-job-spec": {
    what: "batch_size: 0 in the embedded job spec",
    expect: "training.batch_size: must be between 1 and 1048576, got 0",
    apply: (d) => { editJobSpec(d, /batch_size: \d+/, "batch_size: 0"); },
  },
  "insecure": {
    what: "the coordinator runs --insecure instead of with its certificate",
    expect: "coordinator runs --insecure",
    apply: (d) => {
      const c = container(byKind(d, "Deployment"));
      c.args = c.args.filter((a) => !a.startsWith("--tls_")).concat(["--insecure"]);
    },
  },
  "bind-loopback": {
    what: "the server binds 127.0.0.1 in its pod",
    expect: "must bind 0.0.0.0",
    apply: (d) => {
      const c = container(byKind(d, "StatefulSet"));
      c.args = c.args.map((a) => (a.startsWith("--bind=") ? "--bind=127.0.0.1" : a));
    },
  },
  "checkpoint-emptydir": {
    what: "checkpoint.dir under /tmp, the servers' emptyDir, which a new pod does not get back",
    expect: "checkpoint.dir /tmp/checkpoints is on volume tmp of StatefulSet/psd-server, which does not outlive the pod",
    apply: (d) => { editJobSpec(d, /dir: \/var\/lib\/psd\/checkpoints/, "dir: /tmp/checkpoints"); },
  },
  "worker-model-volume": {
    what: "the workers lose their volume at checkpoint.dir, where worker 0 writes the final model",
    expect: "worker 0 writes the final model to checkpoint.dir /var/lib/psd/checkpoints/<job id>/model.psdm, which is on no volume of Job/psd-worker",
    apply: (d) => {
      const c = container(byKind(d, "Job", "psd-worker"));
      c.volumeMounts = c.volumeMounts.filter((m) => m.mountPath !== "/var/lib/psd/checkpoints");
    },
  },
  "datagen-elsewhere": {
    target: "ctr",
    what: "the datagen writes /data/criteo while the job reads /data/ctr",
    expect: "is not a file psd-datagen writes in Job/psd-submit (--out=/data/criteo",
    apply: (d) => { setArg(datagen(d), "out", "/data/criteo"); },
  },
  "datagen-file-count": {
    target: "ctr",
    what: "the datagen splits the train rows into 4 files, the job reads 8",
    expect: "data.train_files names 8 file(s), psd-datagen in Job/psd-submit writes 4",
    apply: (d) => { setArg(datagen(d), "train_files", 4); },
  },
  "table-unbounded": {
    target: "ctr",
    what: "model.embedding.memory_budget: 0 (an unbounded table) in the sparse job",
    expect: "model.embedding.memory_budget is 0 (unlimited)",
    apply: (d) => { editJobSpec(d, /memory_budget: \S+/, "memory_budget: 0"); },
  },
  "server-memory": {
    target: "ctr",
    what: "server pods limited to 512Mi, too little for the job's 512MiB table budget",
    expect: "the servers would refuse the job: model needs",
    apply: (d) => { container(byKind(d, "StatefulSet")).resources.limits.memory = "512Mi"; },
  },
  "coordinator-budget": {
    target: "ctr",
    what: "the coordinator without --server_memory_budget_bytes (80% of its own 512Mi)",
    expect: "the coordinator would refuse the job: model needs",
    apply: (d) => {
      const c = container(byKind(d, "Deployment"));
      c.args = c.args.filter((a) => !a.startsWith("--server_memory_budget_bytes="));
    },
  },
};

function main() {
  const [name, input, output] = process.argv.slice(2);
  if (name === "--list") {
    for (const [k, m] of Object.entries(MUTATIONS)) console.log(`${k}\t${m.target ?? "cpu"}\t${m.expect}\t${m.what}`);
    return;
  }
  const m = MUTATIONS[name];
  if (!m || !input || !output) {
    console.error(`usage: node mutate.mjs MUTATION IN.yaml OUT.yaml; MUTATION: ${Object.keys(MUTATIONS).join(", ")}`);
    process.exit(2);
  }
  const docs = parseAllDocuments(readFileSync(input, "utf8")).map((d) => d.toJS()).filter(Boolean);
  m.apply(docs);
  writeFileSync(output, docs.map((d) => stringify(d)).join("---\n"));
}

main();
