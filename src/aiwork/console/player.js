// The console's video player, shared by the review page and the requester dashboard: a native
// <video> on the blob route (the browser fetches the real file with HTTP ranges; nothing is
// decoded on the server), playback from 0.25x to 4x, frame-accurate stepping at the file's own
// frame rate, and a segment that can be replayed. One key per action (playerKey), shown on
// screen; the keys A, R, C, S, N, B and U belong to the review page.

export const RATES = [0.25, 0.5, 1, 1.5, 2, 4];
export const ASSUMED_FPS = 25;

// The keys the player answers, in the order they are shown.
export const PLAYER_KEYS = [
  [" ", "Space", "play / pause"],
  [",", ",", "one frame back"],
  [".", ".", "one frame forward"],
  ["[", "[", "slower"],
  ["]", "]", "faster"],
  ["p", "P", "replay the segment"],
];

// A frame rate as the file has it: a rate given rounded (29.97, 23.976, 59.94) is the NTSC
// rate n*1000/1001 it stands for, so a step lands on the right frame an hour in.
export function exactFps(fps) {
  const value = Number(fps);
  if (!Number.isFinite(value) || value <= 0 || value > 1000) return null;
  for (const base of [24, 30, 48, 60, 120]) {
    const ntsc = (base * 1000) / 1001;
    if (Math.abs(value - ntsc) < 0.0015) return ntsc;
  }
  return value;
}

// A time as h:mm:ss.mmm (or m:ss.mmm under an hour).
export function clock(seconds) {
  const t = Math.max(0, Number(seconds) || 0);
  const ms = Math.round(t * 1000);
  const h = Math.floor(ms / 3600000);
  const m = Math.floor((ms % 3600000) / 60000);
  const s = ((ms % 60000) / 1000).toFixed(3).padStart(6, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

function element(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "class") node.className = value;
    else if (name.startsWith("data-") || name.startsWith("aria-")) node.setAttribute(name, value);
    else node[name] = value;
  }
  node.append(...children);
  return node;
}

function button(text, label, action) {
  const node = element("button", { type: "button", textContent: text, "aria-label": label,
    title: label });
  node.addEventListener("click", action);
  return node;
}

