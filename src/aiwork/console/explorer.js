// The decision explorer's page: fetches an entry, an inclusion proof and the signed checkpoint
// through the coordinator's public API and verifies them here, in the browser (verify.js).
import {
  VerifyError, b64decode, canonicalize, hex, leafHash, parseVerifierKey, publicKeyFromDid, sha256,
  verifyCheckpoint, verifyCosignature, verifyEntry, verifyInclusion,
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
  "human.verdict.sealed": "an expert's verdict on a sensitive library's item (the correction and rationale are commitments)",
  "consensus.result": "the experts' verdicts on one item, combined by truth inference",
  "consensus.result.sealed": "the experts' verdicts on a sensitive library's item, combined (the corrected value is a commitment)",
  "anchor": "a signed checkpoint of this log, anchored on an EVM chain",
};

const DECISIONS = ["ai.decision", "ai.decision.sealed"];

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

function sealed(value) {
  return value !== null && typeof value === "object" && typeof value.commitment === "string";
}

function said(value) {
  if (sealed(value)) return `sealed (a commitment: ${value.commitment})`;
  if (value === null || value === undefined) return "none";
  return typeof value === "string" ? value : json(value, 300);
}

// What a person reads of an alternative: its value and score, whatever the analyzer named them.
function alternative(item) {
  if (item === null || typeof item !== "object") return String(item);
  const name = ["value", "label", "text", "category", "language", "name"].find((k) => k in item);
  const score = ["score", "confidence", "probability", "p"].find((k) => typeof item[k] === "number");
  const head = name ? String(item[name]) : json(item, 120);
  return score ? `${head} (${item[score]})` : head;
}

const ALTERNATIVES = ["alternatives", "candidates", "below_threshold", "rejected"];

function describeDecision(list, body) {
  row(list, "Analyzer", `${body.analyzer} ${body.analyzer_version}, for the insight “${body.insight}”`);
  const model = body.model || {};
  row(list, "Model", `${model.name} ${model.version}`);
  row(list, "Weights digest", model.weights_digest || "none (an algorithm without weights)");
  row(list, "Parameters", body.parameters && Object.keys(body.parameters).length ? json(body.parameters) : "the analyzer's defaults");
  row(list, "Parameters digest", body.parameters_digest);
  const input = body.input || {};
  if (sealed(body.input)) {
    row(list, "Input", "sealed: a sensitive library's video (its readers hold the opening)");
  } else if (input.asset) {
    row(list, "Input", `video ${input.asset}, from ${seconds(input.start)} to ${seconds(input.end)}`);
    const derived = input.derived_from;
    const from = el("span", Array.isArray(derived) ? (derived.length ? "" : "the media only")
      : "not named (an ai.decision/v1 entry)");
    (derived || []).forEach((d, i) => {
      if (i) from.append(", ");
      from.append(`${d.insight} (`, entryLink(d.decision, `entry ${d.decision}`), ")");
    });
    row(list, "Derived from", from);
  }
  if (typeof body.output_items === "number") row(list, "Output", `${body.output_items} items, digest ${body.output_digest}`);
  else if (sealed(body.output)) row(list, "Output", said(body.output));
  const confidence = body.confidence || {};
  if (typeof confidence === "object" && "mean" in confidence) {
    row(list, "Confidence", ["mean", "min", "max"].filter((k) => k in confidence).map((k) => `${k} ${confidence[k]}`).join(", "));
  } else if (confidence && Object.keys(confidence).length) {
    row(list, "Confidence", sealed(confidence) ? said(confidence) : json(confidence));
  }
  const evidence = body.evidence && typeof body.evidence === "object" ? body.evidence : {};
  if (sealed(evidence)) {
    row(list, "Evidence", said(evidence));
    return;
  }
  const named = ALTERNATIVES.find((k) => Array.isArray(evidence[k]) && evidence[k].length);
  row(list, "Alternatives", named ? evidence[named].slice(0, 12).map(alternative).join("; ")
    + (evidence[named].length > 12 ? `; and ${evidence[named].length - 12} more` : "") : "none recorded");
  const rest = Object.entries(evidence).filter(([k]) => k !== named);
  if (rest.length) {
    const items = el("ul", undefined, { class: "evidence" });
    for (const [name, value] of rest) items.append(el("li", `${name}: ${said(value)}`));
    row(list, "Evidence", items);
  } else {
    row(list, "Evidence", named ? "the alternatives above" : "none recorded");
  }
  if (body.task) row(list, "Task", body.task);
}

