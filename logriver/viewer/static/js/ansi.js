// ANSI SGR escapes (16 colours, 256 colours, truecolour, bold, italic, underline, reset)
// turned into styled spans. Any other escape sequence is dropped rather than shown.

const BASE16 = [
  "#000000", "#cd3131", "#0dbc79", "#c8a700", "#2472c8", "#bc3fbc", "#11a8cd", "#c8c8c8",
  "#666666", "#f14c4c", "#23d18b", "#e5e510", "#3b8eea", "#d670d6", "#29b8db", "#ffffff",
];
const CUBE = [0, 95, 135, 175, 215, 255];
const ESCAPE = /\x1b\[([0-?]*)[ -/]*([@-~])|\x1b[@-Z\\-_]/g;

export function color256(n) {
  if (n < 16) return BASE16[n];
  if (n < 232) {
    const i = n - 16;
    return rgb(CUBE[Math.floor(i / 36)], CUBE[Math.floor(i / 6) % 6], CUBE[i % 6]);
  }
  const level = 8 + 10 * (n - 232);
  return rgb(level, level, level);
}

function rgb(r, g, b) {
  return `rgb(${r}, ${g}, ${b})`;
}

function plain() {
  return { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false, inverse: false };
}

// Reads an extended colour (38/48 ;5;n or ;2;r;g;b) starting at codes[i]; returns [colour, next i].
function extended(codes, i) {
  if (codes[i + 1] === 5 && codes.length > i + 2) return [color256(clamp(codes[i + 2])), i + 3];
  if (codes[i + 1] === 2 && codes.length > i + 4) {
    return [rgb(clamp(codes[i + 2]), clamp(codes[i + 3]), clamp(codes[i + 4])), i + 5];
  }
  return [null, codes.length];
}

function clamp(n) {
  return Math.max(0, Math.min(255, n || 0));
}

export function applySgr(state, params) {
  const codes = params === "" ? [0] : params.split(/[;:]/).map((c) => (c === "" ? 0 : Number(c)));
  let i = 0;
  while (i < codes.length) {
    const code = codes[i];
    if (code === 38 || code === 48) {
      const [colour, next] = extended(codes, i);
      if (colour) state[code === 38 ? "fg" : "bg"] = colour;
      i = next;
      continue;
    }
    applyOne(state, code);
    i += 1;
  }
}

function applyOne(state, code) {
  if (code === 0) Object.assign(state, plain());
  else if (code === 1) state.bold = true;
  else if (code === 2) state.dim = true;
  else if (code === 3) state.italic = true;
  else if (code === 4) state.underline = true;
  else if (code === 7) state.inverse = true;
  else if (code === 22) state.bold = state.dim = false;
  else if (code === 23) state.italic = false;
  else if (code === 24) state.underline = false;
  else if (code === 27) state.inverse = false;
  else if (code >= 30 && code <= 37) state.fg = BASE16[code - 30];
  else if (code === 39) state.fg = null;
  else if (code >= 40 && code <= 47) state.bg = BASE16[code - 40];
  else if (code === 49) state.bg = null;
  else if (code >= 90 && code <= 97) state.fg = BASE16[code - 90 + 8];
  else if (code >= 100 && code <= 107) state.bg = BASE16[code - 100 + 8];
}

function isPlain(state) {
  return !state.fg && !state.bg && !state.bold && !state.dim && !state.italic && !state.underline && !state.inverse;
}

function styledSpan(text, state) {
  const span = document.createElement("span");
  span.textContent = text;
  const [fg, bg] = state.inverse ? [state.bg || "var(--bg)", state.fg || "var(--fg)"] : [state.fg, state.bg];
  if (fg) span.style.color = fg;
  if (bg) span.style.backgroundColor = bg;
  if (state.bold) span.style.fontWeight = "bold";
  if (state.dim) span.style.opacity = "0.7";
  if (state.italic) span.style.fontStyle = "italic";
  if (state.underline) span.style.textDecoration = "underline";
  span.className = "ansi";
  return span;
}

// A fragment of text nodes and styled spans; text without escapes stays one text node.
export function renderAnsi(text) {
  const fragment = document.createDocumentFragment();
  if (!text.includes("\x1b")) {
    fragment.append(text);
    return fragment;
  }
  const state = plain();
  let last = 0;
  const emit = (chunk) => {
    if (chunk) fragment.append(isPlain(state) ? document.createTextNode(chunk) : styledSpan(chunk, state));
  };
  for (const match of text.matchAll(ESCAPE)) {
    emit(text.slice(last, match.index));
    if (match[2] === "m") applySgr(state, match[1]);
    last = match.index + match[0].length;
  }
  emit(text.slice(last));
  return fragment;
}

export function stripAnsi(text) {
  return text.replace(ESCAPE, "");
}
