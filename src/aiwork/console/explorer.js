// The decision explorer's page: fetches an entry, an inclusion proof and the signed checkpoint
// through the coordinator's public API and verifies them here, in the browser (verify.js).
import {
  VerifyError, b64decode, canonicalize, hex, leafHash, parseVerifierKey, verifyCheckpoint,
  verifyCosignature, verifyEntry, verifyInclusion,
} from "./verify.js";

const PIN = "aiwork.explorer.log-key";
const $ = (id) => document.getElementById(id);

function el(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  return node;
}

function row(list, label, value) {
  list.append(el("dt", label));
  const dd = el("dd");
  if (value instanceof Node) dd.append(value); else dd.textContent = String(value);
  list.append(dd);
}

function reason(error) {
  return error instanceof VerifyError || error instanceof ApiError
    ? error.message : "the check could not run (the answer was not what the API documents)";
}

class ApiError extends Error {}

async function api(path, as) {
  let response;
  try {
    response = await fetch(path, { headers: { Accept: "*/*" } });
  } catch {
    throw new ApiError(`the coordinator could not be reached for ${path}`);
  }
  if (!response.ok) {
    let message = response.statusText;
    try { message = (await response.json()).message || message; } catch { /* not JSON */ }
    throw new ApiError(`the coordinator answered ${response.status}: ${message}`);
  }
  return as === "bytes" ? new Uint8Array(await response.arrayBuffer())
    : as === "json" ? response.json() : response.text();
}

function readPin() {
  try { return JSON.parse(localStorage.getItem(PIN) || "null"); } catch { return null; }
}

function writePin(key) {
  try { localStorage.setItem(PIN, JSON.stringify({ key, since: new Date().toISOString() })); return true; } catch { return false; }
}

// The key this page trusts and where it came from: the link's ?key=, else the key pinned in
// this browser at first use, else the one the coordinator serves (pinned from now on).
async function trustedKey() {
  // A verifier key holds no space: one in the link is a "+" the query string decoded.
  const given = new URLSearchParams(location.search).get("key")?.replaceAll(" ", "+");
  if (given) return { text: given, source: "given in the link (?key=)" };
  const served = (await api("/v1/ledger/key", "text")).trim();
  const pin = readPin();
  if (pin && typeof pin.key === "string") {
    if (pin.key !== served) {
      throw new VerifyError(`the coordinator now serves another log key (${served}) than the one this browser pinned on ${pin.since}`);
    }
    return { text: pin.key, source: `served by this coordinator and pinned in this browser at first use, on ${pin.since}` };
  }
  const pinned = writePin(served);
  return { text: served, source: pinned ? "served by this coordinator at first use (pinned in this browser from now on)"
    : "served by this coordinator (this browser cannot store it, so it is not pinned)" };
}

const DESCRIPTIONS = {
  "ai.decision": "an analyzer's run: what a model found in a video",
  "ai.decision.sealed": "an analyzer's run over a sensitive library's video (its input and output are commitments)",
  "human.verdict": "an expert's verdict on an AI decision",
};

function seconds(value) {
  return typeof value === "number" ? `${value} s` : "?";
}

function json(value, limit = 600) {
  const text = canonicalize(value);
  return text.length > limit ? `${text.slice(0, limit)}… (${text.length} characters)` : text;
}

function entryLink(index, label) {
  return el("a", label, { href: `/explorer/entry/${Number(index)}` });
}

function describeDecision(list, body) {
  row(list, "Analyzer", `${body.analyzer} ${body.analyzer_version}, for the insight “${body.insight}”`);
  const model = body.model || {};
  row(list, "Model", `${model.name} ${model.version}`);
  row(list, "Weights digest", model.weights_digest || "none (an algorithm without weights)");
  if (body.parameters && Object.keys(body.parameters).length) row(list, "Parameters", json(body.parameters));
  row(list, "Parameters digest", body.parameters_digest);
  const input = body.input || {};
  if (input.asset) {
    row(list, "Input", `video ${input.asset}, from ${seconds(input.start)} to ${seconds(input.end)}`);
    const derived = input.derived_from || [];
    const from = el("span", derived.length ? "" : "the media only");
    derived.forEach((d, i) => {
      if (i) from.append(", ");
      from.append(`${d.insight} (`, entryLink(d.decision, `entry ${d.decision}`), ")");
    });
    row(list, "Derived from", from);
  }
  if (typeof body.output_items === "number") row(list, "Output", `${body.output_items} items, digest ${body.output_digest}`);
  const confidence = body.confidence || {};
  if (typeof confidence === "object" && "mean" in confidence) {
    row(list, "Confidence", ["mean", "min", "max"].filter((k) => k in confidence).map((k) => `${k} ${confidence[k]}`).join(", "));
  } else if (confidence && Object.keys(confidence).length) {
    row(list, "Confidence", json(confidence));
  }
  if (body.evidence && Object.keys(body.evidence).length) row(list, "Evidence", json(body.evidence));
}

function showEntry(index, entry, verified) {
  const list = $("decision");
  list.replaceChildren();
  const base = String(entry.kind).split("/")[0];
  row(list, "Ledger index", index);
  row(list, "Kind", DESCRIPTIONS[base] ? `${entry.kind}: ${DESCRIPTIONS[base]}` : entry.kind);
  row(list, "Author", entry.author);
  row(list, "Signed at", entry.time);
  if (!verified) row(list, "Warning", "this entry did not verify: what it says is not proven");
  const body = entry.body !== null && typeof entry.body === "object" ? entry.body : {};
  if (base === "ai.decision") {
    try {
      describeDecision(list, body);
    } catch {
      row(list, "Body", json(body));
    }
  } else {
    for (const [name, value] of Object.entries(body)) {
      if (name === "decision" && Number.isSafeInteger(value)) row(list, name, entryLink(value, `entry ${value}`));
      else row(list, name, typeof value === "string" ? value : json(value));
    }
  }
}

