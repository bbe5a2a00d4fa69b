// A video from the requester's disk to the coordinator (PUT /v1/blobs/{digest}): looked at
// first (a file that is not a video is refused here, with the reason), hashed while read in
// pieces (SHA-256 in this module, so a 2 GiB file never sits in memory; WebCrypto's digest
// takes the whole file at once), then sent by XMLHttpRequest, whose upload events drive the
// progress bar (fetch reports no upload progress). The request is signed over that digest;
// the coordinator hashes the body again and refuses bytes that do not match.
import { PageError, refusal } from "./session.js";
import { signRequest } from "./sign.js";
import { hex } from "./verify.js";

// -- SHA-256 (FIPS 180-4), fed piece by piece --------------------------------------------------

// Int32 arrays throughout: V8 keeps 32-bit signed values unboxed, unsigned ones above 2^31 not.
const K = Int32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

export class Sha256 {
  constructor() {
    this.h = Int32Array.from([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
      0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
    this.w = new Int32Array(64);
    this.block = new Uint8Array(64);
    this.held = 0;    // bytes of `block` filled
    this.length = 0;  // bytes fed so far
  }

  compress(bytes, at) {
    const w = this.w;
    const h = this.h;
    for (let i = 0; i < 16; i += 1) {
      const j = at + i * 4;
      w[i] = (bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3];
    }
    for (let i = 16; i < 64; i += 1) {
      const a = w[i - 15];
      const b = w[i - 2];
      const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
      const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
      w[i] = (((w[i - 16] + s0) | 0) + ((w[i - 7] + s1) | 0)) | 0;
    }
    let a = h[0]; let b = h[1]; let c = h[2]; let d = h[3];
    let e = h[4]; let f = h[5]; let g = h[6]; let k = h[7];
    for (let i = 0; i < 64; i += 1) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (((((k + S1) | 0) + ((e & f) ^ (~e & g))) | 0) + ((K[i] + w[i]) | 0)) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      k = g; g = f; f = e; e = (d + t1) | 0;
      d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    h[0] = (h[0] + a) | 0; h[1] = (h[1] + b) | 0; h[2] = (h[2] + c) | 0; h[3] = (h[3] + d) | 0;
    h[4] = (h[4] + e) | 0; h[5] = (h[5] + f) | 0; h[6] = (h[6] + g) | 0; h[7] = (h[7] + k) | 0;
  }

  update(bytes) {
    let at = 0;
    this.length += bytes.length;
    if (this.held) {
      const take = Math.min(64 - this.held, bytes.length);
      this.block.set(bytes.subarray(0, take), this.held);
      this.held += take;
      at = take;
      if (this.held < 64) return this;
      this.compress(this.block, 0);
      this.held = 0;
    }
    for (; at + 64 <= bytes.length; at += 64) this.compress(bytes, at);
    this.block.set(bytes.subarray(at), 0);
    this.held = bytes.length - at;
    return this;
  }

  /** The digest (32 bytes); the hash takes nothing more after it. */
  digest() {
    const bits = this.length * 8;
    const tail = new Uint8Array(this.held < 56 ? 64 : 128);
    tail.set(this.block.subarray(0, this.held));
    tail[this.held] = 0x80;
    const view = new DataView(tail.buffer);
    view.setUint32(tail.length - 8, Math.floor(bits / 0x100000000));
    view.setUint32(tail.length - 4, bits >>> 0);
    for (let at = 0; at < tail.length; at += 64) this.compress(tail, at);
    const out = new Uint8Array(32);
    const outView = new DataView(out.buffer);
    this.h.forEach((word, i) => outView.setInt32(i * 4, word));
    return out;
  }
}

const PIECE = 4 << 20;  // bytes read from the disk at a time

/** "sha256:HEX" of a File (or Blob), read PIECE bytes at a time; `onProgress(done, total)`. */
export async function digestFile(file, onProgress = () => {}) {
  const hash = new Sha256();
  for (let at = 0; at < file.size; at += PIECE) {
    let piece;
    try {
      piece = new Uint8Array(await file.slice(at, at + PIECE).arrayBuffer());
    } catch {
      throw new PageError("the file could not be read from the disk (was it moved or deleted?)");
    }
    hash.update(piece);
    onProgress(Math.min(at + PIECE, file.size), file.size);
  }
  return "sha256:" + hex(hash.digest());
}

// -- what the file is ----------------------------------------------------------------------------

const ascii = (bytes, at, text) => [...text].every((c, i) => bytes[at + i] === c.charCodeAt(0));

// The containers aiwork's decoder (FFmpeg, through PyAV) reads, told by their first bytes.
const CONTAINERS = [
  ["MP4 or QuickTime", (b) => ["ftyp", "moov", "mdat", "wide", "free", "skip"].some((t) => ascii(b, 4, t))],
  ["Matroska or WebM", (b) => b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3],
  ["AVI", (b) => ascii(b, 0, "RIFF") && ascii(b, 8, "AVI ")],
  ["MPEG transport stream", (b) => b.length > 376 && [0, 188, 376].every((at) => b[at] === 0x47)
    && !looksLikeText(b)],
  ["MPEG program stream", (b) => b[0] === 0 && b[1] === 0 && b[2] === 1 && b[3] === 0xba],
  ["Ogg", (b) => ascii(b, 0, "OggS")],
  ["Flash video", (b) => ascii(b, 0, "FLV")],
  ["ASF or WMV", (b) => [0x30, 0x26, 0xb2, 0x75, 0x8e, 0x66, 0xcf, 0x11].every((x, i) => b[i] === x)],
];

const KNOWN_OTHERS = [
  ["a JPEG image", (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff],
  ["a PNG image", (b) => b[0] === 0x89 && ascii(b, 1, "PNG")],
  ["a GIF image", (b) => ascii(b, 0, "GIF8")],
  ["a PDF document", (b) => ascii(b, 0, "%PDF")],
  ["a ZIP archive (or an office document)", (b) => ascii(b, 0, "PK\u0003\u0004")],
  ["a WAV sound", (b) => ascii(b, 0, "RIFF") && ascii(b, 8, "WAVE")],
  ["an MP3 sound", (b) => ascii(b, 0, "ID3") || (b[0] === 0xff && (b[1] & 0xe0) === 0xe0)],
];

function looksLikeText(bytes) {
  if (bytes.length === 0) return false;
  let text;
  try { text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, Math.min(bytes.length, 1024))); } catch { return false; }
  return !/[\u0000-\u0008\u000e-\u001f]/.test(text);
}

/** The container of a video file, from its first bytes; a PageError saying what the file is
 * instead when it is not a video aiwork reads. */
export async function checkVideo(file) {
  if (!file) throw new PageError("choose a video file first");
  if (file.size === 0) throw new PageError(`“${file.name}” is empty: it holds no video`);
  let head;
  try {
    head = new Uint8Array(await file.slice(0, 4096).arrayBuffer());
  } catch {
    throw new PageError(`“${file.name}” could not be read from the disk`);
  }
  const found = CONTAINERS.find(([, test]) => head.length >= 12 && test(head));
  if (found) return found[0];
  const other = KNOWN_OTHERS.find(([, test]) => head.length >= 12 && test(head));
  const what = other ? other[0] : looksLikeText(head) ? "text" : "not a video format aiwork reads";
  throw new PageError(`“${file.name}” is not a video: its content is ${what}, whatever its name `
    + "says. Choose an MP4, MOV, WebM, MKV, AVI, MPEG or Ogg video file.");
}

// -- the coordinator ----------------------------------------------------------------------------

/** Whether the coordinator already holds this blob and lets this caller read it: one byte asked
 * for (an HTTP range), so an upload it holds need not be sent again. */
export async function held(id, digest) {
  const path = `/v1/blobs/${digest}`;
  const headers = { ...await signRequest(id, "GET", path, new Uint8Array()), Range: "bytes=0-0" };
  try {
    const answer = await fetch(path, { headers });
    // Read to its end (one byte, or a short refusal): a body left unread would cost the
    // connection, which the next request may be about to use.
    if (answer.status !== 200) await answer.arrayBuffer();
    else await answer.body?.cancel();
    return answer.status === 206 || answer.status === 200;
  } catch {
    return false;
  }
}

/** PUT the file to /v1/blobs/{digest} (into `library` first when given), signed over its
 * digest; `onProgress(sent, total)` as it goes. Resolves to the receipt {digest, size}; a
 * PageError with the coordinator's reason when refused, or when the connection fails. */
export async function uploadBlob(id, file, digest, library, onProgress = () => {}) {
  const path = `/v1/blobs/${digest}` + (library ? `?library=${encodeURIComponent(library)}` : "");
  const headers = await signRequest(id, "PUT", path, null, { bodyDigest: digest });
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", path);
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = (event) => onProgress(event.loaded, event.lengthComputable ? event.total : file.size);
    xhr.onerror = () => reject(new PageError("the upload was cut off (the connection failed); "
      + "try again: it starts over"));
    xhr.onabort = () => reject(new PageError("the upload was stopped"));
    xhr.onload = () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { data = null; }
      if (xhr.status >= 200 && xhr.status < 300 && data && data.digest === digest) {
        resolve(data);
      } else if (xhr.status >= 200 && xhr.status < 300) {
        reject(new PageError("the coordinator's answer to the upload is not a receipt for this file"));
      } else if (xhr.status === 401 && data && /replayed/.test(String(data.message))) {
        // The browser sent this signed request again by itself (a connection that failed
        // after the coordinator had read it): the first one went through if the video is there.
        held(id, digest).then((there) => (there ? resolve({ digest, size: file.size })
          : reject(refusal({ status: xhr.status, statusText: xhr.statusText }, data))));
      } else {
        reject(refusal({ status: xhr.status, statusText: xhr.statusText }, data));
      }
    };
    xhr.send(file);
  });
}
