// The review page's inline correction editors, one per kind of value an item asks about: a
// transcript segment's text (a text area), a tag or an on-screen text (a text field), a cut
// time (a number nudged one frame at a time at the file's frame rate, the video following
// it), a safety level (a choice); anything else as JSON. The value given is checked here the
// way the coordinator checks it (aiwork/quality/review_items.py check_correction), so a
// mistake is said before anything is signed. Enter submits, Escape cancels; in the text area
// Shift+Enter starts a new line.

export const LEVELS = ["none", "low", "medium", "high"];
export const ASSUMED_FPS = 25;
const MAX_TEXT = 10000;

export class CorrectionError extends Error {}

/** The editor an insight's items get: segment, text, cut, level or json. */
export function editorKind(insight) {
  if (insight === "transcript") return "segment";
  if (insight === "ocr" || insight === "tags") return "text";
  if (insight === "shots") return "cut";
  if (insight === "safety") return "level";
  return "json";
}

function rate(fps) {
  const n = Number(fps);
  return Number.isFinite(n) && n > 0 && n <= 1000 ? n : ASSUMED_FPS;
}

/** The frame a cut at ``seconds`` starts (the nearest frame edge). */
export function cutFrame(seconds, fps) {
  return Math.max(0, Math.round(Math.max(0, Number(seconds) || 0) * rate(fps)));
}

/** A cut moved by ``frames`` frames, on a frame edge, in seconds to the millisecond. */
export function nudgeCut(seconds, fps, frames) {
  const frame = Math.max(0, cutFrame(seconds, fps) + Math.trunc(Number(frames) || 0));
  return Math.round((frame / rate(fps)) * 1000) / 1000;
}

/** The corrected value a ``kind`` editor's raw text stands for, or a CorrectionError in words. */
export function parseCorrection(kind, raw) {
  const text = String(raw ?? "");
  if (kind === "segment" || kind === "text") {
    const value = text.trim();
    if (!value) throw new CorrectionError("a correction cannot be empty: reject the item instead");
    if (value.length > MAX_TEXT) throw new CorrectionError("a correction is at most 10,000 characters");
    return value;
  }
  if (kind === "cut") {
    const value = Number(text.trim().replace(",", "."));
    if (!text.trim() || !Number.isFinite(value) || value < 0 || value > 1e7) {
      throw new CorrectionError("a cut is a time in seconds, 0 or more (e.g. 7.44)");
    }
    return value;
  }
  if (kind === "level") {
    if (!LEVELS.includes(text)) throw new CorrectionError(`a safety level is one of ${LEVELS.join(", ")}`);
    return text;
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new CorrectionError("this value is not JSON (a text is written in double quotes)");
  }
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

/** Fill ``box`` with the editor for ``item``; the field gets the id ``value``. ``player``: the
 * page's player (its fps, seek and current time) or null; ``onSubmit()``, ``onCancel()``.
 * Returns { kind, field, read(): the value (or a CorrectionError), nudge(frames) }. */
export function mountEditor(box, item, { player = null, onSubmit, onCancel }) {
  const kind = editorKind(item.insight);
  const fps = rate(player?.fps);
  const hint = element("p", { class: "hint", id: "editor-hint" });
  let field;
  let extra = null;
  const label = element("label", { htmlFor: "value" });
  if (kind === "segment" || kind === "json") {
    field = element("textarea", { id: "value", rows: kind === "json" ? 4 : 3, spellcheck: kind === "segment" });
    field.value = kind === "json" ? JSON.stringify(item.value, null, 1) : String(item.value ?? "");
    label.textContent = kind === "json" ? "The corrected value, as JSON" : "The segment's text, corrected";
    hint.textContent = "Enter signs it · Shift+Enter starts a new line · Escape cancels";
  } else if (kind === "level") {
    field = element("select", { id: "value" }, ...LEVELS.map((level) => element("option", { value: level, textContent: level })));
    field.value = LEVELS.includes(item.value) ? item.value : "none";
    label.textContent = "The right safety level";
    hint.textContent = "Enter signs it · Escape cancels";
  } else {
    field = element("input", { id: "value", type: kind === "cut" ? "number" : "text", autocomplete: "off" });
    if (kind === "cut") {
      field.step = "any";
      field.min = "0";
      field.inputMode = "decimal";
      field.value = String(item.value ?? "");
      label.textContent = "Where the cut is, in seconds";
      const earlier = element("button", { type: "button", textContent: "◀ 1 frame", "aria-label": "the cut one frame earlier (,)" });
      const later = element("button", { type: "button", textContent: "1 frame ▶", "aria-label": "the cut one frame later (.)" });
      const here = element("button", { type: "button", textContent: "Cut at the video's frame" });
      earlier.addEventListener("click", () => nudge(-1));
      later.addEventListener("click", () => nudge(1));
      here.addEventListener("click", () => {
        if (!player) return;
        field.value = String(nudgeCut(player.video.currentTime, fps, 0));
        follow();
      });
      extra = element("div", { class: "cut-tools", role: "group", "aria-label": "Move the cut" }, earlier, later, here);
    } else {
      field.value = String(item.value ?? "");
      label.textContent = item.insight === "tags" ? "The right tag" : "The on-screen text, corrected";
      hint.textContent = "Enter signs it · Escape cancels";
    }
  }

  // The cut: the video shows the first frame after it, and the hint says which frame it is.
  function follow() {
    const value = Number(field.value);
    if (kind !== "cut") return;
    const known = player?.fpsKnown ? "" : " (the file's frame rate is not known)";
    if (!Number.isFinite(value) || value < 0) {
      hint.textContent = "A cut is a time in seconds.";
      return;
    }
    hint.textContent = `Frame ${cutFrame(value, fps)} at ${Math.round(fps * 1000) / 1000} fps${known}`
      + " · , and . or ↑ and ↓ move it one frame · Enter signs it · Escape cancels";
    player?.seek((cutFrame(value, fps) + 0.5) / fps);
  }

  function nudge(frames) {
    field.value = String(nudgeCut(field.value, fps, frames));
    follow();
  }

  field.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      onCancel();
    } else if (event.key === "Enter" && !(event.shiftKey && field.tagName === "TEXTAREA")) {
      event.preventDefault();
      event.stopPropagation();
      onSubmit();
    } else if (kind === "cut" && (event.key === "ArrowUp" || event.key === "ArrowDown")) {
      event.preventDefault();
      nudge(event.key === "ArrowUp" ? 1 : -1);
    }
  });
  if (kind === "cut") field.addEventListener("change", follow);
  box.replaceChildren(...[label, field, extra, hint].filter(Boolean));
  follow();
  return {
    kind,
    field,
    nudge,
    read: () => parseCorrection(kind, field.value),
  };
}