function expert(did) {
  return typeof did === "string" && did.length > 24 ? `${did.slice(0, 16)}…${did.slice(-8)}` : String(did);
}

function describeVerdict(list, body) {
  row(list, "Verdict", `${body.verdict} (${body.insight}), on review item ${body.item}`);
  row(list, "About decision", entryLink(body.decision, `entry ${body.decision}`));
  if (body.verdict === "correct" || body.value !== null) row(list, "Value given", said(body.value));
  if (body.rationale !== undefined) row(list, "Rationale", said(body.rationale));
  if (typeof body.seconds === "number") row(list, "Time spent", `${body.seconds} s`);
}

function describeConsensus(list, body) {
  row(list, "Outcome", `${body.outcome}: label ${body.label} at posterior ${body.posterior}`);
  row(list, "About decision", entryLink(body.decision, `entry ${body.decision}`));
  row(list, "Review item", `${body.item} (${body.insight})`);
  row(list, "Method", body.items ? `${body.method}, over ${body.items} item${body.items === 1 ? "" : "s"}` : body.method);
  const who = el("ul", undefined, { class: "evidence" });
  for (const p of body.participants || []) {
    const li = el("li", `${expert(p.annotator)} answered ${p.answer}, weight ${p.weight}`);
    if (Number.isSafeInteger(p.verdict)) li.append(" (", entryLink(p.verdict, `entry ${p.verdict}`), ")");
    who.append(li);
  }
  row(list, "Participants", who);
  if (body.outcome === "corrected" || body.value !== null) row(list, "Value", said(body.value));
}

function describeAnchor(list, body) {
  row(list, "Chain", `chain id ${body.chain_id}, contract ${body.contract}`);
  row(list, "Transaction", `${body.transaction}, block ${body.block} (${body.block_hash})`);
  row(list, "Anchored checkpoint", `${body.origin}: the first ${body.size} entries, root ${body.root}`);
}

