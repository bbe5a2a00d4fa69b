// The browser's signer (src/aiwork/console/sign.js) in Node: from the aiwork key file in the
// shared vector (tests/data/console-signing.json, written by tests/test_review_console.py), it
// finds the same did:key, signs the same request bytes and builds byte for byte the same
// human.verdict entries as Python (Ed25519 is deterministic), and refuses what is no key file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import {
  SEALED_VERDICT_KIND, SignError, VERDICT_KIND, commitmentOf, generateIdentity, importPem,
  requestSigningBytes, sealVerdict, signEntry, signRequest, utcNow, verdictBody,
} from "../../src/aiwork/console/sign.js";
import { verifyEntry } from "../../src/aiwork/console/verify.js";

const vector = JSON.parse(readFileSync(fileURLToPath(
  new URL("../data/console-signing.json", import.meta.url)), "utf8"));
const encoder = new TextEncoder();
const decoder = new TextDecoder();

test("the key file gives the same did:key, and its key cannot be read back", async () => {
  const id = await importPem(vector.key_pem);
  assert.equal(id.did, vector.did);
  assert.equal(id.privateKey.extractable, false);
  await assert.rejects(crypto.subtle.exportKey("pkcs8", id.privateKey));
});

for (const [i, r] of vector.requests.entries()) {
  test(`request ${i}: ${r.method} ${r.path} signs the same bytes and signature`, async () => {
    const id = await importPem(vector.key_pem);
    const body = encoder.encode(r.body);
    const bytes = await requestSigningBytes(r.method, r.path, body, r.timestamp, r.nonce, id.did);
    assert.equal(decoder.decode(bytes), r.signing_bytes);
    const headers = await signRequest(id, r.method, r.path, body,
      { timestamp: r.timestamp, nonce: r.nonce });
    assert.deepEqual(headers, { "Aiwork-Key": vector.did, "Aiwork-Timestamp": String(r.timestamp),
      "Aiwork-Nonce": r.nonce, "Aiwork-Signature": r.signature });
  });
}

for (const [i, e] of vector.entries.entries()) {
  test(`verdict entry ${i} (${e.body.verdict}) is byte for byte Python's`, async () => {
    const id = await importPem(vector.key_pem);
    const b = e.body;
    const body = verdictBody(b.item, b.decision, b.insight, b.verdict, b.value, b.rationale,
      b.seconds);
    const bytes = await signEntry(id, VERDICT_KIND, body, e.time);
    assert.equal(decoder.decode(bytes), e.entry);
    await verifyEntry(bytes);
  });
}

test("a generated key is non-extractable and signs entries the verifier accepts", async () => {
  const id = await generateIdentity();
  assert.equal(id.privateKey.extractable, false);
  assert.match(id.did, /^did:key:z6Mk[1-9A-HJ-NP-Za-km-z]{44}$/);
  const entry = await verifyEntry(await signEntry(id, VERDICT_KIND,
    verdictBody("f".repeat(32), 1, "tags", "accept")));
  assert.equal(entry.author, id.did);
  assert.match(entry.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  const headers = await signRequest(id, "POST", "/v1/review/next", encoder.encode("{}"));
  assert.match(headers["Aiwork-Nonce"], /^[A-Za-z0-9_-]{22}$/);
});

test("what is not an Ed25519 key file is refused in words", async () => {
  await assert.rejects(importPem("hello"), SignError);
  await assert.rejects(importPem("-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----"),
    SignError);
  const rsaLike = vector.key_pem.replace(/\n[^\n]+\n-----END/, "\nMAAA\n-----END");
  await assert.rejects(importPem(rsaLike), SignError);
  assert.equal(utcNow(new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 67))), "2026-01-02T03:04:05.067000Z");
});

test("a sensitive library's verdict is sealed byte for byte as Python seals it", async () => {
  const id = await importPem(vector.key_pem);
  const { body: b, salts, time, entry } = vector.sealed;
  const plain = verdictBody(b.item, b.decision, b.insight, b.verdict, b.value, b.rationale,
    b.seconds);
  const { body, openings } = await sealVerdict(plain, salts);
  assert.deepEqual(openings, { value: { value: b.value, salt: salts.value },
    rationale: { value: b.rationale, salt: salts.rationale } });
  const bytes = await signEntry(id, SEALED_VERDICT_KIND, body, time);
  assert.equal(decoder.decode(bytes), entry);
  const fresh = await sealVerdict(plain);
  assert.notEqual(fresh.openings.value.salt, salts.value);
  assert.equal(fresh.body.value.commitment,
    await commitmentOf(plain.value, fresh.openings.value.salt));
  await assert.rejects(commitmentOf("x", "short"), SignError);
});
