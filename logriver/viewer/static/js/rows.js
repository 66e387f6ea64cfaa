// One line as a row: full-precision time, ANSI-rendered message, fields on expand, copy, link.

import { renderAnsi, stripAnsi } from "./ansi.js";
import { h } from "./dom.js";
import { formatTimestamp } from "./time.js";

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
    h("span", { class: "msg" }, renderAnsi(line.message)),
    h("span", { class: "actions" },
      h("button", { type: "button", class: "copy", "aria-label": "Copy line", onclick: (e) => copyLine(e, line) }, "Copy"),
      h("a", { class: "link", href: permalink(line), "aria-label": "Link to this line" }, "Link")),
    isOpen ? details(line) : null);
  toggle.addEventListener("click", () => onToggle(line.id));
  return row;
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
