// Small DOM helpers: the viewer builds its elements with h() instead of HTML strings,
// so text from logs can never become markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

// A toggle button whose state screen readers announce (aria-pressed).
export function toggleButton(label, pressed, onchange, attrs = {}) {
  const button = h("button", { type: "button", "aria-pressed": String(pressed), ...attrs }, label);
  button.addEventListener("click", () => {
    const next = button.getAttribute("aria-pressed") !== "true";
    button.setAttribute("aria-pressed", String(next));
    onchange(next);
  });
  return button;
}

export function setPressed(button, pressed) {
  button.setAttribute("aria-pressed", String(pressed));
}
