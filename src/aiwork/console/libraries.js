// The requester dashboard's libraries: created here, made sensitive or public, readers granted,
// and the access log of each fetched and verified in this browser (access.js) against the
// log key this browser trusts, with a verdict per entry.
import { verifyAccessListing } from "./access.js";
import { PageError } from "./session.js";
import { parseVerifierKey } from "./verify.js";

const $ = (id) => document.getElementById(id);
const PIN = "aiwork.explorer.log-key";  // the log key pinned at first use (shared with /explorer)
const DID = /^did:key:z[1-9A-HJ-NP-Za-km-z]{40,60}$/;
const READS = "aiwork.jobs.reads";     // library -> the last read this browser saw verified

function lastReads() {
  try { return JSON.parse(localStorage.getItem(READS) || "{}") || {}; } catch { return {}; }
}

// The log key: the one pinned in this browser (by this page or the explorer), else the one the
// coordinator serves, pinned from now on. A served key unlike the pinned one is refused.
async function trustedKey(get) {
  const served = (await get("/v1/ledger/key")).trim();
  let pin = null;
  try { pin = JSON.parse(localStorage.getItem(PIN) || "null"); } catch { pin = null; }
  if (pin && typeof pin.key === "string") {
    if (pin.key !== served) {
      throw new PageError(`the coordinator now serves another log key (${served}) than the one this browser pinned on ${pin.since}`);
    }
    return { key: await parseVerifierKey(pin.key), source: `pinned in this browser on ${pin.since}` };
  }
  const since = new Date().toISOString();
  try { localStorage.setItem(PIN, JSON.stringify({ key: served, since })); } catch { /* not kept */ }
  return { key: await parseVerifierKey(served), source: "served by this coordinator at first use, pinned from now on" };
}