// Mount a player in ``container`` (emptied first). ``src``: the video's URL (the blob route);
// ``poster``: an image URL or null; ``fps``: the file's frame rate (null: unknown, stepping
// assumes 25 and says so); ``duration``: seconds, when known before the file's header is read;
// ``label``: what the video is, for assistive technology; ``renew``: for a URL that expires (a
// sensitive library's media grant), an async function giving a fresh one, asked when the
// video fails to load (playback resumes where it was; at most once a minute).
export function mountPlayer(container, { src, poster = null, fps = null, duration = null,
                                         label = "the video", renew = null } = {}) {
  const exact = exactFps(fps);
  const frameRate = exact ?? ASSUMED_FPS;
  const listeners = new Set();
  let segment = null;       // { start, end } replayed by P
  let stopAt = null;        // where playRange pauses
  let frameCallback = null; // the pending requestVideoFrameCallback, while playing
  let destroyed = false;

  const video = element("video", { preload: "metadata", playsInline: true, controls: true,
    "aria-label": label });
  video.disablePictureInPicture = true;
  if (poster) video.poster = poster;
  const play = button("Play", "play or pause (Space)", () => toggle());
  const back = button("◀ frame", "one frame back (,)", () => step(-1));
  const forward = button("frame ▶", "one frame forward (.)", () => step(1));
  const slower = button("slower", "slower ([)", () => nudgeRate(-1));
  const faster = button("faster", "faster (])", () => nudgeRate(1));
  const replay = button("replay", "replay the segment (P)", () => replaySegment());
  replay.disabled = true;
  const rate = element("output", { class: "player-rate", "aria-live": "polite",
    "aria-label": "playback rate" }, "1×");
  const time = element("output", { class: "player-time", "aria-label": "position" });
  const note = element("p", { class: "player-note", role: "status" });
  const keys = element("ul", { class: "keys player-keys", "aria-label": "Player keys" },
    ...PLAYER_KEYS.map(([, shown, what]) => element("li", {}, element("kbd", {}, shown), ` ${what}`)));
  const bar = element("div", { class: "player-bar", role: "group", "aria-label": "Player" },
    play, back, forward, slower, rate, faster, replay, time);
  const root = element("div", { class: "player" }, video, bar, note, keys);
  if (exact === null) {
    note.textContent = `The file's frame rate is not known: a step is 1/${ASSUMED_FPS} s.`;
  }
  container.replaceChildren(root);

  const length = () => (Number.isFinite(video.duration) && video.duration > 0 ? video.duration
    : Number(duration) || 0);
  const frameOf = (t) => Math.floor(t * frameRate + 1e-6);

  function show() {
    const t = video.currentTime;
    time.textContent = `${clock(t)} / ${clock(length())} · frame ${frameOf(t)}`
      + ` · ${Math.round(frameRate * 1000) / 1000} fps`;
    play.textContent = video.paused ? "Play" : "Pause";
  }

  function tell() {
    show();
    for (const cb of listeners) cb(video.currentTime);
  }

  // While playing, the time is told at every frame shown (not only at timeupdate's 4 Hz), and
  // a range played stops at its end.
  function onFrame(_now, meta) {
    frameCallback = null;
    if (destroyed) return;
    if (stopAt !== null && meta.mediaTime >= stopAt - 0.5 / frameRate) {
      stopAt = null;
      video.pause();
    }
    tell();
    watch();
  }

  function watch() {
    if (destroyed || video.paused || frameCallback !== null) return;
    if (typeof video.requestVideoFrameCallback === "function") {
      frameCallback = video.requestVideoFrameCallback(onFrame);
    }
  }

  video.addEventListener("play", () => { watch(); show(); });
  video.addEventListener("pause", show);
  video.addEventListener("seeked", tell);
  video.addEventListener("loadedmetadata", tell);
  video.addEventListener("timeupdate", () => {
    if (stopAt !== null && video.currentTime >= stopAt) { stopAt = null; video.pause(); }
    tell();
  });
  video.addEventListener("ratechange", () => {
    rate.textContent = `${video.playbackRate}×`;
  });
  let renewedAt = -Infinity;  // when ``renew`` was last asked (performance.now(), ms)
  video.addEventListener("error", async () => {
    if (renew !== null && !destroyed && performance.now() - renewedAt > 60000) {
      renewedAt = performance.now();
      const at = video.readyState >= 1 ? video.currentTime : null;  // null: never loaded
      const playing = !video.paused;
      try {
        const fresh = await renew();
        if (destroyed) return;
        if (at !== null) {
          video.addEventListener("loadedmetadata", () => {
            video.currentTime = at;
            if (playing) video.play().catch(() => {});
          }, { once: true });
        }
        video.src = fresh;
        return;
      } catch { /* said below */ }
    }
    note.textContent = "The video cannot be played here.";
    note.classList.add("error");
  });
  video.src = src;

  function seek(t) {
    const end = length();
    const target = Math.max(0, end > 0 ? Math.min(Number(t) || 0, end) : Number(t) || 0);
    video.currentTime = target;
    show();
    return target;
  }

  // ``frames`` frames from the one shown, landing on the middle of the frame (a time on a
  // frame's edge may show either neighbour); playback pauses first.
  function step(frames) {
    video.pause();
    stopAt = null;
    const count = Math.trunc(Number(frames) || 0);
    const last = Math.max(0, Math.floor(length() * frameRate - 1e-6));
    const frame = Math.min(Math.max(frameOf(video.currentTime) + count, 0),
      length() > 0 ? last : Infinity);
    return seek((frame + 0.5) / frameRate);
  }

  function setRate(r) {
    const wanted = Number(r);
    const chosen = RATES.reduce((best, x) => (Math.abs(x - wanted) < Math.abs(best - wanted) ? x
      : best), 1);
    video.defaultPlaybackRate = chosen;
    video.playbackRate = chosen;
    rate.textContent = `${chosen}×`;
    return chosen;
  }

  function nudgeRate(direction) {
    const at = RATES.indexOf(video.playbackRate);
    const index = at < 0 ? RATES.indexOf(1) : at + direction;
    return setRate(RATES[Math.min(Math.max(index, 0), RATES.length - 1)]);
  }

  function toggle() {
    stopAt = null;
    if (video.paused) return video.play().catch(() => {});
    video.pause();
    return Promise.resolve();
  }

  function setSegment(start, end) {
    const a = Number(start);
    const b = Number(end);
    segment = Number.isFinite(a) && Number.isFinite(b) && b > a ? { start: a, end: b } : null;
    replay.disabled = segment === null;
    return segment;
  }

  // Play from ``start`` and pause at ``end`` (it becomes the segment P replays).
  function playRange(start, end) {
    if (setSegment(start, end) === null) return Promise.resolve();
    return replaySegment();
  }

  function replaySegment() {
    if (segment === null) return Promise.resolve();
    seek(segment.start);
    stopAt = segment.end;
    return video.play().catch(() => {});
  }

  function onTime(cb) {
    listeners.add(cb);
    return () => listeners.delete(cb);
  }

  function destroy() {
    destroyed = true;
    listeners.clear();
    if (frameCallback !== null && typeof video.cancelVideoFrameCallback === "function") {
      video.cancelVideoFrameCallback(frameCallback);
    }
    video.pause();
    video.removeAttribute("src");
    video.load();  // stops fetching the file
    root.remove();
  }

  // The frame shown at ``t`` (default: now), and the middle of frame ``n``: what a page that
  // nudges a time frame by frame needs.
  const frameAt = (t = video.currentTime) => frameOf(Number(t) || 0);
  const frameTime = (n) => (Math.max(0, Math.trunc(Number(n) || 0)) + 0.5) / frameRate;

  show();
  return { video, fps: frameRate, fpsKnown: exact !== null, seek, step, setRate, nudgeRate,
    toggle, playRange, setSegment, replaySegment, onTime, destroy, frameAt, frameTime,
    get segment() { return segment; } };
}

function typing(target) {
  return target instanceof HTMLElement && (target.isContentEditable
    || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

// The player's keys; true when the key was the player's (and it acted). Keys with Ctrl, Alt or
// Meta are left to the browser; nothing is taken while the person types in a field; Space on
// a focused button presses that button.
export function playerKey(player, event) {
  if (!player || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) {
    return false;
  }
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  if (key === " " && event.target instanceof HTMLElement
      && event.target.closest("button, a, summary, video")
      && !(event.target instanceof HTMLVideoElement)) return false;
  let act = null;
  if (key === " ") act = () => player.toggle();
  else if (key === ",") act = () => player.step(-1);
  else if (key === ".") act = () => player.step(1);
  else if (key === "[") act = () => player.nudgeRate(-1);
  else if (key === "]") act = () => player.nudgeRate(1);
  else if (key === "p") act = () => player.replaySegment();
  if (act === null) return false;
  event.preventDefault();
  act();
  return true;
}
