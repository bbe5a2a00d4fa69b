// A sensitive library's access log, checked in the browser as aiwork's Python checker does
// (aiwork/client/access_log.py): the listing's checkpoint signed by the log's key; each
// library.* and access.read entry well signed, by the identity that created the library, and
// included in that checkpoint at its index (RFC 9162); the changes chained (prev) and counting
// the reads before them; the reads numbered from 0 with no gap, each naming the index and
// leaf hash of the one before; their number the listing's. Each entry gets its own verdict,
// so the page can say which one failed and why.
import {
  VerifyError, b64decode, hex, leafHash, verifyCheckpoint, verifyEntry, verifyInclusion,
} from "./verify.js";

const encoder = new TextEncoder();

function reason(error) {
  return error instanceof VerifyError ? error.message
    : "it is not what the API documents (a malformed listing)";
}

async function proven(item, size, root) {
  if (item === null || typeof item !== "object" || !Number.isSafeInteger(item.index)
      || typeof item.entry !== "string" || item.proof === null || typeof item.proof !== "object") {
    throw new VerifyError("the listing's entry is not {index, entry, proof}");
  }
  const bytes = encoder.encode(item.entry);
  const entry = await verifyEntry(bytes);
  const proof = item.proof;
  if (proof.leaf_index !== item.index || proof.tree_size !== size || !Array.isArray(proof.hashes)) {
    throw new VerifyError(`its proof is for entry ${proof.leaf_index} of a tree of size ${proof.tree_size}, not ${item.index} of ${size}`);
  }
  const leaf = await leafHash(bytes);
  await verifyInclusion(item.index, size, leaf, proof.hashes.map((h) => b64decode(h, "a proof hash")), root);
  return { entry, leaf };
}

/** Checks ``listing`` (GET /v1/libraries/{id}/access, all pages joined) against the log key
 * ``key`` (parseVerifierKey's) for ``library``: {ok, checkpoint: {ok, size, reason},
 * changes: [...], reads: [...], count: {ok, reason}}, each entry {index, ok, reason, entry}.
 * ``known``: ledger indexes of reads of this library seen verified before, which must still be
 * listed (reads cut off the end of the chain are caught only so). */
export async function verifyAccessListing(listing, key, library, known = []) {
  const out = { ok: false, checkpoint: { ok: false, size: null, reason: null }, changes: [], reads: [],
    count: { ok: false, reason: null } };
  if (listing === null || typeof listing !== "object" || !Array.isArray(listing.changes)
      || !Array.isArray(listing.entries) || typeof listing.checkpoint !== "string") {
    out.checkpoint.reason = "the coordinator's answer is not an access listing";
    return out;
  }
  let checkpoint = null;
  try {
    checkpoint = await verifyCheckpoint(listing.checkpoint, key);
    if (listing.size !== checkpoint.size) throw new VerifyError(`the listing says size ${listing.size}, its checkpoint ${checkpoint.size}`);
    out.checkpoint = { ok: true, size: checkpoint.size, reason: null };
  } catch (error) {
    out.checkpoint.reason = reason(error);
  }
  let signer = null;
  let previous = null;
  for (const [n, item] of listing.changes.entries()) {
    const row = { index: item && item.index, ok: false, reason: null, entry: null };
    try {
      if (!checkpoint) throw new VerifyError("not checked: the checkpoint did not verify");
      const { entry } = await proven(item, checkpoint.size, checkpoint.root);
      row.entry = entry;
      const expected = n === 0 ? "library.created/v1" : "library.updated/v1";
      const body = entry.body || {};
      if (entry.kind !== expected) throw new VerifyError(`it is a ${entry.kind} entry, not ${expected}`);
      if (body.library !== library) throw new VerifyError(`it is about library ${body.library}, not ${library}`);
      signer = signer || entry.author;
      if (entry.author !== signer) throw new VerifyError(`it is signed by ${entry.author}, not by ${signer}`);
      if (n && body.prev !== previous) throw new VerifyError(`it follows entry ${body.prev}, but the change listed before it is entry ${previous}: a change is missing`);
      row.ok = true;
    } catch (error) {
      row.reason = reason(error);
    }
    previous = item && item.index;
    out.changes.push(row);
  }
  let prevIndex = null;
  let prevLeaf = null;
  for (const [n, item] of listing.entries.entries()) {
    const row = { index: item && item.index, ok: false, reason: null, entry: null };
    let leaf = null;
    try {
      if (!checkpoint) throw new VerifyError("not checked: the checkpoint did not verify");
      if (!signer) throw new VerifyError("not checked: the library's creation is not proven");
      const checked = await proven(item, checkpoint.size, checkpoint.root);
      const { entry } = checked;
      leaf = checked.leaf;
      row.entry = entry;
      const body = entry.body || {};
      if (entry.kind !== "access.read/v1") throw new VerifyError(`it is a ${entry.kind} entry, not access.read/v1`);
      if (body.library !== library) throw new VerifyError(`it is about library ${body.library}, not ${library}`);
      if (entry.author !== signer) throw new VerifyError(`it is signed by ${entry.author}, not by ${signer}`);
      if (body.seq !== n) {
        throw new VerifyError(`it has seq ${body.seq}: ` + (body.seq > n ? `${body.seq - n} reads before it are missing` : "the reads are out of order"));
      }
      if (body.prev !== prevIndex || body.prev_leaf !== prevLeaf) throw new VerifyError(`it follows entry ${body.prev}, but the read listed before it is entry ${prevIndex}`);
      row.ok = true;
    } catch (error) {
      row.reason = reason(error);
    }
    prevIndex = item && item.index;
    prevLeaf = leaf ? hex(leaf) : null;
    out.reads.push(row);
  }
  const problems = [];
  if (listing.reads !== listing.entries.length) problems.push(`the listing counts ${listing.reads} reads but holds ${listing.entries.length}`);
  for (const change of out.changes) {
    const counted = change.entry && change.entry.body ? change.entry.body.reads ?? 0 : null;
    const before = out.reads.filter((r) => r.index < change.index).length;
    if (counted !== null && counted !== before) problems.push(`the change at entry ${change.index} counts ${counted} reads before it, the listing ${before}: reads are missing`);
  }
  if (!out.changes.length) problems.push(`the listing has no library.created entry for ${library}`);
  const listed = new Set(out.reads.map((r) => r.index));
  for (const index of known) {
    if (!listed.has(index)) problems.push(`the read at ledger index ${index}, known from before, is not listed: the access log was cut short`);
  }
  out.count = { ok: problems.length === 0, reason: problems.join("; ") || null };
  out.ok = out.checkpoint.ok && out.count.ok && out.changes.every((c) => c.ok) && out.reads.every((r) => r.ok);
  return out;
}