const DESCRIBE = {
  "ai.decision": describeDecision, "ai.decision.sealed": describeDecision,
  "human.verdict": describeVerdict, "human.verdict.sealed": describeVerdict,
  "consensus.result": describeConsensus, "consensus.result.sealed": describeConsensus,
  anchor: describeAnchor,
};

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
  if (DESCRIBE[base]) {
    try {
      DESCRIBE[base](list, body);
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

// Checks entry `index` (its bytes) is in the tree of a verified checkpoint `cp`; the length of
// the audit path and the milliseconds the check itself took.
async function proveInclusion(index, bytes, cp) {
  if (index >= cp.size) throw new VerifyError(`entry ${index} is not in the signed tree of ${cp.size} entries yet`);
  const answer = await api(`/v1/ledger/proof/inclusion?index=${index}&size=${cp.size}`, "json");
  if (answer.leaf_index !== index || answer.tree_size !== cp.size || !Array.isArray(answer.hashes)) {
    throw new VerifyError("the proof is not for this entry and this checkpoint");
  }
  const began = performance.now();
  const hashes = answer.hashes.map((h) => b64decode(h, "a proof hash"));
  await verifyInclusion(index, cp.size, await leafHash(bytes), hashes, cp.root);
  return { hashes: hashes.length, ms: performance.now() - began };
}

async function fetchVerified(index) {
  const bytes = await api(`/v1/ledger/entries/${index}`, "bytes");
  return { bytes, entry: await verifyEntry(bytes) };
}

const REVIEW_KINDS = ["human.verdict", "human.verdict.sealed", "consensus.result", "consensus.result.sealed"];
const RELATED_SHOWN = 200;

// One page of them, after ledger index `after`, appended to the list: the coordinator's answer
// and the entries that failed (`tally` counts the verdicts and consensus results shown).
async function relatedPage(index, item, after, tally) {
  const answer = await api(`/v1/ledger/entries/${index}/related?limit=${RELATED_SHOWN}&after=${after}`, "json");
  if (!answer || !Array.isArray(answer.entries)) throw new ApiError("the coordinator's list is not what the API documents");
  const failed = [];
  for (const ref of answer.entries) {
    const at = Number(ref.index);
    const li = el("li");
    try {
      if (!Number.isSafeInteger(at) || at <= after) throw new VerifyError("the coordinator listed an entry out of order or without an index");
      li.append(entryLink(at, `Entry ${at}`), " ");
      const { entry } = await fetchVerified(at);
      const base = String(entry.kind).split("/")[0];
      const body = entry.body || {};
      if (!REVIEW_KINDS.includes(base) || body.decision !== index) {
        throw new VerifyError(`it is a ${entry.kind} about ${Number.isSafeInteger(body.decision) ? `entry ${body.decision}` : "no decision"}, not a verdict or consensus about this decision`);
      }
      const about = Number.isSafeInteger(ref.item) ? `item ${ref.item}` : "an item";
      if (base.startsWith("human.verdict")) {
        tally.verdicts += 1;
        li.dataset.kind = "verdict";
        li.append(el("strong", body.verdict), ` on ${about}, by expert ${expert(entry.author)}`
          + (typeof body.seconds === "number" ? ` after ${body.seconds} s` : "")
          + (body.verdict === "correct" ? `: ${said(body.value)}` : ""));
      } else {
        tally.outcomes += 1;
        li.dataset.kind = "consensus";
        const experts = (body.participants || []).length;
        li.append(el("strong", `consensus: ${body.outcome}`), ` on ${about} (label ${body.label} at posterior ${body.posterior}, ${experts} expert${experts === 1 ? "" : "s"}, ${body.method})`);
      }
      li.dataset.item = String(ref.item);
      if (item !== null && ref.item === item) li.classList.add("focus");
    } catch (error) {
      failed.push(at);
      li.classList.add("failed");
      li.append(el("strong", "failed"), `: ${reason(error)}`);
    }
    $("related").append(li);
  }
  return { answer, failed };
}

function relatedSummary(tally, open, more) {
  const { verdicts, outcomes } = tally;
  const parts = [];
  if (verdicts + outcomes) parts.push(`${verdicts} verdict${verdicts === 1 ? "" : "s"} and ${outcomes} consensus result${outcomes === 1 ? "" : "s"} on decided items${more ? " listed so far" : ""}.`);
  else parts.push("No item of this decision has been decided by experts yet.");
  if (open) parts.push(`${open} verdict${open === 1 ? " is" : "s are"} in on items still under review: not listed until those items are decided, so the experts answering them stay blind.`);
  $("related-summary").textContent = parts.join(" ");
}

// The verdicts and consensus results about decision `index`'s items, as the coordinator lists
// them, a page at a time: each is fetched and its signature checked here, and it must name this
// decision. That none was left out is the coordinator's word (a check of it needs the whole
// log). True unless a listed entry failed.
async function related(index, item) {
  $("related-card").hidden = false;
  const tally = { verdicts: 0, outcomes: 0 };
  let page;
  try {
    page = await relatedPage(index, item, -1, tally);
  } catch (error) {
    $("related-summary").textContent = `They could not be listed: ${reason(error)}.`;
    return true;
  }
  const open = Number.isSafeInteger(page.answer.open_verdicts) ? page.answer.open_verdicts : 0;
  let next = page.answer.next;
  relatedSummary(tally, open, Number.isSafeInteger(next));
  const more = $("related-more");
  more.hidden = !Number.isSafeInteger(next);
  more.onclick = async () => {
    more.disabled = true;
    try {
      const further = await relatedPage(index, item, next, tally);
      next = further.answer.next;
      if (further.failed.length) {
        mark("Verdicts and consensus", false, `entries ${further.failed.join(", ")} did not verify or are not about this decision`);
        finish(index, false);
      }
    } catch (error) {
      $("related-summary").append(` The next page could not be read: ${reason(error)}.`);
      next = null;
    }
    relatedSummary(tally, open, Number.isSafeInteger(next));
    more.hidden = !Number.isSafeInteger(next);
    more.disabled = false;
  };
  const shown = page.answer.entries.length;
  if (!shown) return true;
  return mark("Verdicts and consensus", page.failed.length === 0, page.failed.length
    ? `entries ${page.failed.join(", ")} did not verify or are not about this decision`
    : `${shown} entries${Number.isSafeInteger(next) ? " (the first page)" : ""}, each signed by its author and naming entry ${index}`);
}

// The anchor of the first checkpoint that holds entry `index`, when the log was anchored: the
// anchor entry must be signed by the log's key, the checkpoint it names must be one the log
// signed (same origin, size and root), and entry `index` must be in it. The chain itself is not
// asked: this page reaches only its coordinator. True unless that anchor failed.
async function anchored(index, bytes, key, shown) {
  const list = $("anchor");
  let answer;
  try {
    answer = await api(`/v1/ledger/anchors?covering=${index}`, "json");
    if (!answer || typeof answer !== "object") throw new ApiError("the coordinator's answer is not what the API documents");
  } catch (error) {
    row(list, "Anchor", `could not be read: ${reason(error)}`);
    return true;
  }
  const latest = answer.latest;
  if (!latest) {
    row(list, "Anchor", "this log has not been anchored on a chain yet");
    return true;
  }
  const first = answer.covering;
  const latestLink = entryLink(latest.index, `entry ${latest.index}`);
  const shownState = el("span", latest.size === shown.size ? "anchored: the latest anchor (" : latest.size > shown.size
    ? "older than the latest anchor (" : `not anchored itself yet; the latest anchor holds the first ${latest.size} entries (`);
  shownState.append(latestLink, ")");
  row(list, `The checkpoint shown (${shown.size} entries)`, shownState);
  if (!first) {
    row(list, `Entry ${index}`, "not in an anchored checkpoint yet (a later anchor will hold it)");
    return true;
  }
  const result = await check("Anchor", (a) => `entry ${index} is in the checkpoint of ${a.size} entries anchored on chain ${a.chain_id} (not asked by this page)`, async () => {
    if (!Number.isSafeInteger(first.index) || first.index < 0) throw new VerifyError("the coordinator named no anchor entry");
    const { entry } = await fetchVerified(first.index);
    if (String(entry.kind).split("/")[0] !== "anchor") throw new VerifyError(`entry ${first.index} is a ${entry.kind}, not an anchor`);
    if (hex(publicKeyFromDid(entry.author)) !== hex(key.publicKey)) throw new VerifyError(`the anchor entry ${first.index} is not signed by the log's key`);
    const a = entry.body;
    if (!Number.isSafeInteger(a.size) || a.size <= index) throw new VerifyError(`the anchor of ${a.size} entries does not hold entry ${index}`);
    if (`0x${hex(await sha256(new TextEncoder().encode(a.origin)))}` !== a.log_id) throw new VerifyError("the anchor's log id is not the SHA-256 of its origin");
    const cp = await verifyCheckpoint(await api(`/v1/ledger/checkpoint?size=${a.size}`, "text"), key);
    if (cp.size !== a.size || cp.origin !== a.origin || `0x${hex(cp.root)}` !== a.root) {
      throw new VerifyError(`the anchor names another checkpoint than the one the log signed at ${a.size} entries`);
    }
    await proveInclusion(index, bytes, cp);
    row(list, "Chain", `chain id ${a.chain_id}`);
    row(list, "Contract", a.contract);
    row(list, "Transaction", a.transaction);
    row(list, "Block", `${a.block} (${a.block_hash})`);
    row(list, "Anchored checkpoint", `${a.origin}: the first ${a.size} entries, root ${a.root}`);
    row(list, "Recorded as", entryLink(first.index, `entry ${first.index}`));
    row(list, "The chain itself", "not asked by this page, which talks only to its coordinator: aiwork-verify BUNDLE --rpc URL --contract ADDRESS asks it");
    return a;
  });
  return result.ok;
}

async function explore(index, item = null) {
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
      const { hashes, ms } = await proveInclusion(index, bytes, cp);
      row(proofList, "Audit path", `${hashes} hashes`);
      $("status").dataset.proofMs = ms.toFixed(3);
      return ms;
    });
  } else {
    row($("proof"), "Not shown", "the checkpoint or the entry could not be read or did not verify");
    mark("Inclusion proof", false, "not checked: the checkpoint or the entry did not verify");
  }
  let relatedOk = true;
  if (entry.ok && DECISIONS.includes(String(entry.value.kind).split("/")[0])) relatedOk = await related(index, item);
  let anchorOk = true;
  if (key.ok && checkpoint.ok && bytes) anchorOk = await anchored(index, bytes, key.value, checkpoint.value);
  $("status").dataset.checksMs = (performance.now() - began).toFixed(3);
  finish(index, key.ok && checkpoint.ok && entry.ok && proof.ok && witnessesOk && relatedOk && anchorOk);
}

