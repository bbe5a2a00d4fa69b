// The expert review page (/review): the expert's key (created here, non-extractable, kept in
// IndexedDB; or imported from an aiwork key file), the expert role asked for, then items taken
// one at a time and answered with one key each. Every request is signed here (sign.js) and the
// human.verdict entry is built and signed here; the coordinator only checks and logs it.
import { PageError, api as signedApi, createKey, importKeyFile, keptKey } from "./session.js";
import {
  SEALED_VERDICT_KIND, VERDICT_KIND, sealVerdict, signEntry, verdictBody,
} from "./sign.js";

const $ = (id) => document.getElementById(id);
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const ITEM_ID = /^[0-9a-f]{32}$/;

let me = null;       // { privateKey, publicKey, did }
let current = null;  // the review item on screen
let shownAt = 0;     // when it was shown (performance.now(), ms)
let busy = false;
const skipped = new Set();

function useKey(id) {
  me = id;
  $("identity").textContent = `Your identity: ${id.did}`;
  $("register").disabled = false;
  $("next").disabled = false;
}

// -- the API, every request signed -----------------------------------------------------------

function api(method, path, body) {
  return signedApi(me, method, path, body);
}

function say(id, text, error = false) {
  $(id).textContent = text;
  $(id).classList.toggle("error", error);
}

// -- the item on screen ----------------------------------------------------------------------

