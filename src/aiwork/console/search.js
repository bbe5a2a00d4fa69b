// The library search in the requester dashboard (/jobs): GET /v1/search, signed with the key
// kept in this browser when there is one (a stated purpose also searches the sensitive
// libraries it may read; the coordinator logs each job of theirs that a search finds).
// Each hit names its video, insight and time, shows its text with the matches marked (built
// from the answer's offsets as DOM text nodes, never as HTML), links to its decision in the
// explorer, and opens the job's player at that moment.
import { clock } from "./player.js";

export const MAX_QUERY_BYTES = 1024;

// ``text`` cut into pieces {text, match} at ``highlights`` ([start, end) in Unicode code
// points, as the coordinator counts them): overlapping, reversed or out-of-range spans are
// clipped or skipped, so any answer gives pieces that join back into ``text``.
export function pieces(text, highlights) {
  const chars = Array.from(String(text));
  const spans = (Array.isArray(highlights) ? highlights : [])
    .filter((span) => Array.isArray(span) && span.length === 2
      && Number.isSafeInteger(span[0]) && Number.isSafeInteger(span[1]))
    .map(([start, end]) => [Math.max(0, start), Math.min(chars.length, end)])
    .filter(([start, end]) => start < end)
    .sort((a, b) => a[0] - b[0]);
  const out = [];
  let at = 0;
  for (const [start, end] of spans) {
    if (end <= at) continue;
    const from = Math.max(start, at);
    if (from > at) out.push({ text: chars.slice(at, from).join(""), match: false });
    out.push({ text: chars.slice(from, end).join(""), match: true });
    at = end;
  }
  if (at < chars.length || !out.length) out.push({ text: chars.slice(at).join(""), match: false });
  return out;
}

// The query string of a search (each value percent-encoded as the browser sends it, which
// the request's signature covers).
export function searchPath({ q, insight = "", mode = "", limit = 20, purpose = "" }, component) {
  const parts = [`q=${component(q)}`];
  if (insight) parts.push(`insight=${component(insight)}`);
  if (mode) parts.push(`mode=${component(mode)}`);
  parts.push(`limit=${Number(limit)}`);
  if (purpose) parts.push(`purpose=${component(purpose)}`);
  return `/v1/search?${parts.join("&")}`;
}

// Where a hit's match is heard: the coordinator's ``moment`` (its first matched word, when the
// words are timed), else the passage's start; null when the hit has no time.
export function momentOf(hit) {
  for (const value of [hit?.moment, hit?.start]) {
    if (typeof value === "number" && Number.isFinite(value) && value >= 0) return value;
  }
  return null;
}

function when(hit) {
  if (typeof hit.start !== "number" || !Number.isFinite(hit.start)) return "the whole video";
  const end = typeof hit.end === "number" && Number.isFinite(hit.end) && hit.end > hit.start
    ? `–${clock(hit.end)}` : "";
  return `${clock(hit.start)}${end}`;
}

// Mount the search on its form. ``api(method, path)`` sends a request (signed when a key is
// kept); ``signed()`` says whether one is; ``name(digest)`` is a video's name as this browser
// knows it; ``open(hit)`` shows the hit's job with its player at the hit's start.
export function mountSearch({ form, list, status, api, signed, name, open, el, words, component }) {
  const field = (id) => form.querySelector(`#${id}`);
  let asked = 0;  // a newer search wins over an answer still on its way

  function say(text, error = false) {
    status.textContent = text;
    status.classList.toggle("error", error);
  }

  function row(hit, position) {
    const at = momentOf(hit);
    const item = el("li", null, { class: "hit", "data-job": hit.job ?? "", "data-insight": hit.insight,
      "data-start": at === null ? "" : String(at) });
    const video = hit.video && typeof hit.video === "object" ? hit.video : {};
    const head = el("div", null, { class: "hit-head" });
    head.append(el("strong", name(video.digest, video.name), { class: "hit-video" }),
      el("span", hit.insight, { class: "tag ai" }), el("span", when(hit), { class: "hit-time" }));
    const text = el("p", null, { class: "hit-text" });
    for (const piece of pieces(hit.text, hit.highlights)) {
      text.append(piece.match ? el("mark", piece.text) : document.createTextNode(piece.text));
    }
    const actions = el("div", null, { class: "actions" });
    if (typeof hit.job === "string" && hit.job) {
      const play = el("button", at !== null ? `Play from ${clock(at)}` : "Open the video",
        { type: "button", class: "secondary", "data-hit": String(position) });
      play.addEventListener("click", () => open(hit));
      actions.append(play);
    }
    if (Number.isSafeInteger(hit.decision)) {
      actions.append(el("a", `decision ${hit.decision}`, { href: `/explorer/entry/${hit.decision}` }));
    }
    item.append(head, text, actions);
    return item;
  }

  async function run(event) {
    event.preventDefault();
    const q = field("search-q").value.trim();
    if (!q) {
      say("Type a word or a phrase to search for.", true);
      field("search-q").focus();
      return;
    }
    if (new TextEncoder().encode(q).length > MAX_QUERY_BYTES) {
      say(`The search is too long: at most ${MAX_QUERY_BYTES} bytes.`, true);
      return;
    }
    const purpose = signed() ? field("search-purpose").value.trim() : "";
    const path = searchPath({ q, insight: field("search-insight").value, mode: field("search-mode").value,
      limit: 20, purpose }, component);
    const mine = ++asked;
    say("Searching…");
    let found;
    try {
      found = await api("GET", path);
    } catch (error) {
      if (mine === asked) say(words(error), true);
      return;
    }
    if (mine !== asked) return;
    const hits = Array.isArray(found?.hits) ? found.hits.filter((h) => h && typeof h === "object") : [];
    list.replaceChildren(...hits.map(row));
    const logged = Array.isArray(found.access_entries) && found.access_entries.length
      ? ` Logged as read: entries ${found.access_entries.join(", ")}.` : "";
    say(hits.length ? `${hits.length} moment(s) found.${logged}` : "Nothing found.");
  }

  form.addEventListener("submit", (event) => { run(event).catch((error) => say(words(error), true)); });
  return { run };
}
