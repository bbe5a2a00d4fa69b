// The timeline's reading of a job's results (src/aiwork/console/timeline.js) in Node: one lane
// per insight in a fixed order, one item per instance, keys, labels and human states, and
// the review item's key found by its range. Run by tests/test_console_player.py.
import { test } from "node:test";
import assert from "node:assert/strict";

import { durationOf, keyFor, lanesFromResults } from "../../src/aiwork/console/timeline.js";
import { clock, exactFps } from "../../src/aiwork/console/player.js";

const KF = `sha256:${"ab".repeat(32)}`;
const doc = {
  job: { id: "0".repeat(32) },
  results: {
    technical: { duration: 12.5, frame_rate: 29.97 },
    shots: [
      { id: 0, decision: 3, instances: [{ start: 0, end: 4.2 }], keyframe: { time: 1, file: "keyframes/a.jpg", digest: KF } },
      { id: 1, decision: 3, instances: [{ start: 4.2, end: 12.5 }], transition: { kind: "cut", start: 4.2, end: 4.2 } },
    ],
    transcript: { language: "en", segments: [
      { id: 0, decision: 5, text: "hello", instances: [{ start: 0.5, end: 2 }] },
      { id: 2, decision: 5, text: "world", instances: [{ start: 3, end: 4 }] },
    ] },
    tags: [{ id: 0, decision: 6, label: "dog", source: "imagenet:n1",
      instances: [{ start: 5, end: 6 }, { start: 1, end: 2 }] }],
    ocr: [{ id: 4, decision: 7, text: "EXIT", instances: [] }],
    stale: [{ insight: "chapters" }],
  },
};

test("one lane per insight present, in the console's order", () => {
  const lanes = lanesFromResults(doc);
  assert.deepEqual(lanes.map((l) => [l.insight, l.label, l.items.length]),
    [["shots", "Shots", 2], ["transcript", "Transcript", 2], ["ocr", "On-screen text", 0],
      ["tags", "Tags", 2]]);
});

test("items carry their key, range, label, decision and keyframe; instances sorted", () => {
  const [shots, transcript, , tags] = lanesFromResults(doc.results);
  assert.deepEqual(shots.items[0], { key: "shots:0", id: 0, start: 0, end: 4.2, label: "shot 1",
    decision: 3, state: "ai", keyframe: KF });
  assert.equal(shots.items[1].label, "shot 2 (cut)");
  assert.equal(transcript.items[1].key, "transcript:2");
  assert.deepEqual(tags.items.map((it) => [it.key, it.start]), [["tags:0", 1], ["tags:0", 5]]);
});

test("human outcomes from the job's review progress mark items", () => {
  const review = { human_verified: { transcript: { 0: { outcome: "accepted", consensus: 9 },
    2: { outcome: "corrected", consensus: 10 } }, shots: { 1: { outcome: "rejected" } } } };
  const [shots, transcript] = lanesFromResults(doc, review);
  assert.deepEqual(transcript.items.map((it) => it.state), ["verified", "corrected"]);
  assert.deepEqual(shots.items.map((it) => it.state), ["ai", "rejected"]);
});

test("hostile or partial documents give no lane rather than an exception", () => {
  assert.deepEqual(lanesFromResults(null), []);
  assert.deepEqual(lanesFromResults({ results: { shots: "x", transcript: 3, tags: [null, 5,
    { id: 1, label: "<b>", instances: [{ start: "a" }, { start: -1, end: 2 }, { start: 2 }] }] } }),
  [{ insight: "tags", label: "Tags", items: [{ key: "tags:1", id: 1, start: 2, end: 2,
    label: "<b>", decision: null, state: "ai" }] }]);
});

test("the video's length, and the review item's key by range", () => {
  const lanes = lanesFromResults(doc);
  assert.equal(durationOf(doc, lanes), 12.5);
  assert.equal(durationOf({ results: { shots: doc.results.shots } }, lanes), 12.5);
  assert.equal(keyFor(lanes, { insight: "shots", start: 3.2, end: 5.2, value: 4.2 }), "shots:1");
  assert.equal(keyFor(lanes, { insight: "transcript", start: 2.9, end: 4.1 }), "transcript:2");
  assert.equal(keyFor(lanes, { insight: "transcript", id: 0 }), "transcript:0");
  assert.equal(keyFor(lanes, { insight: "faces", start: 1 }), null);
});

test("a rounded NTSC rate is the exact one; times read as a clock", () => {
  assert.equal(exactFps(29.97), 30000 / 1001);
  assert.equal(exactFps(23.976), 24000 / 1001);
  assert.equal(exactFps(25), 25);
  assert.equal(exactFps("x"), null);
  assert.equal(exactFps(0), null);
  assert.equal(clock(3725.5), "1:02:05.500");
  assert.equal(clock(65.25), "1:05.250");
});
