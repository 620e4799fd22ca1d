// Checks of psd's rendered manifests that no schema catches: names that must refer to each
// other, ports that must line up, and the embedded job spec against the replica counts, the
// volumes (data files, checkpoints) and, for a sparse job, the data generator and the memory.
// Usage: node check-project.mjs [--gpu=yes|no] [--job-spec-out FILE] [--budgets-out FILE]
//                               RENDERED.yaml
//   --gpu=yes: every worker requests nvidia.com/gpu; --gpu=no: no container does.
//   --job-spec-out: writes the embedded job spec there (for psd's own loader).
//   --budgets-out: writes the servers' and the coordinator's memory budgets for a job, as the
//     daemons take them from their flags or memory limits, as jobspec_check flags (one a line).
// Prints one line per problem and exits 1 if any; "project: ok: ..." otherwise.
import { readFileSync, writeFileSync } from "node:fs";
import { parseAllDocuments, parse as parseYaml } from "yaml";

const args = process.argv.slice(2);
let gpu = null, jobSpecOut = null, budgetsOut = null, file = null;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a.startsWith("--gpu=")) gpu = a.slice(6);
  else if (a === "--job-spec-out") jobSpecOut = args[++i];
  else if (a === "--budgets-out") budgetsOut = args[++i];
  else if (!a.startsWith("--") && file === null) file = a;
  else { console.error(`check-project: unknown argument ${a}`); process.exit(2); }
}
if (!file || (gpu !== null && gpu !== "yes" && gpu !== "no")) {
  console.error("usage: node check-project.mjs [--gpu=yes|no] [--job-spec-out FILE] [--budgets-out FILE] RENDERED.yaml");
  process.exit(2);
}

const objects = parseAllDocuments(readFileSync(file, "utf8")).map((d) => d.toJS()).filter(Boolean);
const problems = [];
let checks = 0;
function check(ok, message) { checks++; if (!ok) problems.push(message); return ok; }

const ns = (o) => o.metadata?.namespace ?? "default";
const id = (o) => `${o.kind}/${o.metadata?.name}`;
const find = (kind, name, namespace) =>
  objects.find((o) => o.kind === kind && o.metadata?.name === name && ns(o) === namespace);
const WORKLOADS = ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"];
const workloads = objects.filter((o) => WORKLOADS.includes(o.kind));
const podLabels = (w) => w.spec?.template?.metadata?.labels ?? {};

