// The console's timeline: one lane per insight of a job's results (shots with their
// keyframes, chapters, transcript segments, on-screen text, faces, tags, safety, audio events,
// keywords), each item a button that seeks the player. A one-hour video with thousands of
// items stays light: a lane draws only what lies in the visible window, items closer than a
// few pixels are merged into one button (pressing it zooms in), and overlapping items go on
// at most three rows. Every position is a percentage set through the CSSOM (no style
// attribute, so the console's Content-Security-Policy holds).

import { clock } from "./player.js";

// The lanes, in the order shown, with what each item says.
const LANES = [
  ["shots", "Shots", (it) => `shot ${Number(it.id) + 1}${it.transition ? ` (${it.transition.kind})` : ""}`],
  ["chapters", "Chapters", (it) => it.title],
  ["transcript", "Transcript", (it) => it.text],
  ["ocr", "On-screen text", (it) => it.text],
  ["faces", "Faces", (it) => `${it.max_count || 1} face${it.max_count === 1 ? "" : "s"}`],
  ["tags", "Tags", (it) => it.label],
  ["safety", "Safety", (it) => `${it.category}: ${it.level}`],
  ["audio_events", "Audio events", (it) => it.label],
  ["keywords", "Keywords", (it) => it.text],
];

const STATES = { accepted: "verified", verified: "verified", corrected: "corrected",
  rejected: "rejected" };
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const MIN_PX = 6;       // narrower items merge with their neighbours
const ROWS = 3;         // overlapping items stack on at most this many rows per lane
const MIN_SPAN = 2;     // the deepest zoom shows this many seconds
const GROUP_PX = 24;    // merged groups stop growing at this width

function finite(x) {
  const n = Number(x);
  return Number.isFinite(n) ? n : null;
}

function spans(item) {
  const instances = Array.isArray(item.instances) ? item.instances : [];
  const out = instances.map((i) => [finite(i?.start), finite(i?.end)]);
  if (out.length === 0 && finite(item.start) !== null) out.push([finite(item.start), finite(item.end)]);
  return out.filter(([a, b]) => a !== null && a >= 0)
    .map(([a, b]) => [a, b !== null && b >= a ? b : a]);
}

// The lanes of a job's results: ``results`` is what GET /v1/jobs/{id}/results answers (or
// its ``results`` member alone); ``review``, when given, is what GET /v1/jobs/{id}/review
// answers, whose ``human_verified`` tells which items a human consensus decided (the results
// alone carry the outcome applied, not who decided). Each item: { key, start, end, label,
// decision, state, keyframe? }; the key is "insight:id" (every instance of one item shares
// it); state is "ai", or "verified", "corrected" or "rejected" when experts decided.
export function lanesFromResults(results, review = null) {
  const doc = results && typeof results === "object" && results.results
    && typeof results.results === "object" ? results.results : results || {};
  const verified = review && typeof review === "object" && review.human_verified
    && typeof review.human_verified === "object" ? review.human_verified : {};
  const lanes = [];
  for (const [insight, label, describe] of LANES) {
    let items = doc[insight];
    if (insight === "transcript") items = items && Array.isArray(items.segments) ? items.segments : null;
    if (!Array.isArray(items)) continue;
    const decided = verified[insight] && typeof verified[insight] === "object" ? verified[insight] : {};
    const out = [];
    items.forEach((item, n) => {
      if (!item || typeof item !== "object") return;
      const id = Number.isInteger(item.id) ? item.id : n;
      const outcome = decided[String(id)]?.outcome;
      const keyframe = insight === "shots" && DIGEST.test(item.keyframe?.digest ?? "")
        ? item.keyframe.digest : null;
      let text;
      try { text = String(describe(item) ?? ""); } catch { text = ""; }
      for (const [start, end] of spans(item)) {
        out.push({ key: `${insight}:${id}`, id, start, end, label: text,
          decision: Number.isInteger(item.decision) ? item.decision : null,
          state: STATES[outcome] ?? "ai", ...(keyframe ? { keyframe } : {}) });
      }
    });
    out.sort((a, b) => a.start - b.start || a.end - b.end);
    lanes.push({ insight, label, items: out });
  }
  return lanes;
}

