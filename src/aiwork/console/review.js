// The expert review page (/review): the expert's key (created here, non-extractable, kept in
// IndexedDB; or imported from an aiwork key file), the expert role asked for, then items taken
// one at a time and answered with one key each. Every request is signed here (sign.js) and the
// human.verdict entry is built and signed here; the coordinator only checks and logs it.
//
// The workflow: a verdict (A, R, or C and its inline editor) is signed when given, with the
// seconds spent on the item, and sent after a visible grace period (GRACE_MS) while the next
// item is already on screen; U within it cancels it (nothing reaches the coordinator) and
// brings the item back. Giving the next verdict sends the pending one at once; leaving the
// page sends it too (a keepalive request signed in advance): the expert decided, and the
// grace period is for slips, not a draft. S hands the item back to the queue (another expert
// may take it). B walks back through the items of this visit: an answered one read-only with
// the verdict given, a skipped one answerable (if it still has room).
import {
  PageError, api as signedApi, createKey, importKeyFile, keptKey, mediaGrant, prepare,
  sendPrepared,
} from "./session.js";
import {
  SEALED_VERDICT_KIND, VERDICT_KIND, sealVerdict, signEntry, verdictBody,
} from "./sign.js";
import { mountPlayer, playerKey } from "./player.js";
import { keyFor, lanesFromResults, mountTimeline } from "./timeline.js";
import { CorrectionError, mountEditor } from "./correct.js";

const $ = (id) => document.getElementById(id);
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const ITEM_ID = /^[0-9a-f]{32}$/;
const GRACE_MS = 5000;  // how long a verdict may be undone before it is sent
// Why a sensitive library's item is read here: the purpose its results and its video's grant
// state (the coordinator logs each of those reads, as it logs the serving of the item).
const REVIEW_PURPOSE = "expert review";

let me = null;       // { privateKey, publicKey, did }
let current = null;  // the review item on screen
let shownAt = 0;     // when it was shown (performance.now(), ms)
let busy = false;

// The items of this visit, oldest first: { item, status, verdict, value, index, spent, note }.
// status: "open" (assigned, not answered), "pending" (signed, in its grace period), "sent"
// (in the ledger at ``index``), "skipped" (handed back). ``spent``: seconds on it so far.
const trail = [];
let at = -1;         // the trail's record on screen (-1: none)
let pending = null;  // { record, call, verdict, deadline, timer }
let editor = null;   // the correction editor, while open