// True if the label selector (matchLabels / matchExpressions) selects `labels`.
function selects(selector, labels) {
  for (const [k, v] of Object.entries(selector?.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector?.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    if (e.operator === "In" && !(has && e.values.includes(labels[e.key]))) return false;
    if (e.operator === "NotIn" && has && e.values.includes(labels[e.key])) return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  return true;
}
const serviceSelects = (svc, labels) =>
  Object.keys(svc.spec?.selector ?? {}).length > 0 && selects({ matchLabels: svc.spec.selector }, labels);

// The psd role of a container: the image entrypoint's first argument.
const role = (c) => c.args?.[0];
function flag(c, name) {
  const args = c.args ?? [];
  for (let i = 0; i < args.length; i++) {
    if (args[i].startsWith(`--${name}=`)) return args[i].slice(name.length + 3);
    if (args[i] === `--${name}` && i + 1 < args.length && !args[i + 1].startsWith("--")) return args[i + 1];
  }
  return undefined;
}
// A boolean flag: --name, --name=true or --name=1.
function boolFlag(c, name) {
  return (c.args ?? []).some((a) => a === `--${name}` || a === `--${name}=true` || a === `--${name}=1`);
}
const allContainers = (w) => [...(w.spec.template.spec.initContainers ?? []), ...w.spec.template.spec.containers];

// A Kubernetes quantity (1Gi, 512Mi, 1e9, 2G) in bytes; null if unreadable.
function quantity(q) {
  const m = /^([0-9]+(?:\.[0-9]+)?)(?:([eE][0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E))?$/.exec(String(q ?? ""));
  if (!m) return null;
  const units = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
                  k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
  return Number(m[1]) * (m[2] ? 10 ** Number(m[2].slice(1)) : m[3] ? units[m[3]] : 1);
}
// A job spec byte size (4GiB, 512MiB, 1048576): common/memory_estimate's ParseMemorySize.
function specBytes(v) {
  if (typeof v === "number") return v;
  const m = /^\s*([0-9]+)\s*(TiB|GiB|MiB|KiB|B)?\s*$/.exec(String(v ?? ""));
  if (!m) return null;
  return Number(m[1]) * { TiB: 2 ** 40, GiB: 2 ** 30, MiB: 2 ** 20, KiB: 2 ** 10, B: 1 }[m[2] ?? "B"];
}

// Where a path of a container lies: the volume behind the deepest mount that holds it, and the
// path inside that volume (subPath included). `claim` names the storage itself when it outlives
// the pod: a PersistentVolumeClaim or a StatefulSet's volumeClaimTemplate (per pod).
function resolvePath(w, c, path) {
  const spec = w.spec.template.spec;
  let best = null;
  for (const m of c.volumeMounts ?? []) {
    const mp = m.mountPath.replace(/\/+$/, "");
    if ((path === mp || path.startsWith(`${mp}/`)) && (!best || mp.length > best.mountPath.length)) best = { ...m, mountPath: mp };
  }
  if (!best) return null;
  const volume = (spec.volumes ?? []).find((v) => v.name === best.name);
  const template = (w.spec.volumeClaimTemplates ?? []).find((t) => t.metadata.name === best.name);
  const claim = volume?.persistentVolumeClaim?.claimName ?? (template ? `${template.metadata.name} (volumeClaimTemplate)` : null);
  const inside = [best.subPath ?? "", path.slice(best.mountPath.length)].join("/").split("/").filter(Boolean).join("/");
  return { mount: best, volume, claim, inside,
           readOnly: Boolean(best.readOnly || volume?.persistentVolumeClaim?.readOnly) };
}
function containerPort(c, port) {
  return (c.ports ?? []).find((p) => p.containerPort === port || (typeof port === "string" && p.name === port));
}

// 1. Workload selectors match their own pod template labels.
for (const w of workloads) {
  if (w.kind === "Job" && !w.spec?.selector) continue;  // generated by the API server
  check(w.spec?.selector && selects(w.spec.selector, podLabels(w)),
    `${id(w)}: spec.selector ${JSON.stringify(w.spec?.selector)} does not match the pod template labels ${JSON.stringify(podLabels(w))}`);
}

// 2. Every Service with a selector selects some workload's pods, and its targetPorts exist there.
for (const svc of objects.filter((o) => o.kind === "Service")) {
  const selected = workloads.filter((w) => ns(w) === ns(svc) && serviceSelects(svc, podLabels(w)));
  if (!check(selected.length > 0, `${id(svc)}: selector ${JSON.stringify(svc.spec?.selector)} selects no pods of any workload`)) continue;
  for (const p of svc.spec?.ports ?? []) {
    const target = p.targetPort ?? p.port;
    for (const w of selected) {
      check(w.spec.template.spec.containers.some((c) => containerPort(c, target)),
        `${id(svc)}: port ${p.name ?? p.port} targets ${target}, which no container of ${id(w)} exposes`);
    }
  }
}

// 3. StatefulSet serviceName and pod subdomain name a headless Service that selects the pods.
function checkHeadless(w, name, what) {
  const svc = find("Service", name, ns(w));
  if (!check(svc, `${id(w)}: ${what} "${name}" names no Service`)) return;
  check(svc.spec?.clusterIP === "None", `${id(w)}: ${what} "${name}" is not a headless Service (clusterIP: None)`);
  check(serviceSelects(svc, podLabels(w)), `${id(w)}: ${what} "${name}": that Service does not select these pods`);
}
for (const w of workloads) {
  if (w.kind === "StatefulSet") checkHeadless(w, w.spec.serviceName, "serviceName");
  const sub = w.spec?.template?.spec?.subdomain;
  if (sub) checkHeadless(w, sub, "subdomain");
}

// 4. Referenced ConfigMaps, Secrets and PVCs exist; every volumeMount names a volume.
for (const w of workloads) {
  const spec = w.spec.template.spec;
  const volumes = new Set((spec.volumes ?? []).map((v) => v.name));
  for (const t of w.spec.volumeClaimTemplates ?? []) volumes.add(t.metadata.name);
  for (const v of spec.volumes ?? []) {
    if (v.configMap) check(find("ConfigMap", v.configMap.name, ns(w)), `${id(w)}: volume ${v.name}: ConfigMap "${v.configMap.name}" does not exist`);
    if (v.secret) check(find("Secret", v.secret.secretName, ns(w)), `${id(w)}: volume ${v.name}: Secret "${v.secret.secretName}" does not exist`);
    if (v.persistentVolumeClaim) check(find("PersistentVolumeClaim", v.persistentVolumeClaim.claimName, ns(w)), `${id(w)}: volume ${v.name}: PersistentVolumeClaim "${v.persistentVolumeClaim.claimName}" does not exist`);
  }
  for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
    for (const m of c.volumeMounts ?? []) check(volumes.has(m.name), `${id(w)}: container ${c.name}: volumeMount "${m.name}" names no volume`);
    for (const e of c.envFrom ?? []) {
      if (e.configMapRef) check(find("ConfigMap", e.configMapRef.name, ns(w)), `${id(w)}: container ${c.name}: envFrom ConfigMap "${e.configMapRef.name}" does not exist`);
    }
    for (const e of c.env ?? []) {
      const ref = e.valueFrom?.configMapKeyRef;
      if (ref) check(find("ConfigMap", ref.name, ns(w))?.data?.[ref.key] !== undefined, `${id(w)}: env ${e.name}: ConfigMap key ${ref.name}/${ref.key} does not exist`);
    }
    // $(VAR) in args must be an env var of the container (else Kubernetes leaves it verbatim).
    const env = new Set((c.env ?? []).map((e) => e.name));
    for (const a of [...(c.args ?? []), ...(c.command ?? [])]) {
      for (const m of a.matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)) {
        check(env.has(m[1]), `${id(w)}: container ${c.name}: argument ${a} uses $(${m[1]}), which is not in its env`);
      }
    }
  }
}

// 5. psd's daemons: bind 0.0.0.0, --port is a containerPort, gRPC probes on it (or on the
//    plaintext --health_port, when the daemon has one: kubelet's probes cannot do mutual TLS),
//    resources, grace periods, a reachable --coordinator and the pod's stable DNS name as
//    --advertise_host.
const DAEMONS = ["coordinator", "server", "worker"];
for (const w of workloads) {
  const spec = w.spec.template.spec;
  for (const c of allContainers(w)) {
    for (const kind of ["requests", "limits"]) {
      for (const r of ["cpu", "memory"]) check(c.resources?.[kind]?.[r] !== undefined, `${id(w)}: container ${c.name}: no resources.${kind}.${r}`);
    }
    if (!spec.containers.includes(c)) continue;  // initContainers: resources only
    if (!DAEMONS.includes(role(c))) continue;
    check(spec.terminationGracePeriodSeconds !== undefined, `${id(w)}: no terminationGracePeriodSeconds`);
    check(flag(c, "bind") === "0.0.0.0", `${id(w)}: ${role(c)} must bind 0.0.0.0 in a pod, got --bind=${flag(c, "bind")}`);
    const port = Number(flag(c, "port"));
    check(containerPort(c, port), `${id(w)}: --port=${flag(c, "port")} is not a containerPort of ${c.name}`);
    const health = flag(c, "health_port");
    if (health !== undefined) {
      check(containerPort(c, Number(health)), `${id(w)}: --health_port=${health} is not a containerPort of ${c.name}`);
    }
    // Prometheus metrics: the port is a containerPort, reachable from outside the pod, and the
    // pod's prometheus.io/port annotation names it.
    const metrics = flag(c, "metrics_port");
    if (metrics !== undefined && metrics !== "0") {
      check(containerPort(c, Number(metrics)), `${id(w)}: --metrics_port=${metrics} is not a containerPort of ${c.name}`);
      check(flag(c, "metrics_address") === "0.0.0.0", `${id(w)}: --metrics_port=${metrics} listens on ${flag(c, "metrics_address") ?? "127.0.0.1"}, unreachable from outside the pod (--metrics_address=0.0.0.0)`);
      const annotations = w.spec.template.metadata?.annotations ?? {};
      if (annotations["prometheus.io/scrape"] === "true") {
        check(annotations["prometheus.io/port"] === metrics, `${id(w)}: prometheus.io/port is ${annotations["prometheus.io/port"]}, the daemon serves metrics on --metrics_port=${metrics}`);
      }
    }
    for (const probe of ["readinessProbe", "livenessProbe"]) {
      const p = c[probe];
      if (!check(p?.grpc, `${id(w)}: container ${c.name}: no gRPC ${probe}`)) continue;
      if (health !== undefined) {
        check(p.grpc.port === Number(health), `${id(w)}: ${probe} checks port ${p.grpc.port}, the daemon serves health on --health_port=${health}`);
      } else {
        check(p.grpc.port === port, `${id(w)}: ${probe} checks port ${p.grpc.port}, the daemon listens on --port=${port}`);
      }
    }
    if (role(c) !== "coordinator") {
      const target = flag(c, "coordinator") ?? "";
      const [host, portText] = target.split(":");
      const svc = find("Service", host.split(".")[0], host.includes(".") ? host.split(".")[1] : ns(w));
      if (check(svc, `${id(w)}: --coordinator=${target} names no Service`)) {
        check((svc.spec.ports ?? []).some((p) => p.port === Number(portText)), `${id(w)}: --coordinator=${target}: Service ${svc.metadata.name} has no port ${portText}`);
        const coordinators = workloads.filter((o) => serviceSelects(svc, podLabels(o)));
        check(coordinators.some((o) => o.spec.template.spec.containers.some((x) => role(x) === "coordinator")),
          `${id(w)}: --coordinator=${target}: Service ${svc.metadata.name} does not select the coordinator`);
      }
      const advertise = flag(c, "advertise_host") ?? "";
      const expected = w.kind === "StatefulSet"
        ? new RegExp(`^\\$\\(POD_NAME\\)\\.${w.spec.serviceName}\\.\\$\\(POD_NAMESPACE\\)\\.svc$`)
        : new RegExp(`^${w.metadata.name}-\\$\\([A-Z_]+\\)\\.${spec.subdomain}\\.\\$\\(POD_NAMESPACE\\)\\.svc$`);
      check(expected.test(advertise), `${id(w)}: --advertise_host=${advertise} is not the pod's stable DNS name (${expected.source})`);
    }
  }
}

// 5b. Mutual TLS: no psd program runs --insecure; each takes its CA bundle, certificate and key
//     (daemons: --tls_ca/--tls_cert/--tls_key; psdctl: those flags as --tls-*, or $PSD_TLS_*)
//     from a mounted Secret that exists.
for (const w of workloads) {
  const spec = w.spec.template.spec;
  for (const c of spec.containers) {
    const r = role(c);
    if (!DAEMONS.includes(r) && r !== "psdctl") continue;
    check(!(c.args ?? []).includes("--insecure"), `${id(w)}: ${r} runs --insecure (plaintext, no authentication or authorisation)`);
    const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
    for (const [daemonFlag, ctlFlag, envName] of [["tls_ca", "tls-ca", "PSD_TLS_CA"], ["tls_cert", "tls-cert", "PSD_TLS_CERT"], ["tls_key", "tls-key", "PSD_TLS_KEY"]]) {
      const path = r === "psdctl" ? (flag(c, ctlFlag) ?? env[envName]) : flag(c, daemonFlag);
      if (!check(path, `${id(w)}: ${r} has no ${r === "psdctl" ? `--${ctlFlag} or ${envName}` : `--${daemonFlag}`} (mutual TLS)`)) continue;
      const mount = (c.volumeMounts ?? []).find((m) => path.startsWith(`${m.mountPath}/`));
      const volume = mount && (spec.volumes ?? []).find((v) => v.name === mount.name);
      check(volume?.secret?.secretName, `${id(w)}: ${r}'s ${path} is not on a mounted Secret`);
    }
  }
}

// 6. GPUs: the gpu overlay gives every worker one; otherwise nobody asks for one.
if (gpu !== null) {
  for (const w of workloads) {
    for (const c of w.spec.template.spec.containers) {
      const asks = c.resources?.limits?.["nvidia.com/gpu"] !== undefined;
      if (gpu === "yes" && role(c) === "worker") check(asks, `${id(w)}: worker without a nvidia.com/gpu limit in the gpu overlay`);
      if (gpu === "no" || role(c) !== "worker") check(!asks, `${id(w)}: container ${c.name} requests nvidia.com/gpu but should not`);
    }
  }
}

// 7. The job spec the submit Job sends: its file is a key of a mounted ConfigMap, and its
//    server and worker counts equal the server StatefulSet's replicas and the worker Job's pods;
//    its data files are on the workers' volumes and, where psd-datagen makes them in the
//    manifests, are the files it writes; its checkpoints on the servers' own volumes; what the
//    servers and the coordinator admit (their memory budgets) goes to jobspec_check.
const CTR_FORMATS = ["criteo", "libsvm"];
// The servers' and the coordinator's default budget: 80% of the memory (cgroup) limit
// (common/memory_estimate.h, kDefaultMemoryBudgetFraction).
const DEFAULT_BUDGET_FRACTION = 0.8;
function dataFiles(job) {
  const d = job?.data ?? {};
  if (!CTR_FORMATS.includes(d.format)) {
    return ["train_images", "train_labels", "test_images", "test_labels"].map((f) => [f, d[f]]);
  }
  const out = [];
  for (const field of ["train_files", "test_files"]) {
    const list = d[field];
    if (!Array.isArray(list) || list.length === 0) out.push([field, undefined]);
    else list.forEach((p, i) => out.push([`${field}[${i}]`, p]));
  }
  return out;
}
// The files `psd-datagen ctr` writes into --out (tools/datagen_ctr.cc, FileName).
function datagenFiles(c) {
  const n = Number(flag(c, "train_files") ?? 1), ext = boolFlag(c, "gzip") ? ".txt.gz" : ".txt";
  const pad = (k) => String(k).padStart(5, "0");
  const train = n === 1 ? [`train${ext}`] : Array.from({ length: n }, (_, k) => `train-${pad(k)}-of-${pad(n)}${ext}`);
  return { train, test: [`test${ext}`] };
}
// A CTR job whose data psd-datagen makes in the manifests: the generator runs as an
// initContainer of the submit Job (so the files exist before the job is submitted and the
// workers read them), writes onto a volume claim the workers mount, and writes exactly the
// files, with the columns, that the spec reads.
function checkDatagen(submit, wk, wc, job, where) {
  const gens = [];
  for (const w of workloads) {
    for (const c of allContainers(w)) if (role(c) === "datagen" && c.args?.[1] === "ctr") gens.push([w, c]);
  }
  for (const [w, c] of gens) {
    const out = flag(c, "out");
    check(w === submit && (w.spec.template.spec.initContainers ?? []).includes(c),
      `${id(w)}: psd-datagen (container ${c.name}) must be an initContainer of the submit Job, so the data exists before the job is submitted`);
    if (!check(out, `${id(w)}: psd-datagen (container ${c.name}) has no --out`)) continue;
    const at = resolvePath(w, c, out);
    if (!check(at?.volume?.persistentVolumeClaim && !at.readOnly,
      `${id(w)}: psd-datagen --out=${out} is on no writable PersistentVolumeClaim of container ${c.name}, so the workers cannot read what it writes`)) continue;
    const files = datagenFiles(c);
    for (const [field, written] of [["train_files", files.train], ["test_files", files.test]]) {
      const read = Array.isArray(job.data[field]) ? job.data[field] : [];
      const want = written.map((f) => `${at.claim}:${[at.inside, f].filter(Boolean).join("/")}`);
      const got = read.map((p) => { const r = resolvePath(wk, wc, p); return r ? `${r.claim}:${r.inside}` : `(no volume):${p}`; });
      for (let i = 0; i < read.length; i++) {
        check(want.includes(got[i]),
          `${where}: data.${field}[${i}] ${read[i]} (${got[i]} on the workers) is not a file psd-datagen writes in ${id(w)} (--out=${out}: ${want.join(", ")})`);
      }
      check(read.length === written.length,
        `${where}: data.${field} names ${read.length} file(s), psd-datagen in ${id(w)} writes ${written.length} (${written.join(", ")})`);
    }
    if (job.data.format === "criteo") {
      check((job.data.categorical_fields ?? 26) === Number(flag(c, "fields") ?? 26),
        `${where}: data.categorical_fields is ${job.data.categorical_fields ?? 26}, psd-datagen in ${id(w)} writes --fields=${flag(c, "fields") ?? 26}`);
      check((job.data.dense_features ?? 13) === Number(flag(c, "dense") ?? 13),
        `${where}: data.dense_features is ${job.data.dense_features ?? 13}, psd-datagen in ${id(w)} writes --dense=${flag(c, "dense") ?? 13}`);
    } else {
      check(false, `${where}: data.format ${job.data.format}: psd-datagen ctr writes criteo files`);
    }
  }
}
const submits = workloads.filter((w) => w.spec.template.spec.containers.some((c) => role(c) === "psdctl" && c.args.includes("submit")));
check(submits.length === 1, `expected one Job running "psdctl submit", found ${submits.length}`);
const servers = workloads.filter((w) => w.spec.template.spec.containers.some((c) => role(c) === "server"));
const workers = workloads.filter((w) => w.spec.template.spec.containers.some((c) => role(c) === "worker"));
check(servers.length === 1 && servers[0].kind === "StatefulSet", "expected the servers as one StatefulSet");
check(workers.length === 1, "expected the workers as one workload");
for (const s of submits) {
  const c = s.spec.template.spec.containers.find((x) => role(x) === "psdctl");
  const path = c.args[c.args.indexOf("submit") + 1];
  const mount = (c.volumeMounts ?? []).find((m) => path.startsWith(`${m.mountPath}/`));
  if (!check(mount, `${id(s)}: job file ${path} is on no volumeMount`)) continue;
  const volume = (s.spec.template.spec.volumes ?? []).find((v) => v.name === mount.name);
  const cm = volume?.configMap && find("ConfigMap", volume.configMap.name, ns(s));
  const key = path.slice(mount.mountPath.length + 1);
  if (!check(cm?.data?.[key] !== undefined, `${id(s)}: job file ${path}: no ConfigMap key "${key}" behind mount ${mount.name}`)) continue;
  const text = cm.data[key];
  if (jobSpecOut) writeFileSync(jobSpecOut, text);
  let job;
  try { job = parseYaml(text); } catch (e) { check(false, `${id(cm)}/${key}: not YAML: ${e.message}`); continue; }
  const wantServers = job?.cluster?.servers ?? 1, wantWorkers = job?.cluster?.workers ?? 1;
  const ctr = CTR_FORMATS.includes(job?.data?.format);
  for (const st of servers) {
    check((st.spec.replicas ?? 1) === wantServers, `${id(cm)}/${key}: cluster.servers is ${wantServers} but ${id(st)} has replicas ${JSON.stringify(st.spec.replicas ?? 1)}`);
  }
  for (const wk of workers) {
    if (wk.kind === "Job") {
      check(wk.spec.completionMode === "Indexed", `${id(wk)}: workers need completionMode Indexed (a rank per pod)`);
      check(wk.spec.parallelism === wantWorkers && wk.spec.completions === wantWorkers,
        `${id(cm)}/${key}: cluster.workers is ${wantWorkers} but ${id(wk)} has parallelism ${wk.spec.parallelism} and completions ${wk.spec.completions}`);
    } else {
      check((wk.spec.replicas ?? 1) === wantWorkers, `${id(cm)}/${key}: cluster.workers is ${wantWorkers} but ${id(wk)} has replicas ${wk.spec.replicas ?? 1}`);
    }
    // The data files are on a volume of the workers: the four IDX files of an image job, the
    // train and test files of a click-through-rate (criteo, libsvm) job.
    const wc = wk.spec.template.spec.containers.find((x) => role(x) === "worker");
    for (const [field, p] of dataFiles(job)) {
      check(typeof p === "string" && resolvePath(wk, wc, p) !== null,
        `${id(cm)}/${key}: data.${field} ${p} is on no volume of the workers`);
    }
    if (ctr) {
      const trainFiles = Array.isArray(job.data.train_files) ? job.data.train_files : [];
      if (job.data.shard === "files") {
        check(trainFiles.length >= wantWorkers,
          `${id(cm)}/${key}: data.shard files with ${trainFiles.length} train file(s) for ${wantWorkers} workers: a worker would get no rows`);
      }
      checkDatagen(s, wk, wc, job, `${id(cm)}/${key}`);
    }
  }
  // The checkpoints: on a server volume that outlives the pod (its volumeClaimTemplate), so a
  // server pod that restarts restores its chunks, and a sparse job's table rows, from them.
  const dir = job?.checkpoint?.dir;
  if (check(dir, `${id(cm)}/${key}: no checkpoint.dir: a server pod that restarts cannot restore its part of the model, and the job fails`)) {
    check((job.checkpoint.every_steps ?? 0) > 0,
      `${id(cm)}/${key}: checkpoint.every_steps is ${job.checkpoint.every_steps ?? 0}: no checkpoint is written while the job runs, so a restarted server pod has nothing to restore`);
    for (const st of servers) {
      const sc = st.spec.template.spec.containers.find((x) => role(x) === "server");
      const where = resolvePath(st, sc, dir);
      if (!check(where, `${id(cm)}/${key}: checkpoint.dir ${dir} is on no volume of the servers`)) continue;
      check(where.claim && !where.readOnly,
        `${id(cm)}/${key}: checkpoint.dir ${dir} is on volume ${where.mount.name} of ${id(st)}, which ${where.readOnly ? "is read-only" : "does not outlive the pod (a volumeClaimTemplate or PersistentVolumeClaim does)"}`);
    }
    // When the job succeeds, worker 0 writes the final (dense) model to
    // <checkpoint.dir>/<job id>/model.psdm; a worker that cannot fails the job at its end.
    for (const wk of workers) {
      const wc = wk.spec.template.spec.containers.find((x) => role(x) === "worker");
      const where = resolvePath(wk, wc, dir);
      const readOnlyRoot = wc.securityContext?.readOnlyRootFilesystem === true;
      check(where ? where.claim && !where.readOnly : !readOnlyRoot,
        `${id(cm)}/${key}: worker 0 writes the final model to checkpoint.dir ${dir}/<job id>/model.psdm, which is ${where ? `on volume ${where.mount.name} of ${id(wk)}, ${where.readOnly ? "read-only" : "lost with the pod"}` : `on no volume of ${id(wk)} (its root file system is read-only)`}: the job would fail at its end, or lose the model`);
    }
  }
  // Sparse models: a bounded table, and the memory the daemons admit a job to.
  const sparse = ctr && ["logreg", "fm", "dlrm"].includes(job?.model?.type);
  if (sparse) {
    const budget = specBytes(job.model?.embedding?.memory_budget ?? 0);
    check(budget > 0,
      `${id(cm)}/${key}: model.embedding.memory_budget is ${job.model?.embedding?.memory_budget ?? 0} (unlimited): the table grows until the server pod's memory limit kills it; give it a budget within the pod's memory`);
  }
  const budgets = [];
  for (const st of servers) {
    const sc = st.spec.template.spec.containers.find((x) => role(x) === "server");
    const own = flag(sc, "memory_budget_bytes");
    const limit = quantity(sc.resources?.limits?.memory);
    if (own !== undefined && Number(own) >= 0) budgets.push(`--server_budget_bytes=${Number(own)}`);
    else if (check(limit, `${id(st)}: cannot read the server's resources.limits.memory ${sc.resources?.limits?.memory}`)) budgets.push(`--server_budget_bytes=${Math.floor(limit * DEFAULT_BUDGET_FRACTION)}`);
  }
  for (const co of workloads.filter((w) => w.spec.template.spec.containers.some((x) => role(x) === "coordinator"))) {
    const cc = co.spec.template.spec.containers.find((x) => role(x) === "coordinator");
    const own = flag(cc, "server_memory_budget_bytes");
    const limit = quantity(cc.resources?.limits?.memory);
    if (own !== undefined && Number(own) >= 0) budgets.push(`--coordinator_budget_bytes=${Number(own)}`);
    else if (check(limit, `${id(co)}: cannot read the coordinator's resources.limits.memory ${cc.resources?.limits?.memory}`)) budgets.push(`--coordinator_budget_bytes=${Math.floor(limit * DEFAULT_BUDGET_FRACTION)}`);
  }
  if (budgetsOut) writeFileSync(budgetsOut, budgets.map((b) => `${b}\n`).join(""));
}

for (const p of problems) console.log(`${file}: ${p}`);
if (problems.length > 0) {
  console.log(`project: ${problems.length} of ${checks} checks failed`);
  process.exit(1);
}
console.log(`project: ok: ${checks} checks passed`);
