// The browser's verifier (src/aiwork/console/verify.js) in Node: every RFC 9162 inclusion
// vector accepted or refused as labelled, and what the Python log made (entries, proofs, a
// checkpoint) verifying, and refused once altered. Run by tests/test_explorer.py.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import {
  VerifyError, b64decode, parseVerifierKey, verifyCheckpoint, verifyCosignature, verifyEntry,
  verifyInclusion,
  leafHash,
} from "../../src/aiwork/console/verify.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const VECTORS = process.env.AIWORK_RFC9162_VECTORS || join(here, "..", "data", "rfc9162");

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : name.endsWith(".json") ? [path] : [];
  });
}

const inclusion = files(join(VECTORS, "inclusion"));

test("the inclusion vector set is there", () => {
  assert.ok(inclusion.length > 80, `only ${inclusion.length} vectors under ${VECTORS}`);
});

for (const path of inclusion) {
  test(`inclusion vector ${path.slice(VECTORS.length + 1)}`, async () => {
    const v = JSON.parse(readFileSync(path, "utf8"));
    const check = () => verifyInclusion(v.leafIdx, v.treeSize, b64decode(v.leafHash || ""),
      (v.proof || []).map((h) => b64decode(h)), b64decode(v.root || ""));
    if (v.wantErr) await assert.rejects(check, VerifyError);
    else await check();
  });
}

const made = process.env.AIWORK_PYTHON_LOG ? JSON.parse(readFileSync(process.env.AIWORK_PYTHON_LOG, "utf8")) : null;

test("what the Python log made verifies, and refuses when altered", async () => {
  // tests/test_explorer.py writes the file and names it; run alone, this test says so and fails.
  assert.ok(made, "AIWORK_PYTHON_LOG names no file of entries made by the Python log");
  const key = await parseVerifierKey(made.key);
  const checkpoint = await verifyCheckpoint(made.checkpoint, key);
  assert.equal(checkpoint.size, made.entries.length);
  assert.deepEqual(checkpoint.cosigners, []);
  for (const [index, item] of made.entries.entries()) {
    const bytes = b64decode(item.entry);
    const entry = await verifyEntry(bytes);
    assert.equal(entry.kind, item.kind);
    const proof = item.proof.hashes.map((h) => b64decode(h));
    await verifyInclusion(index, checkpoint.size, await leafHash(bytes), proof, checkpoint.root);
    if (proof.length) {
      const bad = proof.map((h, i) => (i === 0 ? h.map((b, j) => (j === 0 ? b ^ 1 : b)) : h));
      await assert.rejects(verifyInclusion(index, checkpoint.size, await leafHash(bytes), bad, checkpoint.root), VerifyError);
    }
    const altered = new TextEncoder().encode(new TextDecoder().decode(bytes).replace('"kind":"', '"kind":"x'));
    await assert.rejects(verifyEntry(altered), VerifyError);
  }
  // One changed character of the signed body, and a note signed by another key.
  await assert.rejects(verifyCheckpoint(made.checkpoint.replace("\n", "x\n"), key), /does not verify/);
  const other = await parseVerifierKey(made.other_key);
  await assert.rejects(verifyCheckpoint(made.checkpoint, other), /not signed by/);
  // A witness's cosignature: checked with its key (type 0x04), refused with another's or
  // when it is dated an hour ahead.
  const witness = await parseVerifierKey(made.witness, 4, "the witness key");
  const cosigned = await verifyCheckpoint(made.cosigned, key);
  assert.deepEqual(cosigned.cosigners, [witness.name]);
  assert.ok(Math.abs(await verifyCosignature(cosigned, witness) - Date.now() / 1000) < 600);
  await assert.rejects(verifyCosignature(checkpoint, witness), /no cosignature/);
  await assert.rejects(verifyCosignature(await verifyCheckpoint(made.cosigned_future, key), witness), /future/);
  await assert.rejects(parseVerifierKey(made.witness), /not an Ed25519 note key/);
  const forged = { ...cosigned, body: cosigned.body.replace("\n", "x\n") };
  await assert.rejects(verifyCosignature(forged, witness), /does not verify/);
  await assert.rejects(parseVerifierKey(made.key.replace(/\+[0-9a-f]{8}\+/, "+00000000+")), /key id/);
});
