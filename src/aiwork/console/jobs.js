// The requester dashboard (/jobs): the requester's key (session.js), a video uploaded
// (upload.js: checked, hashed in pieces, sent with a progress bar, again on failure), a job
// submitted over it, its progress followed by polling the documented API (no reload), and a
// finished job's results and exports. Every request is signed with the key kept here.
import {
  PageError, api as signedApi, createKey, importKeyFile, keptKey, mediaGrant, send,
} from "./session.js";
import { checkVideo, digestFile, held, uploadBlob } from "./upload.js";
import { mountLibraries } from "./libraries.js";
import { mountPlayer, playerKey } from "./player.js";
import { momentOf, mountSearch } from "./search.js";
import { SignError } from "./sign.js";
import { VerifyError } from "./verify.js";
import { durationOf, lanesFromResults, mountTimeline } from "./timeline.js";

const $ = (id) => document.getElementById(id);
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const POLL_MS = 1500;
const FEW_OPEN = 5;                // more jobs listed than this: one list request per poll
const LISTED = 100;                // jobs shown (the newest)
const NAMES = "aiwork.jobs.names";  // asset digest -> the file name it was uploaded from
const SHOWN_ITEMS = 200;           // items listed per insight (the JSON export holds them all)

// The exports of a finished job: GET /v1/jobs/{id}/export/{name}, and its audit bundle.
const EXPORTS = [
  ["metadata.json", "JSON"], ["metadata.jsonld", "JSON-LD"], ["captions.vtt", "WebVTT captions"],
  ["captions.srt", "SRT captions"], ["captions.ttml", "TTML captions"],
  ["chapters.vtt", "Chapters (WebVTT)"],
];

let me = null;
let libraries = null;        // the libraries section
const jobs = new Map();      // job id -> its last progress
let shown = null;            // the job whose details are open
let pending = null;          // an upload that failed: {file, digest, library}, for "Try again"
let polling = null;
let player = null;           // the shown job's player and timeline
let timeline = null;

function el(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  return node;
}

function say(id, text, error = false) {
  $(id).textContent = text;
  $(id).classList.toggle("error", error);
}

// An error in words a person reads: this page's own, or the signer's and the verifier's
// (a key file that is not one); anything else is a fault of the page, never shown raw.
function words(error) {
  return error instanceof PageError || error instanceof SignError || error instanceof VerifyError
    ? error.message : "something went wrong in this page; reload it and try again";
}

function api(method, path, body) {
  return signedApi(me, method, path, body);
}

function names() {
  try { return JSON.parse(localStorage.getItem(NAMES) || "{}") || {}; } catch { return {}; }
}

function remember(digest, name) {
  const all = names();
  delete all[digest];
  all[digest] = String(name).slice(0, 200);
  const kept = Object.keys(all);
  for (const old of kept.slice(0, Math.max(0, kept.length - 500))) delete all[old];  // the newest 500
  try { localStorage.setItem(NAMES, JSON.stringify(all)); } catch { /* not kept: no harm */ }
}

function short(digest) {
  return DIGEST.test(digest) ? `${digest.slice(7, 19)}…` : String(digest);
}

// -- the key ---------------------------------------------------------------------------------

async function useKey(id) {
  me = id;
  say("identity", `Your identity: ${id.did}`);
  $("register").disabled = false;
  $("video").disabled = false;
  $("library-create").disabled = false;
  say("video-state", "Choose a video file.");
  libraries.use(id);
  $("search-purpose-field").hidden = false;
  await showRole();
  await refreshJobs();
}

async function showRole() {
  const identity = await api("GET", `/v1/identities/${component(me.did)}`);
  const status = identity.roles && identity.roles.requester;
  let credits = "";
  try {
    const account = await api("GET", `/v1/credits/${component(me.did)}`);
    credits = ` You have ${account.available} credits available.`;
  } catch { credits = ""; }
  if (status === "granted") say("role", `You hold the requester role.${credits}`);
  else if (status === "pending") say("role", "Your request for the requester role waits for an admin's approval.");
  else say("role", "You do not hold the requester role yet: request it to submit jobs.");
  updateSubmit();
}