// What a person reads of a metadata item: its text, label or value, whichever it has.
function itemValue(it) {
  for (const k of ["text", "label", "keyword", "value", "category", "name", "title", "event", "language"]) {
    if (k in it && it[k] !== null && typeof it[k] !== "object") return k === "category" && "level" in it ? `${it[k]} at level ${it.level}` : String(it[k]);
  }
  if (it.transition && typeof it.transition === "object") {
    return `a shot, after a ${it.transition.kind || "cut"} at ${seconds(it.transition.start)}`;
  }
  const rest = Object.fromEntries(Object.entries(it).filter(([k]) =>
    !["decision", "id", "instances", "confidence", "keyframe", "words"].includes(k)));
  return json(rest, 300);
}

function itemSpan(it) {
  const spans = Array.isArray(it.instances) && it.instances.length ? it.instances
    : "start" in it ? [it] : [];
  if (!spans.length) return "the whole video";
  const shown = spans.slice(0, 5).map((s) => `${seconds(s.start)} to ${seconds(s.end)}`).join(", ");
  return spans.length > 5 ? `${shown} and ${spans.length - 5} more` : shown;
}

// /explorer/item?job=J&insight=I&item=K: the metadata item K of insight I in job J's results
// (as the coordinator publishes them, experts' corrections applied) and the ledger index of
// the decision that made it; null, with the reason shown, when there is none.
async function openItem(params) {
  const job = params.get("job") || "";
  const insight = params.get("insight") || "";
  const wanted = params.get("item") || "";
  $("item-card").hidden = false;
  const list = $("item");
  const refuse = (why) => {
    mark("Metadata item", false, why);
    $("status").className = "failed";
    $("status").textContent = `Item ${wanted || "?"} of ${insight || "?"}: failed`;
    return null;
  };
  if (!/^[A-Za-z0-9_.-]{1,128}$/.test(job) || !/^[a-z_]{1,64}$/.test(insight) || !/^[0-9]{1,9}$/.test(wanted)) {
    return refuse("the link must name ?job=JOB&insight=NAME&item=NUMBER");
  }
  $("job").value = job;
  $("insight").value = insight;
  $("item-id").value = wanted;
  row(list, "Job", job);
  row(list, "Insight", insight);
  row(list, "Item", wanted);
  let answer;
  try {
    answer = await api(`/v1/jobs/${encodeURIComponent(job)}/results`, "json");
  } catch (error) {
    return refuse(`the job's results could not be read: ${reason(error)} (a sensitive library's results are read signed, from /jobs)`);
  }
  const results = answer && typeof answer.results === "object" && answer.results !== null ? answer.results : {};
  const output = results[insight];
  if (output === undefined || output === null) {
    const names = Object.keys(results).filter((n) => n !== "stale").sort();
    return refuse(`job ${job} has no ${insight} results${names.length ? ` (it has ${names.join(", ")})` : ""}`);
  }
  const items = Array.isArray(output) ? output : Array.isArray(output.segments) ? output.segments : [output];
  const number = Number(wanted);
  const found = items.find((it, n) => it && typeof it === "object" && (Number.isSafeInteger(it.id) ? it.id : n) === number);
  if (!found) return refuse(`${insight} of job ${job} has no item ${number} (it has ${items.length})`);
  row(list, "Value", itemValue(found));
  row(list, "Time", itemSpan(found));
  if (typeof found.confidence === "number") row(list, "Confidence", String(found.confidence));
  if (!Number.isSafeInteger(found.decision)) return refuse("the item names no decision");
  row(list, "Made by", entryLink(found.decision, `decision entry ${found.decision} (verified below)`));
  return { decision: found.decision, item: number };
}

