// What an expert's browser signs, built exactly as aiwork's Python client builds it: the
// signed request headers (aiwork/auth.py sign_request) and a human.verdict entry
// (aiwork/quality/review_items.py verdict_body, aiwork/ledger/entries.py sign_entry). The key
// is an Ed25519 WebCrypto key that never leaves the browser: generated non-extractable, or
// imported from an aiwork key file (PEM, PKCS#8) and kept non-extractable from then on.
import { VerifyError, b64decode, canonicalize, hex, sha256 } from "./verify.js";

export class SignError extends Error {}

const encoder = new TextEncoder();
const ED25519 = { name: "Ed25519" };
export const REQUEST_PREFIX = "aiwork request v1\n";
export const ENTRY_PREFIX = "aiwork entry v1\n";
export const VERDICT_KIND = "human.verdict/v1";
export const SEALED_VERDICT_KIND = "human.verdict.sealed/v1";
const PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03,
  0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);
const PEM_BEGIN = "-----BEGIN PRIVATE KEY-----";
const PEM_END = "-----END PRIVATE KEY-----";
const B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

export function b64encode(bytes) {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text);
}

export function b64urlencode(bytes) {
  return b64encode(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function b58encode(bytes) {
  let n = 0n;
  for (const byte of bytes) n = n * 256n + BigInt(byte);
  let text = "";
  while (n > 0n) { text = B58[Number(n % 58n)] + text; n /= 58n; }
  let zeros = 0;
  while (zeros < bytes.length && bytes[zeros] === 0) zeros += 1;
  return "1".repeat(zeros) + text;
}

// The did:key of a 32-byte Ed25519 public key (multicodec 0xed 0x01, base58btc).
export function didFromPublicKey(publicKey) {
  if (publicKey.length !== 32) throw new SignError("an Ed25519 public key has 32 bytes");
  return "did:key:z" + b58encode(Uint8Array.from([0xed, 0x01, ...publicKey]));
}

async function identity(privateKey, publicKey) {
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", publicKey));
  return { privateKey, publicKey: raw, did: didFromPublicKey(raw) };
}

// A fresh key whose private half the page can use but never read.
export async function generateIdentity() {
  const pair = await crypto.subtle.generateKey(ED25519, false, ["sign", "verify"]);
  return identity(pair.privateKey, pair.publicKey);
}

// An aiwork key file (`aiwork keys new`, or openssl genpkey -algorithm ed25519). The key is
// read once to learn its public half, then imported again non-extractable.
export async function importPem(text) {
  const lines = String(text).trim().split(/\r?\n/).map((line) => line.trim());
  if (lines.length < 3 || lines[0] !== PEM_BEGIN || lines[lines.length - 1] !== PEM_END) {
    throw new SignError(`this is not an aiwork key file (expected "${PEM_BEGIN}")`);
  }
  let der;
  try {
    der = b64decode(lines.slice(1, -1).join(""), "the key file");
  } catch (error) {
    if (error instanceof VerifyError) throw new SignError("the key file's body is not base64");
    throw error;
  }
  if (der.length !== 48 || PKCS8_PREFIX.some((byte, i) => der[i] !== byte)) {
    throw new SignError("the key file does not hold an Ed25519 private key");
  }
  const readable = await crypto.subtle.importKey("pkcs8", der, ED25519, true, ["sign"]);
  const jwk = await crypto.subtle.exportKey("jwk", readable);
  const publicKey = await crypto.subtle.importKey(
    "jwk", { kty: "OKP", crv: "Ed25519", x: jwk.x }, ED25519, true, ["verify"]);
  const privateKey = await crypto.subtle.importKey("pkcs8", der, ED25519, false, ["sign"]);
  return identity(privateKey, publicKey);
}

export async function sign(id, message) {
  return new Uint8Array(await crypto.subtle.sign(ED25519, id.privateKey, message));
}

// The bytes a request's Aiwork-Signature covers (aiwork/auth.py signing_bytes). `bodyDigest`
// ("sha256:HEX"), when given, stands for the body's (an upload hashed while read from disk).
export async function requestSigningBytes(method, path, body, timestamp, nonce, did,
  bodyDigest = null) {
  const digest = bodyDigest ?? "sha256:" + hex(await sha256(body));
  return encoder.encode(REQUEST_PREFIX + canonicalize({
    method: method.toUpperCase(), path, timestamp, nonce, key: did, body: digest,
  }));
}

// The four Aiwork-* headers signing METHOD PATH with BODY (bytes; or, with `bodyDigest`, a body
// already hashed). `timestamp` and `nonce` are given only by tests; a request gets the clock
// and 16 fresh random bytes.
export async function signRequest(id, method, path, body, { timestamp, nonce, bodyDigest } = {}) {
  const time = timestamp ?? Math.floor(Date.now() / 1000);
  const once = nonce ?? b64urlencode(crypto.getRandomValues(new Uint8Array(16)));
  const message = await requestSigningBytes(method, path, body, time, once, id.did,
    bodyDigest ?? null);
  return {
    "Aiwork-Key": id.did, "Aiwork-Timestamp": String(time), "Aiwork-Nonce": once,
    "Aiwork-Signature": b64encode(await sign(id, message)),
  };
}

// An entry's time as Python writes it (RFC 3339 UTC, microseconds, Z).
export function utcNow(date = new Date()) {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

// The human.verdict body (aiwork/quality/review_items.py verdict_body).
export function verdictBody(item, decision, insight, verdict, value = null, rationale = null,
  seconds = null) {
  return { item, decision, insight, verdict, value, rationale, seconds };
}

// A signed entry's canonical bytes (aiwork/ledger/entries.py sign_entry).
export async function signEntry(id, kind, body, time = utcNow()) {
  const author = id.did;
  const signed = canonicalize({ author, body, kind, time });
  const signature = b64encode(await sign(id, encoder.encode(ENTRY_PREFIX + signed)));
  return encoder.encode(canonicalize({ author, body, kind, signature, time }));
}

// -- a sensitive library's verdict: the value and the rationale go to the log only as
// commitments (aiwork/model/commitment.py): sha256 of a random 32-byte salt then the value's
// RFC 8785 JSON; the openings {value, salt} go to the coordinator beside the entry.

const SALT = /^[0-9a-f]{64}$/;

export async function commitmentOf(value, salt) {
  if (typeof salt !== "string" || !SALT.test(salt)) {
    throw new SignError("a salt is 64 lowercase hex digits (32 bytes)");
  }
  const saltBytes = Uint8Array.from(salt.match(/../g), (pair) => parseInt(pair, 16));
  const json = encoder.encode(canonicalize(value));
  const bytes = new Uint8Array(saltBytes.length + json.length);
  bytes.set(saltBytes);
  bytes.set(json, saltBytes.length);
  return `sha256:${hex(await sha256(bytes))}`;
}

function freshSalt() {
  return hex(crypto.getRandomValues(new Uint8Array(32)));
}

/** ``body`` with its value and rationale replaced by commitments, and their openings
 * (``salts`` fixes the salts, for tests). */
export async function sealVerdict(body, salts = {}) {
  const sealed = { ...body };
  const openings = {};
  for (const field of ["value", "rationale"]) {
    const salt = salts[field] || freshSalt();
    sealed[field] = { commitment: await commitmentOf(body[field], salt) };
    openings[field] = { value: body[field], salt };
  }
  return { body: sealed, openings };
}