function text(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function fact(dl, name, value) {
  const dt = document.createElement("dt");
  dt.textContent = name;
  const dd = document.createElement("dd");
  dd.textContent = value;
  dl.append(dt, dd);
}

// The item's media: a native <video> on the blob route (the browser seeks with HTTP ranges),
// opened at the item's range with its keyframe as the poster; the keyframe alone when the
// evidence names no media.
function showMedia(evidence) {
  const figure = $("media");
  figure.replaceChildren();
  figure.hidden = true;
  const keyframe = typeof evidence.keyframe === "string" && DIGEST.test(evidence.keyframe)
    ? `/v1/blobs/${evidence.keyframe}` : null;
  let shown = null;
  if (typeof evidence.asset === "string" && DIGEST.test(evidence.asset)) {
    shown = document.createElement("video");
    shown.controls = true;
    shown.preload = "metadata";
    if (keyframe) shown.poster = keyframe;
    const start = Math.max(0, Number(evidence.start) || 0);
    shown.src = `/v1/blobs/${evidence.asset}#t=${start}`;
    shown.setAttribute("aria-label", `the item's video, from ${start} s`);
  } else if (keyframe) {
    shown = document.createElement("img");
    shown.alt = "the item's keyframe";
    shown.src = keyframe;
  }
  if (shown === null) return;
  const caption = document.createElement("figcaption");
  shown.addEventListener("error", () => {
    shown.remove();
    caption.textContent = "The media of this item cannot be played here.";
  });
  figure.append(shown, caption);
  figure.hidden = false;
}

function showItem(item) {
  if (item === null || typeof item !== "object" || !ITEM_ID.test(item.id)
      || typeof item.question !== "string" || !item.evidence
      || !Number.isInteger(item.evidence.decision)) {
    throw new PageError("the coordinator sent a review item this page cannot read");
  }
  current = item;
  shownAt = performance.now();
  const evidence = item.evidence && typeof item.evidence === "object" ? item.evidence : {};
  $("question").textContent = item.question;
  const facts = $("facts");
  facts.replaceChildren();
  fact(facts, "Insight", item.insight);
  fact(facts, "The AI's value", text(item.value));
  fact(facts, "Confidence", "confidence" in evidence ? text(evidence.confidence) : "not given");
  fact(facts, "Alternatives", "alternatives" in evidence ? text(evidence.alternatives) : "none");
  for (const [name, value] of Object.entries(evidence)) {
    if (name !== "confidence" && name !== "alternatives") fact(facts, name, text(value));
  }
  $("value").blur();
  $("correction").hidden = true;
  showMedia(evidence);
  $("item").hidden = false;
  $("state").dataset.reviewState = "item";
  say("state", `Item ${item.id}: answer with A, R, C or S.`);
}

function noItem(words, state) {
  current = null;
  $("value").blur();
  $("item").hidden = true;
  $("state").dataset.reviewState = state;
  say("state", words, state === "error");
}

// -- actions ---------------------------------------------------------------------------------

// The next item: a new one from the coordinator, else (once the queue is empty) the oldest
// item skipped here, which stays assigned to this expert until answered.
async function next() {
  current = null;
  const taken = await api("POST", "/v1/review/next", {});
  if (taken.none !== undefined && skipped.size > 0) {
    const [first] = skipped;
    skipped.delete(first);
    showItem(await api("GET", `/v1/review/items/${first}`));
    say("state", "Back to an item you skipped: answer with A, R, C or S.");
  } else if (taken.none !== undefined) {
    noItem(`Nothing to review right now${taken.none ? ` (${taken.none})` : ""}.`, "empty");
  } else {
    say("role", "You hold the expert role.");
    showItem(taken);
  }
}

async function answer(verdict, value = null) {
  const item = current;
  const seconds = Math.round(performance.now() - shownAt) / 1000;
  const body = verdictBody(item.id, item.evidence.decision, item.insight, verdict, value, null,
    seconds);
  // A sensitive library's verdict goes to the log sealed: commitments to the value and the
  // rationale; their openings go to the coordinator, kept for the library's readers.
  const sealed = item.sensitive === true ? await sealVerdict(body) : null;
  const entry = new TextDecoder().decode(sealed === null
    ? await signEntry(me, VERDICT_KIND, body)
    : await signEntry(me, SEALED_VERDICT_KIND, sealed.body));
  const request = sealed === null ? { entry } : { entry, openings: sealed.openings };
  const receipt = await api("POST", `/v1/review/items/${item.id}/verdict`, request);
  const done = document.createElement("li");
  done.textContent = `${verdict} on "${item.question}" after ${seconds.toFixed(1)} s: `
    + `ledger entry ${receipt.verdict}`;
  done.dataset.verdict = verdict;
  done.dataset.index = String(receipt.verdict);
  $("done").append(done);
  await next();
}

function parseValue(raw) {
  try { return JSON.parse(raw); } catch { return raw; }
}

async function act(work) {
  if (busy) return;
  busy = true;
  document.body.dataset.busy = "true";
  try {
    await work();
  } catch (error) {
    const words = error instanceof Error ? error.message : String(error);
    if (current === null) noItem(words, "error"); else say("state", words, true);
  } finally {
    busy = false;
    delete document.body.dataset.busy;
  }
}

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || me === null) return;
  if (event.target instanceof HTMLInputElement) {
    if (event.key === "Escape") { $("correction").hidden = true; event.target.blur(); }
    return;
  }
  if (busy) return;  // one action at a time: a key pressed while one is signed is dropped
  const key = event.key.toLowerCase();
  if (key === "n") { event.preventDefault(); act(next); return; }
  if (current === null) return;
  if (key === "a") act(() => answer("accept"));
  else if (key === "r") act(() => answer("reject"));
  else if (key === "s") { skipped.add(current.id); act(next); }
  else if (key === "c") {
    event.preventDefault();
    $("correction").hidden = false;
    $("value").value = text(current.value);
    $("value").focus();
    $("value").select();
  }
}

async function start() {
  $("create").addEventListener("click", () => act(async () => {
    useKey(await createKey());
  }));
  $("keyfile").addEventListener("change", () => act(async () => {
    useKey(await importKeyFile($("keyfile").files[0]));
  }));
  $("register").addEventListener("click", () => act(async () => {
    const status = await api("POST", "/v1/identities", { role: "expert" });
    say("role", `The expert role is ${status.status} for you.`);
  }));
  $("next").addEventListener("click", () => act(next));
  $("correction").addEventListener("submit", (event) => {
    event.preventDefault();
    act(() => answer("correct", parseValue($("value").value)));
  });
  document.addEventListener("keydown", onKey);
  const kept = await keptKey();
  if (kept) useKey(kept);
  else say("identity", "No key in this browser yet: create one or import an aiwork key file.");
}

start().catch((error) => say("identity", error.message || String(error), true));