// The video's length as the results know it: technical.duration, else the last item's end.
export function durationOf(results, lanes = []) {
  const doc = results?.results ?? results ?? {};
  const told = finite(doc.technical?.duration);
  if (told !== null && told > 0) return told;
  return lanes.reduce((m, lane) => lane.items.reduce((x, it) => Math.max(x, it.end), m), 0);
}

// The key of the lane item a review item is about: by its item id when the item gives one,
// else the item of its insight whose range is nearest (a shot boundary is the start of the
// shot that begins at the boundary).
export function keyFor(lanes, { insight, id = null, start = null, end = null, value = null } = {}) {
  const lane = lanes.find((l) => l.insight === insight);
  if (!lane || lane.items.length === 0) return null;
  if (Number.isInteger(id)) {
    const found = lane.items.find((it) => it.id === id);
    if (found) return found.key;
  }
  const a = insight === "shots" && finite(value) !== null ? finite(value) : finite(start);
  if (a === null) return null;
  const b = insight === "shots" ? a : finite(end) ?? a;
  let best = null;
  let distance = Infinity;
  for (const it of lane.items) {
    const d = insight === "shots" ? Math.abs(it.start - a)
      : Math.abs(it.start - a) + Math.abs(it.end - b);
    if (d < distance) { distance = d; best = it; }
  }
  return best ? best.key : null;
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

const seconds = (t) => (Math.round(t * 10) / 10).toFixed(1);
const short = (text, n = 160) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

function describeGroup(lane, group) {
  const [first] = group.items;
  if (group.items.length === 1) {
    const state = first.state === "ai" ? "" : ` (${first.state} by experts)`;
    return `${lane.insight} ${seconds(first.start)}–${seconds(first.end)} s: ${short(first.label)}${state}`;
  }
  return `${lane.insight}: ${group.items.length} items ${seconds(group.start)}–${seconds(group.end)} s`
    + " (press to zoom in)";
}

// Thumbnails drawn in the browser from the video itself, for shots whose keyframe is not a blob
// this page may read: a hidden, muted <video> on the same file (fetched with ranges, like the
// player's) is moved to each shot shown, one at a time, and its frame drawn into a small
// canvas kept per shot. Nothing is decoded on the server.
function frameGrabber(src) {
  let video = null;
  const canvases = new Map();  // key -> canvas
  const queue = [];
  let running = false;

  function open() {
    if (video) return video;
    video = document.createElement("video");
    video.muted = true;
    video.preload = "auto";
    video.playsInline = true;
    video.src = src;
    return video;
  }

  function once(target, name, ms) {
    return new Promise((done) => {
      const timer = setTimeout(() => done(false), ms);
      target.addEventListener(name, () => { clearTimeout(timer); done(true); }, { once: true });
    });
  }

  async function draw(canvas, t) {
    const v = open();
    if (v.readyState < 1 && !(await once(v, "loadedmetadata", 10000))) return false;
    const at = Math.min(Math.max(0, t), Math.max(0, v.duration - 0.05));
    const seeked = once(v, "seeked", 10000);
    v.currentTime = at;
    if (!(await seeked)) return false;
    const ratio = v.videoWidth && v.videoHeight ? v.videoHeight / v.videoWidth : 9 / 16;
    canvas.height = Math.round(canvas.width * ratio);
    canvas.getContext("2d").drawImage(v, 0, 0, canvas.width, canvas.height);
    return true;
  }

  async function run() {
    if (running) return;
    running = true;
    while (queue.length) {
      const [canvas, t] = queue.shift();
      if (!canvas.isConnected) { canvas.dataset.state = ""; continue; }  // no longer shown
      canvas.dataset.state = (await draw(canvas, t).catch(() => false)) ? "drawn" : "failed";
    }
    running = false;
  }

  function canvasFor(item) {
    let canvas = canvases.get(item.key);
    if (!canvas) {
      canvas = document.createElement("canvas");
      canvas.width = 96;
      canvas.height = 54;
      canvas.className = "thumb";
      canvas.setAttribute("aria-hidden", "true");
      canvas.dataset.state = "";
      canvases.set(item.key, canvas);
    }
    if (canvas.dataset.state === "") {
      canvas.dataset.state = "queued";
      // a little into the shot: its first frame may still be the cut's
      queue.push([canvas, item.start + Math.min(0.5, (item.end - item.start) / 2)]);
      queueMicrotask(run);
    }
    return canvas;
  }

  function close() {
    queue.length = 0;
    if (video) { video.removeAttribute("src"); video.load(); }
  }

  // Another URL of the same file (a media grant asked again): the shots that failed are drawn
  // again when next shown.
  function setSource(url) {
    src = url;
    if (video) video.src = url;
    for (const canvas of canvases.values()) {
      if (canvas.dataset.state === "failed") canvas.dataset.state = "";
    }
  }

  return { canvasFor, close, setSource };
}

// Mount a timeline in ``container`` (emptied first): ``duration`` in seconds, ``lanes`` as
// lanesFromResults makes them, ``onSeek(t, item)`` called when an item is pressed (``item``:
// the lane item, or null for a merged group, which also zooms in on its range); ``frames``:
// the video's URL, to draw the thumbnails of shots that have no keyframe blob (or whose
// keyframe cannot be read here) from the video itself.
export function mountTimeline(container, { duration, lanes = [], onSeek = () => {},
                                           frames = null } = {}) {
  let total = Math.max(0, Number(duration) || 0);
  let all = [];
  let view = [0, total];       // the visible window, seconds
  let now = 0;
  let current = null;          // the highlighted key
  let frame = 0;               // the pending requestAnimationFrame
  const heads = [];
  const bands = [];
  let range = null;            // { start, end } shown as a band across the lanes
  const grabber = typeof frames === "string" && frames ? frameGrabber(frames) : null;

  function thumbnail(item) {
    if (item.keyframe) {
      const img = el("img", "thumb");
      img.alt = "";
      img.loading = "lazy";
      img.decoding = "async";
      img.src = `/v1/blobs/${item.keyframe}`;
      img.addEventListener("error", () => {
        if (grabber) img.replaceWith(grabber.canvasFor(item)); else img.remove();
      });
      return img;
    }
    return grabber ? grabber.canvasFor(item) : null;
  }

  const zoomIn = el("button", "", "Zoom in");
  const zoomOut = el("button", "", "Zoom out");
  const whole = el("button", "", "Whole video");
  for (const b of [zoomIn, zoomOut, whole]) b.type = "button";
  const shownRange = el("output", "timeline-range");
  const legend = el("ul", "timeline-legend");
  legend.setAttribute("aria-label", "Item colours");
  for (const [state, words] of [["ai", "AI"], ["verified", "verified by experts"],
    ["corrected", "corrected by experts"], ["current", "the item under review"],
    ["segment", "its segment"], ["group", "several items (press to zoom in)"]]) {
    const li = el("li", `legend-${state}`, words);
    legend.append(li);
  }
  const tools = el("div", "timeline-tools");
  tools.setAttribute("role", "group");
  tools.setAttribute("aria-label", "Timeline zoom");
  tools.append(zoomIn, zoomOut, whole, shownRange);
  const body = el("div", "timeline-lanes");
  const root = el("section", "timeline");
  root.setAttribute("aria-label", "Timeline: one lane per insight; arrow keys move within a lane");
  root.append(tools, body, legend);
  container.replaceChildren(root);

  function setView(start, end) {
    const span = Math.min(total, Math.max(MIN_SPAN, end - start));
    let a = Math.max(0, Math.min(start, total - span));
    if (!Number.isFinite(a)) a = 0;
    view = [a, a + span];
    schedule();
  }

  function zoom(factor) {
    const span = (view[1] - view[0]) * factor;
    const centre = now >= view[0] && now <= view[1] ? now : (view[0] + view[1]) / 2;
    setView(centre - span / 2, centre + span / 2);
  }

  zoomIn.addEventListener("click", () => zoom(0.25));
  zoomOut.addEventListener("click", () => zoom(4));
  whole.addEventListener("click", () => setView(0, total));

  function schedule() {
    if (frame) return;
    frame = requestAnimationFrame(() => { frame = 0; render(); });
  }

  // The groups of one lane in the window, on at most ROWS rows: an item narrower than MIN_PX
  // merges with the group before it when they are within MIN_PX (a group stops growing at
  // GROUP_PX); groups that overlap (each at least MIN_PX wide) go on the first row where they
  // fit, else merge into the row that ends first. So a row holds at most width / MIN_PX
  // buttons, whatever the number of items.
  function groups(items, width) {
    const [v0, v1] = view;
    const px = width / Math.max(v1 - v0, 1e-9);
    const merged = [];
    let open = null;
    for (const it of items) {
      if (it.end < v0 || it.start > v1) continue;
      const x0 = (it.start - v0) * px;
      const x1 = (it.end - v0) * px;
      if (open && x1 - x0 < MIN_PX && x0 <= open.x1 + MIN_PX && open.x1 - open.x0 < GROUP_PX) {
        open.items.push(it);
        open.end = Math.max(open.end, it.end);
        open.x1 = Math.max(open.x1, x1);
      } else {
        open = { items: [it], start: it.start, end: it.end, x0, x1 };
        merged.push(open);
      }
    }
    const rows = [];
    // How far a group reaches on screen: a lone item is drawn at least MIN_PX wide.
    const reach = (g) => Math.max(g.x1, g.x0 + (g.items.length > 1 ? 2 : MIN_PX));
    for (const group of merged) {
      let row = rows.findIndex((r) => r.reach <= group.x0 + 1);
      if (row < 0 && rows.length < ROWS) {
        rows.push({ reach: -Infinity, list: [] });
        row = rows.length - 1;
      }
      if (row < 0) {  // no room: into the group that ends first
        row = rows.reduce((best, r, i) => (r.reach < rows[best].reach ? i : best), 0);
        const last = rows[row].list[rows[row].list.length - 1];
        last.items.push(...group.items);
        last.end = Math.max(last.end, group.end);
        last.x1 = Math.max(last.x1, group.x1);
        rows[row].reach = reach(last);
        continue;
      }
      rows[row].list.push(group);
      rows[row].reach = reach(group);
    }
    return rows.map((r) => r.list);
  }

  function place(node, start, end) {
    const [v0, v1] = view;
    const span = v1 - v0 || 1;
    const left = Math.max(0, (start - v0) / span) * 100;
    const right = Math.min(1, (end - v0) / span) * 100;
    node.style.left = `${left}%`;
    node.style.width = `${Math.max(0, right - left)}%`;
  }

  function render() {
    if (total <= 0) { body.replaceChildren(); return; }
    const focusedKey = document.activeElement?.closest?.(".timeline")
      === root ? document.activeElement.dataset.key : undefined;
    body.replaceChildren();
    heads.length = 0;
    bands.length = 0;
    shownRange.textContent = `${clock(view[0])} – ${clock(view[1])}`;
    zoomOut.disabled = view[0] <= 0 && view[1] >= total;
    whole.disabled = zoomOut.disabled;
    zoomIn.disabled = view[1] - view[0] <= MIN_SPAN + 1e-9;
    for (const lane of all) {
      const row = el("div", `lane lane-${lane.insight}`);
      row.setAttribute("role", "group");
      const name = el("span", "lane-name", lane.label);
      name.id = `lane-${lane.insight}`;
      row.setAttribute("aria-labelledby", name.id);
      const track = el("div", "lane-track");
      row.append(name, track);
      body.append(row);
      const width = Math.max(track.clientWidth, 100);
      const rows = groups(lane.items, width);
      track.classList.add(`rows-${Math.max(1, rows.length)}`);
      if (lane.items.length === 0) {
        track.append(el("span", "lane-empty", "nothing found"));
      }
      let first = true;
      rows.forEach((list, r) => {
        for (const group of list) {
          const b = el("button", `item row-${r}`);
          b.type = "button";
          const single = group.items.length === 1 ? group.items[0] : null;
          b.dataset.key = single ? single.key : "";
          b.dataset.keys = group.items.map((it) => it.key).join(" ");
          b.dataset.start = String(group.start);
          b.classList.add(single ? `state-${single.state}` : "group");
          if (!single && group.items.some((it) => it.state !== "ai")) b.classList.add("state-mixed");
          b.setAttribute("aria-label", describeGroup(lane, group));
          b.tabIndex = first ? 0 : -1;
          first = false;
          if (single && lane.insight === "shots" && group.x1 - group.x0 >= 48) {
            const thumb = thumbnail(single);
            if (thumb) b.append(thumb);
          }
          b.title = b.getAttribute("aria-label");
          const shown = single ? single.label : `${group.items.length}`;
          if (single || group.x1 - group.x0 >= 10 + 8 * shown.length) {
            b.append(el("span", "item-text", shown));
          }
          place(b, group.start, group.end);
          b.addEventListener("click", () => press(group));
          track.append(b);
        }
      });
      const band = el("span", "segment-band");
      band.setAttribute("aria-hidden", "true");
      const head = el("span", "playhead");
      head.setAttribute("aria-hidden", "true");
      track.prepend(band);
      track.append(head);
      heads.push(head);
      bands.push(band);
    }
    mark();
    movePlayhead();
    showBand();
    if (focusedKey !== undefined) {
      const again = [...body.querySelectorAll("button.item")].find((b) => b.dataset.key === focusedKey);
      if (again) { roving(again); again.focus({ preventScroll: true }); }
    }
  }

  function press(group) {
    const single = group.items.length === 1 ? group.items[0] : null;
    if (single === null && view[1] - view[0] > MIN_SPAN + 1e-9) {
      const pad = Math.max((group.end - group.start) * 0.1, 0.5);
      setView(group.start - pad, group.end + pad);
    }
    onSeek(group.start, single);
  }

  function roving(target) {
    const track = target.parentElement;
    for (const b of track.querySelectorAll("button.item")) b.tabIndex = b === target ? 0 : -1;
  }

  // Arrow keys move within a lane (one tab stop per lane), Home and End to its ends, Up and
  // Down to the lane above or below.
  body.addEventListener("keydown", (event) => {
    const target = event.target;
    if (!(target instanceof HTMLButtonElement) || !target.classList.contains("item")) return;
    const buttons = [...target.parentElement.querySelectorAll("button.item")]
      .sort((a, b) => Number(a.dataset.start) - Number(b.dataset.start));
    const at = buttons.indexOf(target);
    let next = null;
    if (event.key === "ArrowRight") next = buttons[Math.min(at + 1, buttons.length - 1)];
    else if (event.key === "ArrowLeft") next = buttons[Math.max(at - 1, 0)];
    else if (event.key === "Home") next = buttons[0];
    else if (event.key === "End") next = buttons[buttons.length - 1];
    else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const tracks = [...body.querySelectorAll(".lane-track")];
      const t = tracks.indexOf(target.parentElement) + (event.key === "ArrowDown" ? 1 : -1);
      const there = tracks[t]?.querySelectorAll("button.item");
      if (there && there.length) {
        next = [...there].reduce((best, b) => (Math.abs(Number(b.dataset.start) - Number(target.dataset.start))
          < Math.abs(Number(best.dataset.start) - Number(target.dataset.start)) ? b : best));
      }
    }
    if (next) {
      event.preventDefault();
      roving(next);
      next.focus();
    }
  });

  function mark() {
    for (const b of body.querySelectorAll("button.item")) {
      const on = current !== null && b.dataset.keys.split(" ").includes(current);
      b.classList.toggle("current", on);
      if (on) b.setAttribute("aria-current", "true"); else b.removeAttribute("aria-current");
    }
  }

  function movePlayhead() {
    const [v0, v1] = view;
    const inside = now >= v0 && now <= v1;
    for (const head of heads) {
      head.hidden = !inside;
      if (inside) head.style.left = `${((now - v0) / (v1 - v0 || 1)) * 100}%`;
    }
  }

  let seenWidth = 0;
  function showBand() {
    const [v0, v1] = view;
    const inside = range !== null && range.end >= v0 && range.start <= v1;
    for (const band of bands) {
      band.hidden = !inside;
      if (inside) place(band, Math.max(range.start, v0), Math.min(range.end, v1));
    }
  }

  // The segment under review (``start`` to ``end`` seconds) shown as a band across the
  // lanes; null: none.
  function setRange(start, end = start) {
    const a = finite(start);
    const b = finite(end);
    range = a === null ? null : { start: a, end: b !== null && b >= a ? b : a };
    showBand();
  }

  const observer = typeof ResizeObserver === "function" ? new ResizeObserver((entries) => {
    const width = Math.round(entries[0]?.contentRect?.width ?? 0);
    if (width !== seenWidth) { seenWidth = width; schedule(); }
  }) : null;
  observer?.observe(body);

  function setLanes(next) {
    all = Array.isArray(next) ? next : [];
    if (total <= 0) {
      total = all.reduce((m, lane) => lane.items.reduce((x, it) => Math.max(x, it.end), m), 0);
      view = [0, total];
    }
    schedule();
  }

  // The item ``key`` highlighted (null: none), and brought into the window.
  function highlight(key) {
    current = key ?? null;
    const items = current === null ? []
      : all.flatMap((lane) => lane.items.filter((it) => it.key === current));
    if (items.length) {
      const start = Math.min(...items.map((it) => it.start));
      const end = Math.max(...items.map((it) => it.end));
      if (start < view[0] || end > view[1]) {
        const span = Math.max(view[1] - view[0], end - start);
        setView(start - span / 4, start - span / 4 + span);
      }
    }
    mark();
  }

  // The playhead at ``t``; the window follows it when it leaves.
  function setTime(t) {
    now = Math.max(0, Number(t) || 0);
    const [v0, v1] = view;
    if (now < v0 || now > v1) setView(now - (v1 - v0) / 4, now - (v1 - v0) / 4 + (v1 - v0));
    movePlayhead();
  }

  function setDuration(d) {
    const n = finite(d);
    if (n === null || n <= 0 || n === total) return;
    const whole = view[0] <= 0 && view[1] >= total;
    total = n;
    if (whole || view[1] > total) view = [0, total];
    schedule();
  }

  // ``frames`` changed (a sensitive library's video, from a new media grant).
  function setFrames(url) {
    if (!grabber || typeof url !== "string" || !url) return;
    grabber.setSource(url);
    schedule();
  }

  function destroy() {
    observer?.disconnect();
    grabber?.close();
    if (frame) cancelAnimationFrame(frame);
    root.remove();
  }

  setLanes(lanes);
  return { highlight, setTime, setLanes, setDuration, setView, setRange, setFrames, destroy,
    get view() { return [...view]; }, root };
}