function carried() {
  // The trust settings a link carries from page to page: the log key and witness keys.
  const from = new URLSearchParams(location.search);
  const kept = new URLSearchParams();
  for (const name of ["key", "witness"]) for (const value of from.getAll(name)) kept.append(name, value);
  return kept;
}

function start() {
  $("open").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("index").value.trim();
    const query = carried().toString();
    if (/^[0-9]+$/.test(value)) location.assign(`/explorer/entry/${Number(value)}${query ? `?${query}` : ""}`);
  });
  $("open-item").addEventListener("submit", (event) => {
    event.preventDefault();
    const query = carried();
    query.set("job", $("job").value.trim());
    query.set("insight", $("insight").value.trim());
    query.set("item", $("item-id").value.trim());
    location.assign(`/explorer/item?${query}`);
  });
  const failed = (index) => () => {
    mark("Verification", false, "the page could not finish its checks");
    finish(index, false);
  };
  if (location.pathname === "/explorer/item") {
    $("status").textContent = "Finding the item…";
    openItem(new URLSearchParams(location.search)).then((found) => {
      if (!found) return;
      $("index").value = String(found.decision);
      explore(found.decision, found.item).catch(failed(found.decision));
    }).catch(() => mark("Metadata item", false, "the page could not read the item"));
    return;
  }
  const match = location.pathname.match(/^\/explorer\/entry\/([0-9]{1,15})$/);
  if (!match) return;
  const index = Number(match[1]);
  $("index").value = String(index);
  explore(index).catch(failed(index));
}

start();
