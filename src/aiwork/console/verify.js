// aiwork's verifier in the browser: RFC 9162 inclusion proofs, C2SP signed notes
// (checkpoints) and ledger entries (RFC 8785 bytes signed with Ed25519 by a did:key).
// WebCrypto only (SHA-256, Ed25519); no third-party code. Every check throws a
// VerifyError whose message a person can read.

export class VerifyError extends Error {}

const encoder = new TextEncoder();
const HASH_SIZE = 32;
const ENTRY_SIGNING_DOMAIN = "aiwork entry v1\n";
const SIG_PREFIX = "\u2014 ";

export function b64decode(text, what = "value") {
  if (typeof text !== "string" || !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) {
    throw new VerifyError(`${what} is not base64`);
  }
  const raw = atob(text);
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

function equal(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

export function leafHash(entryBytes) {
  return sha256(concat(Uint8Array.of(0), entryBytes));
}

export function nodeHash(left, right) {
  return sha256(concat(Uint8Array.of(1), left, right));
}

function natural(value, what) {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new VerifyError(`${what} must be a non-negative integer`);
  }
  return BigInt(value);
}

// The root that a leaf hash and its audit path imply (RFC 9162 section 2.1.3.2).
export async function rootFromInclusion(index, size, leaf, proof) {
  let fn = natural(index, "leaf index");
  let sn = natural(size, "tree size") - 1n;
  if (fn > sn) throw new VerifyError(`leaf index ${index} is outside a tree of size ${size}`);
  if (leaf.length !== HASH_SIZE || proof.some((h) => h.length !== HASH_SIZE)) {
    throw new VerifyError("proof hashes must be 32 bytes");
  }
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) throw new VerifyError("inclusion proof is longer than the tree is deep");
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while (fn !== 0n && (fn & 1n) === 0n) { fn >>= 1n; sn >>= 1n; }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new VerifyError("inclusion proof is shorter than the tree is deep");
  return r;
}

export async function verifyInclusion(index, size, leaf, proof, root) {
  if (root.length !== HASH_SIZE) throw new VerifyError("root hash must be 32 bytes");
  const got = await rootFromInclusion(index, size, leaf, proof);
  if (!equal(got, root)) {
    throw new VerifyError(`inclusion proof for leaf ${index} does not lead to the tree-${size} root`);
  }
}

export async function verifyEd25519(publicKey, message, signature) {
  if (signature.length !== 64) return false;
  const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
  return crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
}

export async function keyId(name, publicKey, type = 1) {
  return (await sha256(concat(encoder.encode(name + "\n"), Uint8Array.of(type), publicKey))).slice(0, 4);
}

function checkName(name) {
  if (!name || /[\s+]/.test(name)) {
    throw new VerifyError(`note key name "${name}" must be non-empty, without spaces or '+'`);
  }
}

// A C2SP verifier key, name+hexkeyid+base64(type || key): its name, key id and public key.
// Type 0x01 signs checkpoints (the log), 0x04 cosigns them (a witness, tlog-cosignature/v1).
export async function parseVerifierKey(text, type = 1, what = "the log key") {
  const whole = String(text).trim();
  const first = whole.indexOf("+");
  const second = whole.indexOf("+", first + 1);
  const parts = first < 0 || second < 0 ? []
    : [whole.slice(0, first), whole.slice(first + 1, second), whole.slice(second + 1)];
  if (parts.length !== 3 || !/^[0-9a-f]{8}$/.test(parts[1])) {
    throw new VerifyError(`${what} is not a verifier key (name+keyid+base64key)`);
  }
  const [name, hexId, encoded] = parts;
  checkName(name);
  const raw = b64decode(encoded, what);
  if (raw.length !== 33 || raw[0] !== type) {
    throw new VerifyError(`${what} ${name} is not an Ed25519 ${type === 1 ? "note" : "cosignature/v1"} key`);
  }
  const publicKey = raw.slice(1);
  const id = await keyId(name, publicKey, type);
  if (hex(id) !== hexId) throw new VerifyError(`${what} ${name}: key id does not match the key`);
  return { name, keyId: id, publicKey, text: whole };
}

// A signed note: its body (ending in a newline) and its signature lines.
export function parseNote(text) {
  if (typeof text !== "string" || text.length > 65536) throw new VerifyError("the checkpoint is not a note of at most 64 KiB");
  if (/[\u0000-\u0009\u000b-\u001f]/.test(text)) throw new VerifyError("the checkpoint holds control characters");
  const split = text.lastIndexOf("\n\n");
  if (split < 0 || !text.endsWith("\n")) throw new VerifyError("malformed checkpoint: no blank line before the signatures");
  const body = text.slice(0, split + 1);
  const signatures = text.slice(split + 2, -1).split("\n").map((line) => {
    const fields = line.startsWith(SIG_PREFIX) ? line.slice(SIG_PREFIX.length).split(" ") : [];
    if (fields.length !== 2) throw new VerifyError("malformed signature line in the checkpoint");
    const raw = b64decode(fields[1], "a checkpoint signature");
    if (raw.length < 5) throw new VerifyError(`checkpoint signature by ${fields[0]} is too short`);
    return { name: fields[0], keyId: raw.slice(0, 4), signature: raw.slice(4) };
  });
  return { body, signatures };
}

