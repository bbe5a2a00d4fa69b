// The requester's upload (src/aiwork/console/upload.js) in Node: its SHA-256, fed piece by
// piece at every awkward boundary, is Node's own; a file is told a video or not by its bytes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { Sha256, checkVideo, digestFile } from "../../src/aiwork/console/upload.js";
import { PageError } from "../../src/aiwork/console/session.js";

const sample = readFileSync(fileURLToPath(new URL("../../samples/sample.mp4", import.meta.url)));

function bytes(n) {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 1) out[i] = (i * 131 + (i >> 7)) & 255;
  return out;
}

test("the streamed SHA-256 is the standard one, whatever the lengths and pieces", () => {
  for (const n of [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 70000]) {
    const data = bytes(n);
    const expected = createHash("sha256").update(data).digest("hex");
    for (const piece of [1, 7, 63, 64, 65, 4096]) {
      const hash = new Sha256();
      for (let at = 0; at < n; at += piece) hash.update(data.subarray(at, at + piece));
      assert.equal(Buffer.from(hash.digest()).toString("hex"), expected, `${n} bytes by ${piece}`);
    }
  }
  assert.equal(Buffer.from(new Sha256().update(new TextEncoder().encode("abc")).digest()).toString("hex"),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
});

test("a file's digest is read in pieces and reported as it goes", async () => {
  const file = new Blob([sample]);
  const seen = [];
  const digest = await digestFile(file, (done, total) => seen.push([done, total]));
  assert.equal(digest, "sha256:" + createHash("sha256").update(sample).digest("hex"));
  assert.deepEqual(seen.at(-1), [sample.length, sample.length]);
});

test("the sample video is an MP4; text, an image and an empty file are refused with what they are", async () => {
  assert.equal(await checkVideo(new File([sample], "sample.mp4")), "MP4 or QuickTime");
  const refused = async (parts, name) => {
    const error = await checkVideo(new File(parts, name)).then(() => null, (e) => e);
    assert.ok(error instanceof PageError, `${name} was not refused`);
    return error.message;
  };
  assert.match(await refused(["this is not a video\n".repeat(40)], "notes.mp4"),
    /“notes\.mp4” is not a video: its content is text/);
  assert.match(await refused([Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, ...bytes(60)])], "x.mov"),
    /a JPEG image/);
  assert.match(await refused([], "empty.mp4"), /is empty/);
  assert.match(await refused(["G".repeat(400)], "g.ts"), /its content is text/);
});