function mark(name, ok, detail) {
  const item = el("li", undefined, { class: ok ? "passed" : "failed" });
  item.append(el("span", ok ? "passed" : "failed", { class: "mark" }), ` ${name}`, el("span", detail, { class: "detail" }));
  $("checks").append(item);
  return ok;
}

async function check(name, detail, action) {
  try {
    const value = await action();
    mark(name, true, typeof detail === "function" ? detail(value) : detail);
    return { ok: true, value };
  } catch (error) {
    mark(name, false, reason(error));
    return { ok: false };
  }
}

function finish(index, ok) {
  const status = $("status");
  status.className = ok ? "verified" : "failed";
  status.textContent = ok ? `Entry ${index}: verified` : `Entry ${index}: failed`;
}

async function explore(index) {
  const began = performance.now();
  $("status").textContent = `Entry ${index}: checking…`;
  const keyList = $("key");
  const key = await check("Log key", (k) => `${k.name}, key id ${hex(k.keyId)}`, async () => {
    const trusted = await trustedKey();
    row(keyList, "Key", trusted.text);
    row(keyList, "Where it came from", trusted.source);
    return parseVerifierKey(trusted.text);
  });
  let checkpoint = { ok: false };
  if (key.ok) {
    checkpoint = await check("Checkpoint signature", (c) => `signed by ${key.value.name}: tree of ${c.size} entries of ${c.origin}`,
      async () => verifyCheckpoint(await api("/v1/ledger/checkpoint", "text"), key.value));
  }
  let bytes = null;
  const entry = await check("Entry signature", (e) => `signed by its author ${e.author}`, async () => {
    bytes = await api(`/v1/ledger/entries/${index}`, "bytes");
    return verifyEntry(bytes);
  });
  if (bytes && !entry.ok) {
    try { showEntry(index, JSON.parse(new TextDecoder().decode(bytes)), false); } catch { /* unreadable */ }
  }
  if (entry.ok) showEntry(index, entry.value, true);
  let proof = { ok: false };
  let witnessesOk = true;
  if (checkpoint.ok && bytes) {
    const cp = checkpoint.value;
    const proofList = $("proof");
    row(proofList, "Checkpoint", `${cp.origin}, ${cp.size} entries`);
    row(proofList, "Root hash", hex(cp.root));
    const witnesses = new URLSearchParams(location.search).getAll("witness").map((w) => w.replaceAll(" ", "+"));
    row(proofList, "Witness cosignatures", cp.cosigners.length ? cp.cosigners.join(", ") : "none");
    if (!witnesses.length && cp.cosigners.length) {
      row(proofList, "Witness keys", "none given (add ?witness=VKEY to the link to check a witness's cosignature)");
    }
    for (const text of witnesses) {
      const ok = await check("Witness cosignature", (t) => `cosigned at ${new Date(t * 1000).toISOString()}`, async () => {
        const witness = await parseVerifierKey(text, 4, "the witness key");
        row(keyList, "Witness key", `${witness.text} (given in the link, ?witness=)`);
        return verifyCosignature(cp, witness);
      });
      witnessesOk = witnessesOk && ok.ok;
    }
    proof = await check("Inclusion proof", (ms) => `entry ${index} is in the tree the checkpoint signs (proof checked in ${ms.toFixed(1)} ms)`, async () => {
      if (index >= cp.size) throw new VerifyError(`entry ${index} is not in the signed tree of ${cp.size} entries yet`);
      const answer = await api(`/v1/ledger/proof/inclusion?index=${index}&size=${cp.size}`, "json");
      if (answer.leaf_index !== index || answer.tree_size !== cp.size || !Array.isArray(answer.hashes)) {
        throw new VerifyError("the proof is not for this entry and this checkpoint");
      }
      row(proofList, "Audit path", `${answer.hashes.length} hashes`);
      const began = performance.now();
      const hashes = answer.hashes.map((h) => b64decode(h, "a proof hash"));
      await verifyInclusion(index, cp.size, await leafHash(bytes), hashes, cp.root);
      const ms = performance.now() - began;
      $("status").dataset.proofMs = ms.toFixed(3);
      return ms;
    });
  } else {
    row($("proof"), "Not shown", "the checkpoint or the entry could not be read or did not verify");
    mark("Inclusion proof", false, "not checked: the checkpoint or the entry did not verify");
  }
  $("status").dataset.checksMs = (performance.now() - began).toFixed(3);
  finish(index, key.ok && checkpoint.ok && entry.ok && proof.ok && witnessesOk);
}

function start() {
  $("open").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("index").value.trim();
    if (/^[0-9]+$/.test(value)) location.assign(`/explorer/entry/${Number(value)}${location.search}`);
  });
  const match = location.pathname.match(/^\/explorer\/entry\/([0-9]{1,15})$/);
  if (!match) return;
  const index = Number(match[1]);
  $("index").value = String(index);
  explore(index).catch(() => {
    mark("Verification", false, "the page could not finish its checks");
    finish(index, false);
  });
}

start();
