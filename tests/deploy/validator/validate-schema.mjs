// Validates rendered Kubernetes manifests (multi-document YAML, e.g. `kubectl kustomize` output)
// against the Kubernetes object schemas, offline:
//   - types, enums, formats and required fields: the JSON schemas of kubernetes-models (ajv);
//   - unknown fields: the attribute maps of @kubernetes/client-node's model classes, which list
//     every field each object type has (the schemas above allow extra fields).
// Usage: node validate-schema.mjs FILE...   Prints one line per problem, exits 1 if any.
import { readFileSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { parseAllDocuments } from "yaml";

const require = createRequire(import.meta.url);
const modelsDir = join(dirname(require.resolve("@kubernetes/client-node/package.json")),
                       "dist", "gen", "models");
const kubernetesModelsDir = dirname(require.resolve("kubernetes-models/package.json"));

function capitalize(s) { return s.charAt(0).toUpperCase() + s.slice(1); }

// "apps/v1" -> { group: "apps", version: "v1" }; "v1" -> core.
function splitApiVersion(apiVersion) {
  const i = apiVersion.indexOf("/");
  return i < 0 ? { group: "", version: apiVersion }
               : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
}

const classCache = new Map();
async function modelClass(name) {
  if (!classCache.has(name)) {
    const file = join(modelsDir, `${name}.js`);
    classCache.set(name, existsSync(file) ? (await import(file))[name] : null);
  }
  return classCache.get(name);
}

// The client-node class of a top-level object: V1Deployment, V1Service, ... (or, where the
// kind exists in several groups, the group-qualified name such as EventsV1Event).
async function topLevelClass(apiVersion, kind) {
  const { group, version } = splitApiVersion(apiVersion);
  const groupPrefix = group.split(".")[0].split("-").map(capitalize).join("");
  for (const name of [`${capitalize(version)}${kind}`,
                      `${capitalize(groupPrefix || "core")}${capitalize(version)}${kind}`]) {
    const cls = await modelClass(name);
    if (cls) return cls;
  }
  return null;
}

// Walks `value` against the client-node type `type`, reporting fields the type does not have.
async function unknownFields(value, type, path, problems) {
  if (value === null || value === undefined) return;
  let m;
  if ((m = /^Array<(.+)>$/.exec(type))) {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        await unknownFields(value[i], m[1], `${path}[${i}]`, problems);
      }
    }
    return;
  }
  if ((m = /^\{ \[key: string\]: (.+); \}$/.exec(type))) {
    if (typeof value === "object" && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) await unknownFields(v, m[1], `${path}.${k}`, problems);
    }
    return;
  }
  const cls = await modelClass(type);
  if (!cls || typeof value !== "object" || Array.isArray(value)) return;  // leaves: types are ajv's
  const fields = new Map(cls.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [key, child] of Object.entries(value)) {
    if (!fields.has(key)) {
      problems.push(`${path || "."}: unknown field "${key}" (${type} has no such field)`);
      continue;
    }
    await unknownFields(child, fields.get(key), `${path}.${key}`, problems);
  }
}

// One line per instance path, with the allowed values of enums.
function schemaProblems(errors) {
  const byPath = new Map();
  for (const e of errors) {
    const path = (e.instancePath || "").replace(/\//g, ".").replace(/\.(\d+)(?=\.|$)/g, "[$1]") || ".";
    let message = e.message;
    if (e.keyword === "enum") message += ` (${e.params.allowedValues.join(", ")})`;
    if (e.keyword === "additionalProperties") message = `unknown field "${e.params.additionalProperty}"`;
    if (!byPath.has(path)) byPath.set(path, []);
    if (!byPath.get(path).includes(message)) byPath.get(path).push(message);
  }
  return [...byPath].map(([path, messages]) => `${path}: ${messages.join("; ")}`);
}

function valueAt(doc, path) {
  let v = doc;
  for (const part of path.split(".").filter(Boolean)) {
    const m = /^(.*)\[(\d+)\]$/.exec(part);
    v = m ? v?.[m[1]]?.[Number(m[2])] : v?.[part];
  }
  return v;
}

async function validateObject(doc) {
  const problems = [];
  const { apiVersion, kind } = doc;
  if (typeof apiVersion !== "string" || typeof kind !== "string") {
    return ["apiVersion and kind are required"];
  }
  const { group, version } = splitApiVersion(apiVersion);
  const modulePath = join(kubernetesModelsDir, group || "", version, `${kind}.js`);
  if (!existsSync(modulePath)) return [`no schema for ${apiVersion} ${kind}: unknown kind or apiVersion`];
  const Model = require(modulePath)[kind];
  const copy = JSON.parse(JSON.stringify(doc));
  // Secret data is base64; the API server's decoder skips line breaks, and kustomize's
  // secretGenerator wraps long values, so the "byte" format is checked without them.
  if (kind === "Secret" && copy.data && typeof copy.data === "object") {
    for (const k of Object.keys(copy.data)) {
      if (typeof copy.data[k] === "string") copy.data[k] = copy.data[k].replace(/[\r\n]/g, "");
    }
  }
  try {
    new Model(copy).validate();
  } catch (e) {
    if (!e.errors) throw e;
    for (const line of schemaProblems(e.errors)) {
      const path = line.slice(0, line.indexOf(": "));
      const got = valueAt(doc, path);
      problems.push(got !== undefined && typeof got !== "object"
        ? `${line} (got ${JSON.stringify(got)})` : line);
    }
  }
  const cls = await topLevelClass(apiVersion, kind);
  if (!cls) return [...problems, `no model class for ${apiVersion} ${kind}`];
  await unknownFields(doc, cls.name, "", problems);
  return problems;
}

async function main() {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error("usage: node validate-schema.mjs FILE...");
    process.exit(2);
  }
  let objects = 0, failed = 0;
  for (const file of files) {
    const docs = parseAllDocuments(readFileSync(file, "utf8"));
    for (const [i, d] of docs.entries()) {
      if (d.errors.length > 0) {
        console.log(`${file}: document ${i + 1}: YAML: ${d.errors[0].message}`);
        failed++;
        continue;
      }
      const doc = d.toJS();
      if (doc === null) continue;
      objects++;
      const name = `${doc.kind ?? "?"}/${doc.metadata?.name ?? "?"}`;
      const problems = await validateObject(doc);
      for (const p of problems) console.log(`${file}: ${name}: ${p}`);
      if (problems.length > 0) failed++;
    }
  }
  if (failed > 0) {
    console.log(`schema: ${failed} of ${objects} objects invalid`);
    process.exit(1);
  }
  console.log(`schema: ok: ${objects} objects valid`);
}

main().catch((e) => { console.error(`validate-schema: ${e.stack || e}`); process.exit(2); });
