// What every signed page of the console shares: the person's key, kept in this browser's
// IndexedDB (a CryptoKey is stored as itself, still non-extractable; created here or imported
// from an aiwork key file), and the documented API called with every request signed (sign.js).
import { generateIdentity, importPem, signRequest } from "./sign.js";

const encoder = new TextEncoder();
const STORE = "keys";
const SLOT = "expert";  // one key per browser profile, whichever page created it

export class PageError extends Error {}

function database() {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open("aiwork-review", 1);
    open.onupgradeneeded = () => open.result.createObjectStore(STORE);
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(new PageError("this browser's key store (IndexedDB) cannot be opened"));
  });
}

async function stored(mode, act) {
  const db = await database();
  return new Promise((resolve, reject) => {
    const request = act(db.transaction(STORE, mode).objectStore(STORE));
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(new PageError("this browser's key store refused the key"));
  });
}

/** The key kept in this browser, or null. */
export async function keptKey() {
  return (await stored("readonly", (s) => s.get(SLOT))) || null;
}

/** A new non-extractable key, kept in this browser. */
export async function createKey() {
  const id = await generateIdentity();
  await stored("readwrite", (s) => s.put(id, SLOT));
  return id;
}

/** A key imported from an aiwork key file (a File), kept in this browser. */
export async function importKeyFile(file) {
  if (!file) throw new PageError("choose an aiwork key file");
  if (file.size > 4096) throw new PageError("an aiwork key file is a few hundred bytes");
  const id = await importPem(await file.text());
  await stored("readwrite", (s) => s.put(id, SLOT));
  return id;
}

/** A refusal in words: the coordinator's own message ({error, message}) with its status. */
export function refusal(answer, data) {
  const said = data && typeof data.message === "string" ? data.message : answer.statusText;
  return new PageError(`the coordinator refused (${answer.status}): ${said}`);
}

async function deliver(method, path, headers, bytes, keepalive = false) {
  let answer;
  try {
    answer = await fetch(path, { method, headers, keepalive,
      body: bytes.length ? bytes : undefined });
  } catch {
    throw new PageError("the coordinator cannot be reached; check your connection and try again");
  }
  if (!answer.ok) {
    let data = null;
    try { data = await answer.json(); } catch { data = null; }
    throw refusal(answer, data);
  }
  return answer;
}

/** A request to the coordinator, signed with ``id`` (or unsigned when ``id`` is null):
 * the raw Response when it succeeded; a PageError in words otherwise. */
export async function send(id, method, path, bytes = new Uint8Array(), type = null) {
  const headers = id === null ? {} : await signRequest(id, method, path, bytes);
  if (type !== null) headers["Content-Type"] = type;
  return deliver(method, path, headers, bytes);
}

async function json(answer) {
  if (answer.status === 204) return { none: answer.headers.get("aiwork-reason") || "" };
  try {
    return await answer.json();
  } catch {
    throw new PageError("the coordinator's answer is not JSON");
  }
}

/** A JSON call to the documented API, signed with ``id``; ``{none: reason}`` for a 204. */
export async function api(id, method, path, body) {
  const bytes = body === undefined ? new Uint8Array() : encoder.encode(JSON.stringify(body));
  return json(await send(id, method, path, bytes, body === undefined ? null : "application/json"));
}

/** A JSON call signed now and sent later with :func:`sendPrepared` (its signature covers the
 * time it was made: it must reach the coordinator within its clock window, 300 s). */
export async function prepare(id, method, path, body) {
  const bytes = encoder.encode(JSON.stringify(body));
  const headers = await signRequest(id, method, path, bytes);
  headers["Content-Type"] = "application/json";
  return { method, path, headers, bytes };
}

/** Send a prepared call (once: its nonce is spent); ``keepalive`` lets it outlive the page
 * (a pagehide handler). Its JSON answer, or a PageError in words. */
export async function sendPrepared(call, { keepalive = false } = {}) {
  return json(await deliver(call.method, call.path, call.headers, call.bytes, keepalive));
}

/** A short-lived URL that plays the blob ``digest`` of ``job``, a sensitive library's, in a
 * <video> (which cannot sign its requests): POST /v1/blobs/DIGEST/grant, signed with ``id``,
 * states ``purpose``; the coordinator logs the read (an access.read entry) before it grants.
 * The answer's ``url`` is this blob's route on this origin, with the grant's token. */
export async function mediaGrant(id, digest, job, purpose) {
  const grant = await api(id, "POST", `/v1/blobs/${digest}/grant`, { job, purpose });
  if (typeof grant.url !== "string" || !grant.url.startsWith(`/v1/blobs/${digest}?grant=`)) {
    throw new PageError("the coordinator's media grant is not a URL of this video");
  }
  return grant;
}