// -- analyzers -------------------------------------------------------------------------------

async function loadAnalyzers() {
  const box = $("analyzers");
  try {
    const offered = await signedApi(null, "GET", "/v1/analyzers");
    if (!Array.isArray(offered)) throw new PageError("the coordinator's list of analyzers is not a list");
    box.querySelectorAll("p").forEach((node) => node.remove());
    // Each analyzer's box is made once (technical and shots ticked) and its note updated in
    // place, so a choice and the focus survive a refresh.
    for (const analyzer of offered) {
      if (typeof analyzer.name !== "string") continue;
      let label = box.querySelector(`label[data-analyzer="${CSS.escape(analyzer.name)}"]`);
      if (label === null) {
        label = el("label", null, { class: "check", "data-analyzer": analyzer.name });
        const tick = el("input", null, { type: "checkbox", name: "analyzer", value: analyzer.name });
        tick.checked = analyzer.name === "technical" || analyzer.name === "shots";
        label.append(tick, ` ${analyzer.name}`, el("span", null, { class: "hint" }));
        box.append(label);
      }
      const notes = [];
      if (Array.isArray(analyzer.reads) && analyzer.reads.length) notes.push(`also runs ${analyzer.reads.join(", ")}`);
      if (analyzer.workers === 0) notes.push("no worker offers it now");
      else if (Number.isSafeInteger(analyzer.workers)) notes.push(`${analyzer.workers} worker${analyzer.workers === 1 ? "" : "s"}`);
      label.querySelector(".hint").textContent = notes.length ? ` (${notes.join("; ")})` : "";
    }
  } catch (error) {
    box.append(el("p", `The analyzers could not be listed: ${words(error)}`, { class: "error" }));
  }
}

function chosenAnalyzers() {
  return [...document.querySelectorAll("input[name=analyzer]:checked")].map((box) => box.value);
}

function updateSubmit() {
  $("submit").disabled = me === null || !$("video").files.length || busyUpload;
}

// -- upload and submit -----------------------------------------------------------------------

let busyUpload = false;

function progress(label, done, total) {
  $("transfer").hidden = false;
  const bar = $("upload-progress");
  const percent = total > 0 ? Math.floor((done / total) * 100) : 100;
  bar.value = percent;
  bar.setAttribute("aria-valuetext", `${label}: ${percent}%`);
  $("upload-label").textContent = `${label}: ${percent}%`;
}

function uploadState(state, text, error = false) {
  $("submit-state").dataset.uploadState = state;
  say("submit-state", text, error);
}

function sizeText(bytes) {
  const units = ["bytes", "KiB", "MiB", "GiB"];
  let n = bytes;
  let unit = 0;
  while (n >= 1024 && unit < units.length - 1) { n /= 1024; unit += 1; }
  return unit === 0 ? `${n} bytes` : `${n.toFixed(1)} ${units[unit]}`;
}

async function checkChosen() {
  const file = $("video").files[0];
  pending = null;
  $("retry").hidden = true;
  updateSubmit();
  if (!file) return null;
  try {
    const kind = await checkVideo(file);
    say("video-state", `${file.name}: ${kind} video, ${sizeText(file.size)}.`);
    return file;
  } catch (error) {
    say("video-state", words(error), true);
    uploadState("refused", words(error), true);
    return null;
  }
}