export function parseCheckpoint(body) {
  const lines = body.split("\n");
  if (lines.length < 4 || lines[lines.length - 1] !== "") {
    throw new VerifyError("a checkpoint has an origin, a size and a root hash line");
  }
  const [origin, sizeText, rootText] = lines;
  if (!origin) throw new VerifyError("checkpoint origin line is empty");
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) {
    throw new VerifyError("checkpoint size is not a decimal number");
  }
  const root = b64decode(rootText, "the checkpoint root hash");
  if (root.length !== HASH_SIZE) throw new VerifyError("checkpoint root hash is not 32 bytes");
  return { origin, size: Number(sizeText), root };
}

// Checks the log key's signature of a checkpoint note; the checkpoint and the other signers
// (witness cosignatures, listed, not checked here).
export async function verifyCheckpoint(text, key) {
  const note = parseNote(text);
  const mine = note.signatures.filter((s) => s.name === key.name && equal(s.keyId, key.keyId));
  if (mine.length === 0) throw new VerifyError(`the checkpoint is not signed by ${key.name} (key id ${hex(key.keyId)})`);
  for (const sig of mine) {
    if (!(await verifyEd25519(key.publicKey, encoder.encode(note.body), sig.signature))) {
      throw new VerifyError(`the checkpoint's signature by ${key.name} does not verify`);
    }
  }
  const others = note.signatures.filter((s) => !mine.includes(s));
  return { ...parseCheckpoint(note.body), body: note.body, cosigners: others.map((s) => s.name), signatures: others };
}

// Checks a witness's tlog-cosignature/v1 line on a verified checkpoint: key id, a time no
// later than ten minutes from now, and the Ed25519 signature of "cosignature/v1", the time
// line and the checkpoint body. Returns the cosignature's time (seconds since 1970).
export async function verifyCosignature(checkpoint, witness, now = Date.now() / 1000) {
  const line = checkpoint.signatures.find((s) => s.name === witness.name && equal(s.keyId, witness.keyId));
  if (!line) throw new VerifyError(`the checkpoint carries no cosignature by ${witness.name}`);
  if (line.signature.length !== 72) throw new VerifyError(`the cosignature by ${witness.name} is malformed`);
  const time = new DataView(line.signature.buffer, line.signature.byteOffset, 8).getBigUint64(0);
  if (time >= 1n << 63n || Number(time) > now + 600) {
    throw new VerifyError(`the cosignature by ${witness.name} is dated in the future`);
  }
  const message = encoder.encode(`cosignature/v1\ntime ${time}\n${checkpoint.body}`);
  if (!(await verifyEd25519(witness.publicKey, message, line.signature.slice(8)))) {
    throw new VerifyError(`the cosignature by ${witness.name} does not verify`);
  }
  return Number(time);
}

// RFC 8785: what JSON.stringify writes for strings and numbers, object keys sorted by UTF-16
// code units.
export function canonicalize(value) {
  if (Array.isArray(value)) return `[${value.map(canonicalize).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalize(value[k])}`).join(",")}}`;
  }
  if (typeof value === "number" && !Number.isFinite(value)) throw new VerifyError("a number is not finite");
  return JSON.stringify(value);
}

const B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

function b58decode(text) {
  let n = 0n;
  for (const c of text) {
    const digit = B58.indexOf(c);
    if (digit < 0) throw new VerifyError(`"${c}" is not a base58btc character`);
    n = n * 58n + BigInt(digit);
  }
  const bytes = [];
  while (n > 0n) { bytes.unshift(Number(n & 255n)); n >>= 8n; }
  const zeros = text.match(/^1*/)[0].length;
  return Uint8Array.from([...new Array(zeros).fill(0), ...bytes]);
}

// The Ed25519 public key inside a did:key (multicodec 0xed 0x01, base58btc).
export function publicKeyFromDid(did) {
  if (typeof did !== "string" || !did.startsWith("did:key:z") || did.length > 128) {
    throw new VerifyError("the entry's author is not an Ed25519 did:key");
  }
  const raw = b58decode(did.slice("did:key:z".length));
  if (raw.length !== 34 || raw[0] !== 0xed || raw[1] !== 0x01) {
    throw new VerifyError("the entry's author is not an Ed25519 did:key");
  }
  return raw.slice(2);
}

// Parses an entry's bytes (which must be its RFC 8785 encoding) and checks its author's
// signature over the domain line and the canonical JSON of the four other fields.
export async function verifyEntry(bytes) {
  let text, entry;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    entry = JSON.parse(text);
  } catch {
    throw new VerifyError("the entry is not JSON");
  }
  const fields = ["author", "body", "kind", "signature", "time"];
  if (entry === null || typeof entry !== "object" || Array.isArray(entry)
      || canonicalize(Object.keys(entry)) !== canonicalize(fields)) {
    throw new VerifyError("the entry does not hold exactly author, body, kind, signature and time");
  }
  if (canonicalize(entry) !== text) throw new VerifyError("the entry is not in its canonical (RFC 8785) form");
  const { author, body, kind, time } = entry;
  if (typeof entry.signature !== "string") throw new VerifyError("the entry's signature is not base64");
  const signature = b64decode(entry.signature, "the entry's signature");
  const payload = encoder.encode(ENTRY_SIGNING_DOMAIN + canonicalize({ author, body, kind, time }));
  if (!(await verifyEd25519(publicKeyFromDid(author), payload, signature))) {
    throw new VerifyError(`the entry's signature does not verify for its author ${author}`);
  }
  return entry;
}