function useKey(id) {
  me = id;
  $("identity").textContent = `Your identity: ${id.did}`;
  $("register").disabled = false;
  $("next").disabled = false;
  refreshStanding();
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
// kept while the next item is on the same video. A sensitive library's item: its results are
// read with a stated purpose, and its video plays from a media grant (a <video> cannot sign),
// both logged by the coordinator; its keyframes are drawn from the video itself.

let player = null;
let timeline = null;
let shownAsset = null;
const jobResults = new Map();  // job id -> its results (read once per page)

function number(x) {
  const n = Number(x);
  return Number.isFinite(n) ? n : null;
}

async function jobLanes(job, sensitive) {
  const why = sensitive ? `?purpose=${encodeURIComponent(REVIEW_PURPOSE)}` : "";
  if (!jobResults.has(job)) {
    jobResults.set(job, api("GET", `/v1/jobs/${encodeURIComponent(job)}/results${why}`));
  }
  let results;
  try {
    results = await jobResults.get(job);
  } catch (error) {
    jobResults.delete(job);
    throw error;
  }
  const review = await api("GET", `/v1/jobs/${encodeURIComponent(job)}/review`).catch(() => null);
  const lanes = lanesFromResults(results, review);
  if (sensitive) for (const lane of lanes) for (const one of lane.items) delete one.keyframe;
  return { results, lanes };
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
  const sensitive = item.sensitive === true;
  // (a sensitive library's keyframe is not fetched: it is drawn from the video)
  const keyframe = sensitive ? null : [item.keyframe, evidence.keyframe].find(
    (k) => typeof k === "string" && DIGEST.test(k));
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
  if (job) found = await jobLanes(job, sensitive).catch(() => null);
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
    let src = `/v1/blobs/${asset}`;
    let renew = null;
    if (sensitive) {
      const grant = async () => (await mediaGrant(me, asset, job, REVIEW_PURPOSE)).url;
      renew = async () => {
        const url = await grant();
        timeline?.setFrames(url);  // the thumbnails are drawn from the video too
        return `${url}#t=${start}`;
      };
      try {
        if (!job) throw new PageError("the item names no job to read its video through");
        src = await grant();
      } catch (error) {
        if (current !== item) return;
        figure.replaceChildren(Object.assign(document.createElement("p"), { className: "error",
          textContent: `The video cannot be played: ${error.message}` }));
        figure.hidden = false;
        return;
      }
      if (current !== item) return;  // another item came meanwhile
    }
    const playerBox = document.createElement("div");
    const timelineBox = document.createElement("div");
    figure.replaceChildren(playerBox, timelineBox);
    player = mountPlayer(playerBox, { src: `${src}#t=${start}`,
      poster: keyframe ? `/v1/blobs/${keyframe}` : null, fps, duration, renew,
      label: `the item's video, from ${start} s` });
    timeline = mountTimeline(timelineBox, { duration, lanes, frames: src,
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

function seconds(value) {
  const n = Number(value);
  return Number.isFinite(n) ? `${Math.round(n * 1000) / 1000} s` : "not given";
}

function facts(item) {
  const dl = $("facts");
  dl.replaceChildren();
  const evidence = item.evidence && typeof item.evidence === "object" ? item.evidence : {};
  fact(dl, "Insight", item.insight);
  fact(dl, "The AI's value", text(item.value));
  const confidence = item.confidence ?? evidence.confidence;
  fact(dl, "Confidence", typeof confidence === "number" ? confidence.toFixed(2) : "not given");
  const alternatives = Array.isArray(item.alternatives) ? item.alternatives : [];
  fact(dl, "Alternatives", alternatives.length ? alternatives.map(text).join("; ") : "none recorded");
  const start = item.start ?? evidence.start;
  const end = item.end ?? evidence.end;
  fact(dl, "Where", start === null || start === undefined ? "the whole video"
    : `${seconds(start)} to ${seconds(end)}`);
  const model = item.model && typeof item.model === "object" ? item.model : null;
  fact(dl, "Made by", [item.analyzer, item.analyzer_version ? `v${item.analyzer_version}` : null,
    model ? `model ${model.name} ${model.version}` : null].filter(Boolean).join(", ")
    || "not known");
  if (model && model.weights_digest) fact(dl, "Weights", model.weights_digest);
  const upstream = Array.isArray(item.derived_from) ? item.derived_from : [];
  fact(dl, "Derived from", [`ledger entry ${item.decision ?? evidence.decision} (the AI's decision)`,
    ...upstream.map((u) => `${u.insight}: ledger entry ${u.decision}`),
    item.asset ? `the video ${item.asset}` : null].filter(Boolean).join("; "));
  if (item.job) fact(dl, "Job", item.job);
}

function readable(item) {
  return item !== null && typeof item === "object" && ITEM_ID.test(item.id)
    && typeof item.question === "string" && item.evidence && typeof item.evidence === "object"
    && Number.isInteger(item.decision ?? item.evidence.decision);
}

function decisionOf(item) {
  return item.decision ?? item.evidence.decision;
}

// Show the trail's record ``n``: the item, and what was done with it.
function show(n) {
  leave();
  at = n;
  const record = trail[n];
  const item = record.item;
  current = item;
  shownAt = performance.now();
  // A button left focused (the one that took the item, or asked for the role) would be
  // pressed again by Space, the player's play key: the page's keys take over.
  if (document.activeElement instanceof HTMLButtonElement) document.activeElement.blur();
  $("question").textContent = item.question;
  const confidence = item.confidence ?? item.evidence.confidence;
  $("ai-value").textContent = `The AI says: ${text(item.value)}`
    + (typeof confidence === "number" ? ` (confidence ${confidence.toFixed(2)})` : "");
  facts(item);
  closeEditor();
  showMedia(item).catch((error) => say("state", error.message || String(error), true));
  $("item").hidden = false;
  const answered = record.status === "sent" || record.status === "pending";
  $("item").dataset.answered = String(answered);
  $("state").dataset.reviewState = "item";
  $("state").dataset.item = item.id;
  const where = `Item ${n + 1} of this visit`;
  if (record.status === "sent") {
    say("state", `${where}: you answered ${record.verdict}${record.value === null ? ""
      : ` (${text(record.value)})`}; it is ledger entry ${record.index}. N for the next item, B for the one before.`);
  } else if (record.status === "pending") {
    say("state", `${where}: your ${record.verdict} is being sent; U undoes it.`);
  } else if (record.status === "skipped") {
    say("state", `${where}: you skipped it and handed it back. You may still answer it with A, R or C if it has room.${record.note ? ` ${record.note}` : ""}`,
      Boolean(record.note));
  } else {
    say("state", `${where}: answer with A, R or C, or skip it with S.${record.note ? ` ${record.note}` : ""}`,
      Boolean(record.note));
  }
}

// The time on the item shown so far goes to its record (the grace period is not in it: the
// next item is on screen by then).
function leave() {
  if (at >= 0 && trail[at]) trail[at].spent += (performance.now() - shownAt) / 1000;
}

function noItem(words, state) {
  leave();
  current = null;
  at = -1;
  closeEditor();
  dropMedia();
  $("item").hidden = true;
  $("state").dataset.reviewState = state;
  delete $("state").dataset.item;
  say("state", words, state === "error");
}

// -- moving through items --------------------------------------------------------------------

// After a verdict or a skip: the next item of this visit not answered yet, else a new one.
async function advance() {
  const later = trail.findIndex((r, n) => n > at && (r.status === "open"));
  if (later >= 0) { show(later); return; }
  await take();
}

async function take() {
  const taken = await api("POST", "/v1/review/next", {});
  if (taken.none !== undefined) {
    noItem(`Nothing to review right now${taken.none ? ` (${taken.none})` : ""}.`, "empty");
    return;
  }
  if (!readable(taken)) throw new PageError("the coordinator sent a review item this page cannot read");
  say("role", "You hold the expert role.");
  trail.push({ item: taken, status: "open", verdict: null, value: null, index: null, spent: 0, note: "" });
  show(trail.length - 1);
}

// N: forward through this visit, then a new item; an item on screen not answered is answered
// or skipped first (in a shared queue an item held and left blocks it for others).
async function next() {
  if (at < 0) {
    const waiting = trail.findIndex((r) => r.status === "open");
    if (waiting >= 0) { show(waiting); return; }
    await take();
    return;
  }
  if (at < trail.length - 1) { show(at + 1); return; }
  if (at >= 0 && trail[at].status === "open") {
    say("state", "Answer this item (A, R or C) or skip it (S) first: it is held for you until then.", true);
    return;
  }
  await take();
}

// B: the item before, as it was left.
function previous() {
  const from = at >= 0 ? at : trail.length;
  if (from <= 0) {
    say("state", trail.length ? "This is the first item of this visit." : "No item yet: N takes one.");
    return;
  }
  show(from - 1);
}

// -- verdicts and their grace period ---------------------------------------------------------

async function answer(verdict, value = null) {
  const record = trail[at];
  if (!record || (record.status !== "open" && record.status !== "skipped")) {
    say("state", "You already answered this item: N for the next one, B for the one before.");
    return;
  }
  const item = record.item;
  const spent = Math.round((record.spent + (performance.now() - shownAt) / 1000) * 1000) / 1000;
  await flush();  // the verdict before goes now
  const body = verdictBody(item.id, decisionOf(item), item.insight, verdict, value, null, spent);
  // A sensitive library's verdict goes to the log sealed: commitments to the value and the
  // rationale; their openings go to the coordinator, kept for the library's readers.
  const sealed = item.sensitive === true ? await sealVerdict(body) : null;
  const entry = new TextDecoder().decode(sealed === null
    ? await signEntry(me, VERDICT_KIND, body)
    : await signEntry(me, SEALED_VERDICT_KIND, sealed.body));
  const request = sealed === null ? { entry } : { entry, openings: sealed.openings };
  const call = await prepare(me, "POST", `/v1/review/items/${item.id}/verdict`, request);
  leave();
  at = -1;
  record.before = record.status;
  record.status = "pending";
  record.verdict = verdict;
  record.value = value;
  record.spent = spent;
  record.note = "";
  hold({ record, call, verdict, deadline: performance.now() + GRACE_MS });
  await advance();
}

function hold(held) {
  pending = held;
  const banner = $("pending");
  banner.hidden = false;
  banner.dataset.item = held.record.item.id;
  $("pending-text").textContent = `Your ${held.verdict} on “${held.record.item.question}” is `
    + "signed and will be sent.";
  tick();
  held.timer = setInterval(tick, 200);
}

function tick() {
  if (pending === null) return;
  const left = Math.max(0, pending.deadline - performance.now());
  $("countdown").textContent = `${Math.ceil(left / 1000)} s`;
  $("grace").value = left;
  if (left <= 0) flush();
}

function release() {
  const held = pending;
  pending = null;
  if (held) clearInterval(held.timer);
  $("pending").hidden = true;
  delete $("pending").dataset.item;
  return held;
}

// Send the pending verdict now (the grace period is over, another verdict was given, or the
// expert asked); its receipt goes to the list, a refusal is said in words.
async function flush() {
  const held = release();
  if (held === null) return;
  const { record } = held;
  try {
    const receipt = await sendPrepared(held.call);
    record.status = "sent";
    record.index = receipt.verdict;
    const done = document.createElement("li");
    done.textContent = `${record.verdict} on “${record.item.question}” after `
      + `${record.spent.toFixed(1)} s: ledger entry ${receipt.verdict}`;
    done.dataset.verdict = record.verdict;
    done.dataset.index = String(receipt.verdict);
    $("done").append(done);
    say("sent", `Sent: your ${record.verdict} is ledger entry ${receipt.verdict}.`);
    refreshStanding();
  } catch (error) {
    record.status = record.before;
    record.note = `Your ${record.verdict} was not recorded: ${error.message || error}.`;
    say("sent", record.note, true);
  }
  if (trail[at] === record) show(at);
}

// U: the pending verdict is cancelled before it is sent; its item comes back (the item shown
// meanwhile stays in this visit, next after it).
function undo() {
  const held = release();
  if (held === null) {
    const last = [...trail].reverse().find((r) => r.status === "sent");
    say("sent", last ? `Nothing to undo: your last verdict is already in the ledger (entry ${last.index}).`
      : "Nothing to undo.");
    return;
  }
  const { record } = held;
  record.status = record.before;
  record.verdict = null;
  record.value = null;
  say("sent", `Undone: your ${held.verdict} was not sent; the item is back.`);
  show(trail.indexOf(record));
}

// S: handed back to the queue, so another expert may take it.
async function skip() {
  const record = trail[at];
  if (!record || record.status !== "open") return;
  await api("POST", `/v1/review/items/${record.item.id}/release`, {});
  record.status = "skipped";
  await advance();
}

// -- the correction editor -------------------------------------------------------------------

function openEditor() {
  const record = trail[at];
  if (!record || (record.status !== "open" && record.status !== "skipped")) return;
  const form = $("correction");
  form.hidden = false;
  editor = mountEditor($("editor"), record.item, {
    player,
    onSubmit: () => form.requestSubmit(),
    onCancel: closeEditor,
  });
  editor.field.focus();
  if (typeof editor.field.select === "function" && editor.kind !== "cut") editor.field.select();
}

function closeEditor() {
  const form = $("correction");
  form.hidden = true;
  editor = null;
  // the field goes with the editor: the page's keys work again (focus is on the page)
  if (form.contains(document.activeElement)) document.activeElement.blur();
  $("editor").replaceChildren();
  say("editor-error", "");
}

function submitCorrection() {
  if (editor === null) return;
  let value;
  try {
    value = editor.read();
  } catch (error) {
    if (!(error instanceof CorrectionError)) throw error;
    say("editor-error", error.message, true);
    editor.field.focus();
    return;
  }
  act(() => answer("correct", value));
}

// -- the expert's standing: reputation, credits, history -------------------------------------

let older = null;  // `before` of the next page of the history

function cell(row, value) {
  const td = document.createElement("td");
  td.textContent = value;
  row.append(td);
}

async function refreshStanding() {
  if (me === null) return;
  try {
    const [view, history] = await Promise.all([
      api("GET", `/v1/experts/${encodeURIComponent(me.did)}`),
      api("GET", `/v1/experts/${encodeURIComponent(me.did)}/verdicts?limit=20`),
    ]);
    const credits = view.credits || {};
    say("credits", `Credits: ${credits.available ?? 0} available (${credits.balance ?? 0} in the account, ${credits.held ?? 0} held).`);
    const body = $("reputation").tBodies[0];
    body.replaceChildren();
    const insights = Object.entries(view.reputation || {});
    for (const [insight, rep] of insights) {
      const row = document.createElement("tr");
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = insight;
      row.append(th);
      cell(row, Number(rep.score).toFixed(2));
      cell(row, String(rep.samples));
      cell(row, rep.quarantined ? "quarantined: gold items only" : "counted");
      body.append(row);
    }
    $("reputation").hidden = insights.length === 0;
    say("no-reputation", insights.length ? "" : "No reputation yet: it starts with your first answers on gold items and decided items.");
    $("history").replaceChildren();
    addHistory(history);
  } catch (error) {
    say("credits", error.message || String(error), true);
  }
}

function addHistory(page) {
  for (const v of page.verdicts || []) {
    const li = document.createElement("li");
    const when = new Date(v.time);
    const outcome = v.outcome ? `decided: ${v.outcome}` : "not decided yet";
    li.textContent = `${v.verdict}${v.value === null || v.value === undefined ? "" : ` (${text(v.value)})`}`
      + ` on “${v.question}” (${v.insight}) · ${Number.isNaN(when.getTime()) ? v.time : when.toLocaleString()}`
      + ` · ledger entry ${v.index} · ${outcome}`;
    li.dataset.index = String(v.index);
    $("history").append(li);
  }
  older = page.next ?? null;
  $("older").hidden = older === null;
  say("no-history", $("history").children.length ? "" : "No verdicts yet.");
}

async function showOlder() {
  if (older === null) return;
  addHistory(await api("GET", `/v1/experts/${encodeURIComponent(me.did)}/verdicts?limit=20&before=${older}`));
}

// -- keys ------------------------------------------------------------------------------------

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

function typing(target) {
  return target instanceof HTMLElement && (target.isContentEditable
    || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || me === null) return;
  if (typing(event.target)) return;  // the editor's own keys (correct.js)
  // While a cut is edited, , and . move the cut (the video follows), not only the video.
  if (editor !== null && editor.kind === "cut" && (event.key === "," || event.key === ".")) {
    event.preventDefault();
    editor.nudge(event.key === "," ? -1 : 1);
    return;
  }
  if (player && playerKey(player, event)) return;
  const key = event.key.toLowerCase();
  if (key === "escape" && editor !== null) { event.preventDefault(); closeEditor(); return; }
  if (busy) return;  // one action at a time: a key pressed while one is signed is dropped
  if (key === "u") { event.preventDefault(); act(async () => undo()); return; }
  if (key === "n") { event.preventDefault(); act(next); return; }
  if (key === "b") { event.preventDefault(); previous(); return; }
  if (current === null) return;
  if (key === "a") { event.preventDefault(); act(() => answer("accept")); }
  else if (key === "r") { event.preventDefault(); act(() => answer("reject")); }
  else if (key === "s") { event.preventDefault(); act(skip); }
  else if (key === "c") { event.preventDefault(); openEditor(); }
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
  $("send-now").addEventListener("click", () => flush());
  $("undo").addEventListener("click", () => act(async () => undo()));
  $("older").addEventListener("click", () => act(showOlder));
  $("cancel-correction").addEventListener("click", closeEditor);
  $("correction").noValidate = true;
  $("correction").addEventListener("submit", (event) => {
    event.preventDefault();
    submitCorrection();
  });
  $("grace").max = GRACE_MS;
  document.addEventListener("keydown", onKey);
  // Leaving the page sends the verdict in its grace period (signed in advance, so it needs
  // no await): the expert gave it; the grace period is for a slip seen at once.
  window.addEventListener("pagehide", () => {
    const held = release();
    if (held) sendPrepared(held.call, { keepalive: true }).catch(() => {});
  });
  const kept = await keptKey();
  if (kept) useKey(kept);
  else say("identity", "No key in this browser yet: create one or import an aiwork key file.");
}

start().catch((error) => say("identity", error.message || String(error), true));