// Upload (unless the coordinator already holds it) and submit.
async function uploadAndSubmit(job) {
  const { file, library } = job;
  if (!job.digest) {
    uploadState("hashing", `Reading ${file.name} to compute its digest…`);
    job.digest = await digestFile(file, (done, total) => progress("Computing the digest", done, total));
  }
  const digest = job.digest;
  if (job.uploaded) {
    uploadState("uploaded", `${file.name} is uploaded already: submitting the job again.`);
  } else if (!library && await held(me, digest)) {
    progress("Upload", 1, 1);
    uploadState("uploaded", `The coordinator already holds ${file.name}: nothing to upload.`);
  } else {
    uploadState("uploading", `Uploading ${file.name}…`);
    await uploadBlob(me, file, digest, library, (sent, total) => progress("Upload", sent, total));
    uploadState("uploaded", `${file.name} is uploaded.`);
  }
  job.uploaded = true;
  remember(digest, file.name);
  const analyzers = chosenAnalyzers();
  if (!analyzers.length) throw new PageError("choose at least one analyzer");
  let made;
  try {
    made = await api("POST", "/v1/jobs", {
      asset: digest, analyzers, redundancy: job.redundancy, library: library || null,
    });
  } catch (error) {
    // The browser sent the signed request again by itself (a connection that failed after
    // the coordinator read it): the list of jobs says whether the first one went through.
    if (!(error instanceof PageError && /\(401\): request replayed/.test(error.message))) throw error;
    await refreshJobs();
    throw new PageError("the connection failed while the job was sent: your jobs below show whether it was submitted");
  }
  jobs.set(made.id, made);
  loadAnalyzers();  // how many workers run each, now
  if (library) libraries.refresh(library).catch(() => {});  // its count of jobs
  uploadState("submitted", `Job ${made.id} is submitted: ${made.analyzers.join(", ")}.`);
  renderJobs();
  poll();
}

// The redundancy asked for, or null (said, and the field focused) when it is not 1 to 9.
function formRedundancy() {
  const redundancy = Number($("redundancy").value);
  if (Number.isInteger(redundancy) && redundancy >= 1 && redundancy <= 9) return redundancy;
  uploadState("refused", "Redundancy is a whole number from 1 to 9.", true);
  $("redundancy").focus();
  return null;
}

async function submit(event) {
  event.preventDefault();
  if (busyUpload || me === null) return;
  const redundancy = formRedundancy();
  if (redundancy === null) return;
  if (!chosenAnalyzers().length) {
    uploadState("refused", "Choose at least one analyzer.", true);
    return;
  }
  uploadState("checking", "Checking the file…");
  const file = await checkChosen();
  if (!file) return;
  await run({ file, digest: null, library: $("library").value, redundancy });
}

async function run(job) {
  busyUpload = true;
  updateSubmit();
  $("retry").hidden = true;
  try {
    await uploadAndSubmit(job);
    pending = null;
  } catch (error) {
    pending = job;
    if (!job.uploaded && !$("transfer").hidden) {  // the bar shows what was sent, not what was kept
      $("upload-label").textContent = "Upload: not completed";
      $("upload-progress").setAttribute("aria-valuetext", "Upload: not completed");
    }
    $("retry").textContent = job.uploaded ? "Submit the job again" : "Try the upload again";
    $("retry").hidden = false;
    uploadState("failed", `${words(error)}`, true);
  } finally {
    busyUpload = false;
    updateSubmit();
  }
}

// -- jobs, followed live ---------------------------------------------------------------------

const STATE_WORDS = { open: "running", done: "done", failed: "failed", cancelled: "cancelled" };

function replicaCounts(job) {
  const r = job.replicas || {};
  const total = Object.values(r).reduce((a, b) => a + (Number(b) || 0), 0);
  const finished = (r.submitted || 0) + (r.accepted || 0) + (r.rejected || 0);
  return { total, finished, leased: r.leased || 0 };
}

function jobLabel(job) {
  return names()[job.asset] || `video ${short(job.asset)}`;
}

