// The library search's helpers (src/aiwork/console/search.js) in Node: a hit's text cut at
// the coordinator's offsets (Unicode code points) into marked and plain pieces that join back
// into the text whatever the offsets; the search's path as the signature covers it.
import { test } from "node:test";
import assert from "node:assert/strict";

import { pieces, searchPath } from "../../src/aiwork/console/search.js";

const joined = (parts) => parts.map((p) => p.text).join("");
const marked = (parts) => parts.filter((p) => p.match).map((p) => p.text);

test("matches are cut at their offsets, in code points", () => {
  const text = "The budget deficit grew.";
  const parts = pieces(text, [[4, 10], [11, 18]]);
  assert.deepEqual(marked(parts), ["budget", "deficit"]);
  assert.equal(joined(parts), text);
  // Characters outside the BMP count once (Python's offsets), not as two UTF-16 units.
  const emoji = "💰 budget 💸 deficit";
  assert.deepEqual(marked(pieces(emoji, [[2, 8], [11, 18]])), ["budget", "deficit"]);
  assert.deepEqual(marked(pieces("café crème", [[0, 4]])), ["café"]);
});

test("any offsets give pieces that join back into the text", () => {
  const text = "abcdefghij";
  for (const spans of [[], null, "x", [[8, 3]], [[-5, 2]], [[5, 500]], [[2, 6], [4, 8]],
    [[6, 8], [0, 2]], [[1.5, 3]], [["1", "3"]], [[0, 10]], [[3, 3]], [[1, 2, 3]]]) {
    const parts = pieces(text, spans);
    assert.equal(joined(parts), text, JSON.stringify(spans));
  }
  assert.deepEqual(marked(pieces(text, [[2, 6], [4, 8]])), ["cdef", "gh"]);
  assert.deepEqual(marked(pieces(text, [[6, 8], [0, 2]])), ["ab", "gh"]);
  assert.deepEqual(pieces("", [[0, 1]]), [{ text: "", match: false }]);
  assert.equal(joined(pieces(null, [])), "null");
});

test("the search's path carries every field percent-encoded", () => {
  const component = encodeURIComponent;
  assert.equal(searchPath({ q: "budget deficit", insight: "transcript", mode: "hybrid", limit: 20,
    purpose: "legal & audit" }, component),
  "/v1/search?q=budget%20deficit&insight=transcript&mode=hybrid&limit=20&purpose=legal%20%26%20audit");
  assert.equal(searchPath({ q: "a&b=c", mode: "text" }, component), "/v1/search?q=a%26b%3Dc&mode=text&limit=20");
  assert.equal(searchPath({ q: "x" }, component), "/v1/search?q=x&limit=20");
});
