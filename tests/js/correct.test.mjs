// The review page's correction editors (src/aiwork/console/correct.js) in Node: each insight
// gets its editor, a value is read as the coordinator checks it (aiwork/quality/review_items.py
// check_correction: text trimmed and not empty, a cut a time in seconds, a safety level one
// of four), and a cut moves one frame at a time on the file's frame edges.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
  CorrectionError, cutFrame, editorKind, nudgeCut, parseCorrection,
} from "../../src/aiwork/console/correct.js";

test("each reviewed insight gets its editor, anything else JSON", () => {
  assert.deepEqual(["transcript", "ocr", "tags", "shots", "safety", "keywords"].map(editorKind),
    ["segment", "text", "text", "cut", "level", "json"]);
});

test("a value is read as the coordinator checks it", () => {
  assert.equal(parseCorrection("segment", "  Hello, world.\n"), "Hello, world.");
  assert.equal(parseCorrection("text", "VERIFIED"), "VERIFIED");
  assert.equal(parseCorrection("cut", "7.44"), 7.44);
  assert.equal(parseCorrection("cut", "7,44"), 7.44);
  assert.equal(parseCorrection("level", "medium"), "medium");
  assert.deepEqual(parseCorrection("json", '{"a": [1]}'), { a: [1] });
  for (const [kind, raw] of [["segment", "   "], ["text", "x".repeat(10001)], ["cut", ""],
    ["cut", "-1"], ["cut", "seven"], ["level", "severe"], ["json", "{oops"]]) {
    assert.throws(() => parseCorrection(kind, raw), CorrectionError, `${kind} ${raw.slice(0, 9)}`);
  }
});

test("a cut moves one frame at a time on the file's frame edges", () => {
  assert.equal(nudgeCut(12, 25, 1), 12.04);
  assert.equal(nudgeCut(12, 25, -2), 11.92);
  assert.equal(nudgeCut(12.013, 25, 0), 12);  // onto the nearest edge
  assert.equal(nudgeCut(0, 25, -1), 0);       // never before the start
  assert.equal(cutFrame(12.04, 25), 301);
  const ntsc = 30000 / 1001;                  // an hour in, still on a frame edge
  assert.equal(cutFrame(nudgeCut(3600, ntsc, 1), ntsc), cutFrame(3600, ntsc) + 1);
  assert.equal(nudgeCut(5, null, 1), 5.04);   // frame rate not known: 25 assumed
});