// The list of jobs, updated in place: a job's row is made once and its text, bar and button
// changed as it progresses, so the focus (on its button) survives every poll.
function renderJobs() {
  const list = $("jobs");
  const every = [...jobs.values()].reverse();
  const all = every.slice(0, LISTED);
  $("jobs-count").textContent = !every.length ? "No jobs yet: upload a video above."
    : every.length > LISTED ? `${every.length} jobs; the newest ${LISTED} are shown.`
      : `${every.length} job(s), newest first.`;

  all.forEach((job, position) => {
    let item = list.querySelector(`li[data-job="${job.id}"]`);
    if (item === null) {
      item = el("li", null, { "data-job": job.id });
      const head = el("div", null, { class: "job-head" });
      head.append(el("strong", null, { class: "job-name" }), el("span", null, { class: "badge" }));
      const open = el("button", null, { type: "button", class: "secondary" });
      open.addEventListener("click", () => act(async () => {
        say("jobs-state", "");
        await showJob(job.id);
      }));
      item.append(head, el("progress"), el("p", null, { class: "hint" }), open);
    }
    if (list.children[position] !== item) list.insertBefore(item, list.children[position] ?? null);
    const { total, finished, leased } = replicaCounts(job);
    item.className = `job ${job.state}`;
    item.dataset.state = job.state;
    item.querySelector(".job-name").textContent = jobLabel(job);
    const badge = item.querySelector(".badge");
    badge.className = `badge ${job.state}`;
    badge.textContent = STATE_WORDS[job.state] || job.state;
    const bar = item.querySelector("progress");
    bar.max = Math.max(total, 1);
    bar.value = finished;
    bar.setAttribute("aria-label", `${jobLabel(job)}: ${finished} of ${total} analyses finished`);
    item.querySelector("p").textContent = `${finished} of ${total} analyses finished${leased ? `, ${leased} running` : ""} · `
      + `${job.analyzers.join(", ")} · redundancy ${job.redundancy}`
      + (job.library ? ` · library ${job.library}` : "");
    item.querySelector("button").textContent = job.state === "done" ? "Results and downloads" : "Details";
  });
  while (list.children.length > all.length) list.lastElementChild.remove();  // older ones
}

async function refreshJobs() {
  if (me === null) return;
  const listed = await api("GET", `/v1/jobs?requester=${component(me.did)}`);
  if (!Array.isArray(listed)) throw new PageError("the coordinator's list of jobs is not a list");
  for (const job of listed) if (job && typeof job.id === "string") jobs.set(job.id, job);
  renderJobs();
  poll();
}

// Poll the open jobs until none is left open; a finished job's details refresh once.
// Poll the open jobs until none is left open: each one's progress while the page lists few
// jobs, the requester's whole list in one request when it lists many; a finished job is announced and,
// when its details are open, shown again once.
function poll() {
  if (polling !== null) return;
  const open = () => [...jobs.values()].filter((job) => job.state === "open");
  if (!open().length) return;
  polling = setTimeout(async () => {
    polling = null;
    const before = open();
    try {
      // Decided by the jobs this page lists, not by how many are still open, so the way they
      // are followed does not change as they end.
      if (jobs.size > FEW_OPEN) {
        const listed = await api("GET", `/v1/jobs?requester=${component(me.did)}`);
        if (!Array.isArray(listed)) throw new PageError("the coordinator's list of jobs is not a list");
        for (const job of listed) if (job && typeof job.id === "string") jobs.set(job.id, job);
      } else {
        for (const job of before) jobs.set(job.id, await api("GET", `/v1/jobs/${component(job.id)}`));
      }
    } catch (error) {
      say("jobs-state", `Your jobs could not be followed: ${words(error)}`, true);
      return;
    }
    const ended = before.map((job) => jobs.get(job.id)).filter((job) => job && job.state !== "open");
    if (ended.length) {
      say("jobs-state", ended.map((job) => `${jobLabel(job)}: the job is ${STATE_WORDS[job.state] || job.state}.`).join(" "));
      loadAnalyzers();  // which workers run what, now
      if (ended.some((job) => job.id === shown)) await act(() => showJob(shown, false));
    }
    renderJobs();
    poll();
  }, POLL_MS);
}

// -- one job: player, items, downloads -------------------------------------------------------