export function mountLibraries({ api, say, words, el, onChange }) {
  let me = null;
  const shown = new Map();  // id -> library view

  function render() {
    const list = $("libraries");
    list.replaceChildren();
    const all = [...shown.values()];
    say("libraries-state", all.length ? "" : "No library yet. A library groups jobs; a sensitive one is read only by those you allow, and every read is logged.");
    for (const library of all) list.append(card(library));
    onChange(all);
  }

  function card(library) {
    const item = el("li", null, { class: "library", "data-library": library.id, "data-sensitive": String(library.sensitive) });
    const head = el("div", null, { class: "job-head" });
    head.append(el("strong", library.name), el("span", library.sensitive ? "sensitive" : "public", { class: `badge ${library.sensitive ? "sensitive" : "open"}` }));
    item.append(head);
    const facts = el("p", `${library.id} · ${library.jobs.length} job(s) · readers: ${library.readers.length ? library.readers.join(", ") : "only you"}`, { class: "hint wrap" });
    item.append(facts);
    const actions = el("div", null, { class: "actions" });
    const toggle = el("button", library.sensitive ? "Make it public" : "Mark it sensitive", { type: "button", class: "secondary" });
    toggle.addEventListener("click", () => act(async () => {
      store(await api("PATCH", `/v1/libraries/${library.id}`, { sensitive: !library.sensitive }));
      say("libraries-state", `${library.name} is now ${library.sensitive ? "public" : "sensitive"}.`);
    }));
    const log = el("button", "Show the verified access log", { type: "button", class: "secondary" });
    log.addEventListener("click", () => act(() => accessLog(library, item)));
    actions.append(toggle, log);
    item.append(actions);
    const form = el("form", null, { class: "reader" });
    const inputId = `reader-${library.id}`;
    form.append(el("label", "Grant a reader (their did:key)", { for: inputId }),
      el("input", null, { id: inputId, name: "did", autocomplete: "off", spellcheck: "false", placeholder: "did:key:z6Mk…" }),
      el("button", "Grant", { type: "submit" }));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const did = form.elements.did.value.trim();
      act(async () => {
        if (!DID.test(did)) throw new PageError("a reader is named by an Ed25519 did:key (did:key:z6Mk…)");
        store(await api("POST", `/v1/libraries/${library.id}/readers`, { did }));
        say("libraries-state", `${did} may now read ${library.name}.`);
      });
    });
    item.append(form);
    item.append(el("div", null, { class: "access" }));
    return item;
  }

  function store(view) {
    if (!view || typeof view.id !== "string") throw new PageError("the coordinator's answer is not a library");
    shown.set(view.id, view);
    render();
  }

  async function accessLog(library, item) {
    const box = item.querySelector(".access");
    box.replaceChildren(el("p", "Fetching the access log and checking it in this browser…", { role: "status" }));
    const get = async (path) => {
      const answer = await fetch(path);
      if (!answer.ok) throw new PageError(`the coordinator refused (${answer.status}) to give the log key`);
      return answer.text();
    };
    const trusted = await trustedKey(get);
    let listing = await api("GET", `/v1/libraries/${library.id}/access`);
    const entries = [...(listing.entries || [])];
    for (let page = listing; page.next !== null && page.next !== undefined;) {
      if (page.next !== entries.length) throw new PageError("the access log's pages do not follow each other");
      page = await api("GET", `/v1/libraries/${library.id}/access?from=${page.next}&size=${listing.size}`);
      if (!Array.isArray(page.entries) || !page.entries.length) throw new PageError("a page of the access log is empty");
      entries.push(...page.entries);
    }
    listing = { ...listing, entries };
    const seen = lastReads()[library.id];
    const known = Number.isSafeInteger(seen) ? [seen] : [];
    const result = await verifyAccessListing(listing, trusted.key, library.id, known);
    if (result.ok && result.reads.length) {
      const all = lastReads();
      all[library.id] = result.reads[result.reads.length - 1].index;
      try { localStorage.setItem(READS, JSON.stringify(all)); } catch { /* not kept */ }
    }
    box.replaceChildren();
    const status = el("p", result.ok ? "Access log: verified" : "Access log: failed",
      { class: `verdict ${result.ok ? "verified" : "failed"}`, "data-verify-status": result.ok ? "verified" : "failed" });
    box.append(status);
    box.append(el("p", `Checked against the log key ${trusted.key.name} (${trusted.source}); checkpoint `
      + (result.checkpoint.ok ? `of ${result.checkpoint.size} entries: signature verified.` : `failed: ${result.checkpoint.reason}.`), { class: "hint wrap" }));
    if (!result.count.ok) box.append(el("p", `Count: failed: ${result.count.reason}.`, { class: "error" }));
    const list = el("ol", null, { class: "checks" });
    const line = (row, text) => {
      const li = el("li", null, { class: row.ok ? "passed" : "failed", "data-index": String(row.index) });
      li.append(el("span", row.ok ? "verified" : "failed", { class: "mark" }), ` ${text} `);
      if (Number.isSafeInteger(row.index)) li.append(el("a", `entry ${row.index}`, { href: `/explorer/entry/${row.index}` }));
      if (!row.ok) li.append(el("span", row.reason, { class: "detail" }));
      list.append(li);
    };
    // A time as a person reads it, and "you" for this browser's key.
    const when = (time) => (typeof time === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/.test(time)
      ? `${time.slice(0, 10)} ${time.slice(11, 19)} UTC` : "?");
    const who = (did) => (me && did === me.did ? "you" : did);
    for (const row of result.changes) {
      const body = row.entry ? row.entry.body : {};
      const what = row.entry && row.entry.kind.startsWith("library.created") ? `created (${body.sensitive ? "sensitive" : "public"})`
        : body.reader ? `reader ${who(body.reader)} granted` : `made ${body.sensitive ? "sensitive" : "public"}`;
      line(row, `${when(row.entry?.time)}: library ${what}`);
    }
    for (const row of result.reads) {
      const body = row.entry ? row.entry.body : {};
      line(row, row.entry ? `${when(row.entry.time)}: ${who(body.reader)} read ${body.resource} of job ${body.job}, for “${body.purpose}”` : "a read");
    }
    if (!result.reads.length) box.append(el("p", "Nobody has read this library's results yet.", { class: "hint" }));
    box.append(list);
  }

  async function act(work) {
    try {
      await work();
    } catch (error) {
      say("libraries-state", words(error), true);
    }
  }

  $("library-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = $("library-name").value.trim();
    act(async () => {
      if (!me) throw new PageError("create or import a key first");
      if (!name) throw new PageError("give the library a name");
      store(await api("POST", "/v1/libraries", { name, sensitive: $("library-sensitive").checked }));
      $("library-name").value = "";
      say("libraries-state", `Library ${name} is created.`);
    });
  });

  return {
    // The library ``id`` read again (after a job went into it).
    async refresh(id) {
      if (shown.has(id)) store(await api("GET", `/v1/libraries/${encodeURIComponent(id)}`));
    },
    async use(id) {
      me = id;
      shown.clear();
      // The coordinator lists this key's own libraries and those it may read, newest first.
      let listed;
      try {
        listed = await api("GET", "/v1/libraries");
      } catch (error) {
        say("libraries-state", error instanceof Error ? error.message : String(error), true);
        return;
      }
      for (const library of Array.isArray(listed.libraries) ? listed.libraries.reverse() : []) {
        shown.set(library.id, library);
      }
      render();
    },
  };
}
