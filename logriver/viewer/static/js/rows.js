// One line as a row: full-precision time, ANSI-rendered message, fields on expand, copy, link.

import { renderAnsi, stripAnsi } from "./ansi.js";
import { h } from "./dom.js";
import { formatTimestamp } from "./time.js";

// Past this many characters a message is cut until its row is expanded: laying out a
// megabyte-long line would stall the page every time it scrolls into view.
export const SHOWN_CHARS = 20000;

export function permalink(line) {
  return `#/stream/${encodeURIComponent(line.stream_id)}?line=${encodeURIComponent(line.id)}`;
}

export function lineRow(item, { target, expanded, onToggle }) {
  if (item.marker) {
    return h("div", { class: "row marker", role: "listitem", "data-marker": "dropped" },
      `⚠ ${item.marker.count} lines dropped here: the tail could not keep up`);
  }
  const line = item.line;
  const isOpen = expanded.has(line.id);
  const toggle = h("button", {
    type: "button", class: "expand", "aria-expanded": String(isOpen), "aria-label": "Show fields",
  }, isOpen ? "▾" : "▸");
  const row = h("div", { class: line.id === target ? "row target" : "row", role: "listitem", "data-id": line.id },
    toggle,
    h("time", { class: "ts", datetime: line["@timestamp"] }, formatTimestamp(line["@timestamp"])),
    message(line.message, isOpen),
    h("span", { class: "actions" },
      h("button", { type: "button", class: "copy", "aria-label": "Copy line", onclick: (e) => copyLine(e, line) }, "Copy"),
      h("a", { class: "link", href: permalink(line), "aria-label": "Link to this line" }, "Link")),
    isOpen ? details(line) : null);
  toggle.addEventListener("click", () => onToggle(line.id));
  return row;
}

function message(text, isOpen) {
  if (isOpen || text.length <= SHOWN_CHARS) return h("span", { class: "msg" }, renderAnsi(text));
  const rest = (text.length - SHOWN_CHARS).toLocaleString("en");
  return h("span", { class: "msg" }, renderAnsi(text.slice(0, SHOWN_CHARS)),
    h("span", { class: "cut" }, ` … ${rest} more characters (expand the line to see them)`));
}

function details(line) {
  const shown = { fields: line.fields, labels: line.labels, id: line.id, order_num: line.order_num, "@timestamp": line["@timestamp"] };
  return h("pre", { class: "fields", "aria-label": "Fields" }, JSON.stringify(shown, null, 2));
}

async function copyLine(event, line) {
  const button = event.currentTarget;
  const text = stripAnsi(line.message);
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Copy failed"; // no clipboard permission: the message is still selectable
  }
  button.setAttribute("aria-label", button.textContent);
  setTimeout(() => {
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy line");
  }, 1500);
}
