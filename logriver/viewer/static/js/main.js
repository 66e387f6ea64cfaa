// The page: sign-in, routing by the URL's hash (so back, forward and shared links work),
// the error banner with retry, and the keyboard shortcuts.

import { Api } from "./api.js";
import { clear, h } from "./dom.js";
import { SearchView } from "./search-view.js";
import { StreamView } from "./stream-view.js";
import { StreamsView } from "./streams-view.js";
import { onTimeZoneChange, setTimeZoneMode, timeZoneMode } from "./time.js";

const TOKEN_KEY = "logriver.token";

class App {
  constructor(root) {
    this.root = root;
    this.wrap = false;
    this.view = null;
    this.api = null;
    this.banner = h("div", { class: "banner", role: "alert", hidden: true });
    this.main = h("main", { id: "main" });
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) this.api = new Api(token);
    // Both fire on back/forward (entries made by pushState only give popstate); route once.
    window.addEventListener("hashchange", () => this.routeIfMoved());
    window.addEventListener("popstate", () => this.routeIfMoved());
    document.addEventListener("keydown", (event) => this.onKey(event));
    // The stream view redraws its rows in place; the others are cheap to render again.
    onTimeZoneChange(() => {
      if (this.view && !(this.view instanceof StreamView)) this.route();
    });
  }

  start() {
    if (!this.api) this.signIn();
    else this.route();
  }

  header() {
    this.searchInput = h("input", { type: "search", name: "q", "aria-label": "Search query", placeholder: "Search  ( / )" });
    const search = h("form", { class: "search", role: "search", onsubmit: (e) => { e.preventDefault(); this.navigate("/search", { q: this.searchInput.value }); } },
      this.searchInput, h("button", { type: "submit", "aria-label": "Search" }, "Search"));
    const zone = h("select", { "aria-label": "Time zone", onchange: (e) => setTimeZoneMode(e.target.value) },
      h("option", { value: "utc", selected: timeZoneMode() === "utc" }, "UTC"),
      h("option", { value: "local", selected: timeZoneMode() === "local" }, "Local time"));
    return h("header", { class: "top" },
      h("a", { class: "brand", href: "#/streams", "aria-label": "logriver: all streams" }, "logriver"),
      h("nav", { "aria-label": "Main" }, h("a", { href: "#/streams" }, "Streams")),
      search, zone,
      h("button", { type: "button", "aria-label": "Sign out", onclick: () => this.signOut() }, "Sign out"));
  }

  signIn(message = "") {
    this.closeView();
    const input = h("input", { id: "token", type: "password", autocomplete: "off", required: true });
    const note = h("p", { class: "signin-error", role: "alert" }, message);
    const form = h("form", { class: "signin", "aria-label": "Sign in" },
      h("h1", {}, "Sign in to logriver"),
      h("label", { for: "token" }, "Token"), input,
      h("button", { type: "submit" }, "Sign in"), note,
      h("p", { class: "hint" }, "Paste an API token with the read role. It is kept for this tab only."));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.tryToken(input.value.trim(), note);
    });
    this.root.replaceChildren(form);
    input.focus();
  }

  async tryToken(token, note) {
    const api = new Api(token);
    note.textContent = "Checking…";
    try {
      await api.get("/api/v1/streams", { limit: 1 });
    } catch (error) {
      note.textContent = signInMessage(error);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    this.api = api;
    this.route();
  }

  signOut(message = "") {
    sessionStorage.removeItem(TOKEN_KEY);
    this.api = null;
    this.signIn(message);
  }

  currentParams() {
    return new URLSearchParams((location.hash.split("?")[1] || ""));
  }

  // quiet: record the new state in the URL (a history entry of its own) without re-rendering.
  navigate(path, params = {}, { replace = false, quiet = false } = {}) {
    const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v)).toString();
    const hash = `#${path}${query ? `?${query}` : ""}`;
    if (hash === location.hash) {
      if (!quiet) this.route(); // the same search again: run it again
      return;
    }
    if (quiet) {
      history[replace ? "replaceState" : "pushState"](null, "", hash);
      this.routedHash = location.hash;
    } else if (replace) {
      history.replaceState(null, "", hash);
      this.route();
    } else {
      location.hash = hash;
    }
  }

  routeIfMoved() {
    if (location.hash !== this.routedHash) this.route();
  }

  route() {
    this.routedHash = location.hash;
    if (!this.api) return this.signIn();
    const [path, query = ""] = (location.hash.slice(1) || "/streams").split("?");
    const parts = path.split("/").filter(Boolean);
    const params = new URLSearchParams(query);
    this.closeView();
    if (!this.root.contains(this.main)) this.root.replaceChildren(this.header(), this.banner, this.main);
    this.searchInput.value = parts[0] === "search" ? params.get("q") || "" : "";
    if (parts[0] === "stream" && parts[1]) this.view = new StreamView(this, decodeURIComponent(parts[1]), params);
    else if (parts[0] === "search") this.view = new SearchView(this, params);
    else this.view = new StreamsView(this, params);
    this.main.replaceChildren(this.view.el);
    document.title = `${this.view.el.getAttribute("aria-label")} · logriver`;
    this.view.open();
  }

  closeView() {
    this.hideError();
    if (this.view) this.view.close();
    this.view = null;
  }

  // Runs one step of a view; any failure is shown with the server's words and a retry.
  async run(step, retry = step) {
    try {
      return await step();
    } catch (error) {
      if (error && error.name === "AbortError") return undefined;
      if (error && error.status === 401) return this.signOut(signInMessage(error));
      this.showError(error, retry);
      return undefined;
    }
  }

  showError(error, retry = null) {
    const status = error.status ? `${error.status} ` : "";
    const kind = error.type ? `${error.type.replaceAll("_", " ")}` : "error";
    const message = error.message || String(error);
    const wait = error.retryAfter ? ` (the server suggests retrying in ${error.retryAfter} s)` : "";
    clear(this.banner).append(
      h("strong", {}, `${status}${kind}: `), `${message}${wait} `,
      retry ? h("button", { type: "button", onclick: () => { this.hideError(); retry(); } }, "Retry") : null,
      h("button", { type: "button", "aria-label": "Dismiss error", onclick: () => this.hideError() }, "Dismiss"));
    this.banner.hidden = false;
    this.banner.dataset.status = String(error.status || 0);
  }

  hideError() {
    this.banner.hidden = true;
    clear(this.banner);
  }

  onKey(event) {
    const target = event.target;
    if (target.closest && target.closest("input, textarea, select")) {
      if (event.key === "Escape") target.blur();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "/" && this.searchInput) {
      event.preventDefault();
      this.searchInput.focus();
    } else if (event.key === "End" && this.view instanceof StreamView) {
      event.preventDefault();
      this.run(() => this.view.jumpNewest());
    } else if (event.key === "f" && this.view instanceof StreamView) {
      this.view.toggleFollow();
    }
  }
}

function signInMessage(error) {
  if (error.status === 401) return `This token was not accepted (${error.message}). Paste a valid token.`;
  if (error.status === 403) return `This token cannot read logs (${error.message}). Ask for a token with the read role.`;
  return `Could not check the token: ${error.message}`;
}

new App(document.getElementById("app")).start();
