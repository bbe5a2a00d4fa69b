// The expert review page (/review): the expert's key (created here, non-extractable, kept in
// IndexedDB; or imported from an aiwork key file), the expert role asked for, then items taken
// one at a time and answered with one key each. Every request is signed here (sign.js) and the
// human.verdict entry is built and signed here; the coordinator only checks and logs it.
import { PageError, api as signedApi, createKey, importKeyFile, keptKey } from "./session.js";
import {
  SEALED_VERDICT_KIND, VERDICT_KIND, sealVerdict, signEntry, verdictBody,
} from "./sign.js";
import { mountPlayer, playerKey } from "./player.js";
import { keyFor, lanesFromResults, mountTimeline } from "./timeline.js";

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

// -- the item's video and timeline (player.js, timeline.js) ------------------------------------
// The real file plays from the blob route (the browser fetches it with HTTP ranges); the
// timeline shows the job's results, one lane per insight, with the item under review
// highlighted; without a job it readable here, one lane holds the item alone. The player is
// kept while the next item is on the same video.

let player = null;
let timeline = null;
let shownAsset = null;
const jobResults = new Map();  // job id -> its results (read once per page)

function number(x) {
  const n = Number(x);
  return Number.isFinite(n) ? n : null;
}

async function jobLanes(job) {
  if (!jobResults.has(job)) {
    jobResults.set(job, api("GET", `/v1/jobs/${encodeURIComponent(job)}/results`));
  }
  let results;
  try {
    results = await jobResults.get(job);
  } catch (error) {
    jobResults.delete(job);
    throw error;
  }
  const review = await api("GET", `/v1/jobs/${encodeURIComponent(job)}/review`).catch(() => null);
  return { results, lanes: lanesFromResults(results, review) };
}

function dropMedia() {
  player?.destroy();
  timeline?.destroy();
  player = null;
  timeline = null;
  shownAsset = null;
}

async function showMedia(item) {
  const evidence = item.evidence;
  const figure = $("media");
  const asset = item.asset ?? evidence.asset;
  const keyframe = [item.keyframe, evidence.keyframe].find((k) => typeof k === "string"
    && DIGEST.test(k));
  const start = Math.max(0, number(item.start ?? evidence.start) ?? 0);
  const end = number(item.end ?? evidence.end);
  const job = [item.job, evidence.job].find((j) => typeof j === "string" && /^[0-9a-f]{32}$/.test(j));
  if (typeof asset !== "string" || !DIGEST.test(asset)) {
    dropMedia();
    figure.replaceChildren();
    figure.hidden = !keyframe;
    if (keyframe) {
      const img = document.createElement("img");
      img.alt = "the item's keyframe";
      img.src = `/v1/blobs/${keyframe}`;
      figure.append(img);
    }
    return;
  }
  let found = null;
  // (a sensitive library's results are read only with a stated purpose: not from this page)
  if (job && item.sensitive !== true) found = await jobLanes(job).catch(() => null);
  if (current !== item) return;  // another item came meanwhile
  const lanes = found ? found.lanes : [{ insight: item.insight, label: item.insight,
    items: [{ key: "item", start, end: end ?? start, label: text(item.value), decision:
      evidence.decision, state: "ai" }] }];
  const technical = found?.results?.results?.technical ?? {};
  const fps = number(item.fps ?? evidence.fps ?? found?.results?.media?.frame_rate
    ?? technical.frame_rate);
  const duration = number(found?.results?.media?.duration ?? technical.duration);
  if (shownAsset !== asset || player === null) {
    dropMedia();
    const playerBox = document.createElement("div");
    const timelineBox = document.createElement("div");
    figure.replaceChildren(playerBox, timelineBox);
    player = mountPlayer(playerBox, { src: `/v1/blobs/${asset}#t=${start}`,
      poster: keyframe ? `/v1/blobs/${keyframe}` : null, fps, duration,
      label: `the item's video, from ${start} s` });
    timeline = mountTimeline(timelineBox, { duration, lanes, frames: `/v1/blobs/${asset}`,
      onSeek: (t) => player?.seek(t) });
    const mounted = { player, timeline };
    player.video.addEventListener("loadedmetadata", () => {
      mounted.timeline.setDuration(mounted.player.video.duration);
    });
    player.onTime((t) => mounted.timeline.setTime(t));
    shownAsset = asset;
  } else {
    timeline.setLanes(lanes);
    player.seek(start);
  }
  const key = found ? keyFor(lanes, { insight: item.insight, id: item.item ?? evidence.item,
    start, end, value: item.value }) : "item";
  timeline.highlight(key);
  timeline.setRange(start, end ?? start);
  player.setSegment(start, end);
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
  showMedia(item).catch((error) => say("state", error.message || String(error), true));
  $("item").hidden = false;
  $("state").dataset.reviewState = "item";
  say("state", `Item ${item.id}: answer with A, R, C or S.`);
}

function noItem(words, state) {
  current = null;
  dropMedia();
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
  if (player && playerKey(player, event)) return;
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