// A query value percent-encoded as the browser sends it (it escapes ' in a query, which
// encodeURIComponent leaves): the signature covers the target exactly as sent.
function component(value) {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function purposeText() {
  return $("purpose").value.trim() || "requester dashboard";
}

function purpose() {
  return `purpose=${component(purposeText())}`;
}

function readPath(job, path) {
  return job.sensitive ? `${path}?${purpose()}` : path;
}

function fact(list, name, value) {
  list.append(el("dt", name));
  const dd = el("dd");
  if (value instanceof Node) dd.append(value); else dd.textContent = String(value);
  list.append(dd);
}

function explorerLink(index, text) {
  return el("a", text, { href: `/explorer/entry/${Number(index)}` });
}

function seconds(value) {
  return typeof value === "number" && Number.isFinite(value) ? `${value.toFixed(2)} s` : null;
}

// An item in a few words: its time range and what it says.
function describe(item) {
  if (item === null || typeof item !== "object") return String(item);
  if (typeof item.duration === "number" && typeof item.width === "number") {  // technical
    return [item.video_codec, `${item.width}×${item.height}`, `${item.duration} s`,
      item.frame_rate && `${item.frame_rate} fps`, item.audio_codec && `sound ${item.audio_codec}`]
      .filter(Boolean).join(", ");
  }
  const spans = Array.isArray(item.instances) ? item.instances.filter((i) => i && typeof i === "object") : [];
  const start = seconds(spans.length ? spans[0].start : item.start ?? item.time ?? item.at);
  const end = seconds(spans.length ? spans[spans.length - 1].end : item.end);
  const when = start && end ? `${start} – ${end}` : start || "";
  const said = ["text", "label", "tag", "title", "name", "language", "event", "category", "value"]
    .map((key) => item[key]).find((v) => typeof v === "string" || typeof v === "number");
  const rest = said !== undefined ? String(said)
    : JSON.stringify(Object.fromEntries(Object.entries(item).filter(([k]) => k !== "decision"))).slice(0, 160);
  return when ? `${when}: ${rest}` : rest;
}

function itemsOf(output) {
  if (Array.isArray(output)) return output;
  if (output && typeof output === "object" && Array.isArray(output.segments)) return output.segments;
  return output && typeof output === "object" ? [output] : [];
}

function showInsights(results, review) {
  const box = $("insights");
  box.replaceChildren();
  const verified = (review && review.human_verified) || {};
  const insights = Object.entries(results).filter(([name]) => name !== "stale");
  if (!insights.length) box.append(el("p", "No results yet: they appear as the workers finish."));
  for (const [insight, output] of insights) {
    const items = itemsOf(output);
    const decided = verified[insight] || {};
    const humans = Object.keys(decided).length;
    const section = el("details", null, { class: "insight", "data-insight": insight });
    if (insights.length <= 3) section.open = true;
    section.append(el("summary", `${insight}: ${items.length} item(s)${humans ? `, ${humans} human-verified` : ""}`));
    const list = el("ol", null, { class: "items" });
    items.slice(0, SHOWN_ITEMS).forEach((item, n) => {
      // An item's id is its own "id" when it has one, else its place (as the review names it).
      const human = decided[String(item && Number.isInteger(item.id) ? item.id : n)];
      const row = el("li", null, { class: human ? "human" : "ai" });
      if (human) {
        row.append(el("span", "human-verified", { class: "tag human" }), ` ${describe(item)} `,
          explorerLink(human.consensus, `${human.outcome} by experts · consensus ${human.consensus}`));
      } else {
        row.append(el("span", "AI", { class: "tag ai" }), ` ${describe(item)} `);
        if (item && Number.isSafeInteger(item.decision)) row.append(explorerLink(item.decision, `decision ${item.decision}`));
      }
      list.append(row);
    });
    section.append(list);
    if (items.length > SHOWN_ITEMS) section.append(el("p", `…and ${items.length - SHOWN_ITEMS} more: download the JSON for all of them.`, { class: "hint" }));
    box.append(section);
  }
  if (Array.isArray(results.stale) && results.stale.length) {
    box.append(el("p", `Outdated: ${results.stale.map((s) => s.insight).join(", ")} (computed from a value experts corrected since).`, { class: "hint" }));
  }
}

function dropPlayer() {
  player?.destroy();
  timeline?.destroy();
  player = null;
  timeline = null;
  $("player").replaceChildren();
  $("timeline").replaceChildren();
}

// The video in the console's player (the blob route, seeked with HTTP ranges) over one lane per
// insight of its results; pressing a lane item seeks. A sensitive library's video plays from a
// media grant (the <video> element cannot sign its requests): asked, with the stated purpose,
// when its results are read (the coordinator logs both), and again when it runs out.
let granting = null;  // the asset whose grant is being asked for

async function showPlayer(job, results, review) {
  const found = results && typeof results === "object" ? results : {};
  const lanes = lanesFromResults(found, review);
  const media = found.media && typeof found.media === "object" ? found.media : {};
  const technical = found.results?.technical ?? {};
  const duration = Number(media.duration ?? technical.duration) || durationOf(found, lanes) || null;
  const fps = media.frame_rate ?? technical.frame_rate ?? null;
  if (job.sensitive) {  // its keyframes are drawn from the video, not fetched
    for (const lane of lanes) for (const one of lane.items) delete one.keyframe;
  }
  const missing = player === null || $("player").dataset.asset !== job.asset;
  if (missing && granting !== job.asset && !(job.sensitive && results === null)) {
    dropPlayer();
    $("player").dataset.asset = job.asset;
    let src = `/v1/blobs/${job.asset}`;
    let renew = null;
    if (job.sensitive) {
      const why = purposeText();
      const grant = async () => (await mediaGrant(me, job.asset, job.id, why)).url;
      renew = async () => {
        const url = await grant();
        timeline?.setFrames(url);  // the thumbnails are drawn from the video too
        return url;
      };
      granting = job.asset;
      try {
        src = await grant();
      } catch (error) {
        $("player").append(el("p", `The video cannot be played: ${error.message}`, { class: "error" }));
        return;
      } finally {
        granting = null;
      }
      if ($("player").dataset.asset !== job.asset || player !== null) return;  // another job came
    }
    player = mountPlayer($("player"), { src, fps, duration, renew,
      label: `the video ${jobLabel(job)}` });
    const mounted = player;
    player.video.addEventListener("loadedmetadata", () => timeline?.setDuration(mounted.video.duration));
    player.onTime((t) => timeline?.setTime(t));
  }
  if (lanes.some((lane) => lane.items.length)) {
    if (timeline === null) {
      timeline = mountTimeline($("timeline"), { duration, lanes, frames: job.sensitive ? player?.video.src ?? null : null,
        onSeek: (t) => player?.seek(t) });
    } else {
      timeline.setLanes(lanes);
    }
  }
}

async function download(job, name, label) {
  const path = name === "audit" ? `/v1/jobs/${job.id}/audit` : `/v1/jobs/${job.id}/export/${name}`;
  say("download-state", `Downloading ${label}…`);
  const answer = await send(me, "GET", readPath(job, path));
  const blob = await answer.blob();
  const url = URL.createObjectURL(blob);
  const base = (names()[job.asset] || job.id).replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9._-]+/g, "_");
  const link = el("a", null, { href: url, download: name === "audit" ? `${base}.audit.json` : `${base}.${name}` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  say("download-state", `${label} downloaded (${sizeText(blob.size)}).`);
}

function showExports(job) {
  const list = $("exports");
  list.replaceChildren();
  if (job.state !== "done") {
    list.append(el("li", "The downloads are ready once the job is done.", { class: "hint" }));
    return;
  }
  for (const [name, label] of [...EXPORTS, ["audit", "Audit bundle (for aiwork-verify)"]]) {
    const button = el("button", label, { type: "button", class: "secondary", "data-export": name });
    button.addEventListener("click", () => act(() => download(job, name, label), "download-state"));
    const item = el("li");
    item.append(button);
    list.append(item);
  }
}

async function showJob(id, focus = true) {
  shown = id;
  const progressNow = await api("GET", `/v1/jobs/${component(id)}`);
  if (jobs.has(id)) jobs.set(id, progressNow);  // a job found by a search is not listed as yours
  const job = { ...progressNow, sensitive: false };
  if (job.library) {
    try {
      job.sensitive = Boolean((await api("GET", `/v1/libraries/${component(job.library)}`)).sensitive);
    } catch { job.sensitive = true; }
  }
  $("purpose-field").hidden = !job.sensitive;
  const section = $("job");
  section.hidden = false;
  section.dataset.job = id;
  section.dataset.state = job.state;
  $("job-heading").textContent = `${jobLabel(job)} (${STATE_WORDS[job.state] || job.state})`;
  const facts = $("job-facts");
  facts.replaceChildren();
  fact(facts, "Job", job.id);
  fact(facts, "Video", job.asset);
  fact(facts, "Analyzers", job.analyzers.join(", "));
  fact(facts, "Library", job.library ? `${job.library}${job.sensitive ? " (sensitive)" : ""}` : "none (public)");
  showExports(job);
  if (job.sensitive && !focus) {
    $("insights").replaceChildren(el("p", "Open the job again to read its results (each read of a sensitive library is logged)."));
    await showPlayer(job, null, null);
  } else {
    const [results, review] = await Promise.all([
      api("GET", readPath(job, `/v1/jobs/${id}/results`)),
      api("GET", readPath(job, `/v1/jobs/${id}/review`)).catch(() => null),
    ]);
    await showPlayer(job, results, review);
    showInsights(results.results || {}, review);
  }
  renderJobs();
  if (focus) $("job-heading").focus();
}

// A search's hit: its job shown, the player where its match is heard (once the video's header
// is read, when it is not yet).
async function openHit(hit) {
  say("search-state", "Opening the video…");
  // A sensitive library's job is read for the reason its search was made.
  const why = $("search-purpose").value.trim();
  if (me !== null && why) $("purpose").value = why;
  await showJob(hit.job);
  say("search-state", "");
  const at = momentOf(hit);
  if (player === null || at === null) return;
  const shownPlayer = player;
  shownPlayer.seek(at);
  if (shownPlayer.video.readyState < 1) {
    shownPlayer.video.addEventListener("loadedmetadata", () => shownPlayer.seek(at), { once: true });
  }
}

// -- one action at a time, errors in words ---------------------------------------------------

async function act(work, where = "jobs-state") {
  try {
    await work();
  } catch (error) {
    say(where, words(error), true);
  }
}

async function start() {
  libraries = mountLibraries({ api: (m, p, b) => api(m, p, b), say, words, el,
    onChange: (known) => {
      const select = $("library");
      const chosen = select.value;
      select.replaceChildren(el("option", "No library (public)", { value: "" }));
      for (const library of known) {
        select.append(el("option", `${library.name}${library.sensitive ? " (sensitive)" : ""}`, { value: library.id }));
      }
      select.value = known.some((l) => l.id === chosen) ? chosen : "";
    } });
  mountSearch({ form: $("search-form"), list: $("search-hits"), status: $("search-state"),
    api: (method, path) => api(method, path), signed: () => me !== null,
    name: (digest, given) => names()[digest] || (given && given !== digest ? given : `video ${short(digest)}`),
    open: (hit) => act(() => openHit(hit), "search-state"), el, words, component });
  $("create").addEventListener("click", () => act(async () => useKey(await createKey()), "identity"));
  $("keyfile").addEventListener("change", () => act(async () => useKey(await importKeyFile($("keyfile").files[0])), "identity"));
  $("register").addEventListener("click", () => act(async () => {
    const status = await api("POST", "/v1/identities", { role: "requester" });
    say("role", `The requester role is ${status.status} for you.`);
    await showRole();
  }, "role"));
  $("video").addEventListener("change", () => act(checkChosen, "video-state"));
  // The player's keys, while the focus is in the job's section (elsewhere Space scrolls the page).
  $("job").addEventListener("keydown", (event) => { if (player) playerKey(player, event); });
  $("job-form").addEventListener("submit", (event) => act(() => submit(event), "submit-state"));
  $("retry").addEventListener("click", () => {
    if (!pending || busyUpload) return;
    const redundancy = formRedundancy();  // the analyzers and redundancy chosen now
    if (redundancy !== null) act(() => run({ ...pending, redundancy }), "submit-state");
  });
  await loadAnalyzers();
  const kept = await keptKey();
  if (kept) await useKey(kept);
  else say("identity", "No key in this browser yet: create one or import an aiwork key file.");
}

start().catch((error) => say("identity", words(error), true));
