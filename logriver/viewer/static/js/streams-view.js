// The tenant's streams, most recently active first, a page at a time as the list scrolls.
// The filter box is the server's: `key=value` parts filter labels exactly, any other text
// finds streams by part of a label value, so one stream among many thousands is one query.

import { parseStreamFilter } from "./api.js";
import { h } from "./dom.js";
import { formatTimestamp, relativeTime } from "./time.js";

export const STREAMS_PAGE = 100;

export class StreamsView {
  constructor(app, params) {
    this.app = app;
    this.filter = params.get("filter") || params.get("labels") || "";
    this.input = h("input", { type: "search", value: this.filter, "aria-label": "Filter streams",
      placeholder: "part of a label value, or key=value, key=value" });
    const form = h("form", { class: "filter", role: "search", onsubmit: (e) => { e.preventDefault(); this.apply(); } },
      this.input, h("button", { type: "submit", "aria-label": "Apply filter" }, "Filter"));
    this.body = h("tbody");
    this.summary = h("p", { class: "summary", role: "status" }, "Loading streams…");
    this.sentinel = h("p", { class: "more", "aria-hidden": "true" });
    this.observer = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) this.more();
    }, { rootMargin: "400px" });
    this.el = h("section", { class: "streams-view", "aria-label": "Streams" }, h("h1", {}, "Streams"), form, this.summary,
      h("div", { class: "streams-scroll" },
        h("table", { class: "streams" },
          h("thead", {}, h("tr", {}, ["Labels", "Last activity", "First line", "Lines", ""].map((t) => h("th", { scope: "col" }, t)))),
          this.body),
        this.sentinel));
  }

  apply() {
    this.app.navigate("/streams", { filter: this.input.value.trim() });
  }

  async open() {
    try {
      this.params = parseStreamFilter(this.filter);
    } catch (error) {
      this.app.showError({ status: 400, type: "invalid_filter", message: `filter: ${error.message}` });
      return;
    }
    this.count = 0;
    this.token = null;
    this.done = false;
    this.body.replaceChildren();
    this.summary.textContent = "Loading streams…";
    const loaded = await this.app.run(() => this.load(), () => this.open());
    if (!loaded) this.summary.textContent = "The streams could not be loaded: see the message above.";
    else this.observer.observe(this.sentinel);
  }

  async load() {
    const page = await this.app.api.streams({ ...this.params, limit: STREAMS_PAGE, token: this.token });
    this.body.append(...page.streams.map((s) => this.row(s)));
    this.count += page.streams.length;
    this.token = page.next_token;
    this.done = !page.next_token;
    const noun = this.count === 1 ? "stream" : "streams";
    this.summary.textContent = this.done ? `${this.count} ${noun}` : `${this.count} ${noun} shown, newest activity first; more load as you scroll`;
    return true;
  }

  async more() {
    if (this.done || this.loading || !this.token) return;
    this.loading = true;
    try {
      await this.load();
    } catch (error) {
      // The listing's snapshot expired (idle for minutes): start it again from the top.
      if (error && error.type === "invalid_token") return this.open();
      this.app.showError(error, () => this.more());
    } finally {
      this.loading = false;
    }
    // A tall window may still show the sentinel: keep filling it.
    if (!this.done && this.sentinel.getBoundingClientRect().top < window.innerHeight + 400) this.more();
  }

  row(stream) {
    const name = stream.metadata && stream.metadata.display_name;
    const labels = Object.entries(stream.labels).map(([k, v]) => h("span", { class: "label" }, `${k}=${v}`));
    const path = `/stream/${encodeURIComponent(stream.id)}`;
    const title = name || Object.values(stream.labels).join(" ") || stream.id;
    const last = stream.last_timestamp;
    const open = (event) => {
      // The link opens itself; a drag that selects text is not a click to open.
      if (event.target.closest("a") || String(window.getSelection())) return;
      this.app.navigate(path);
    };
    return h("tr", { "data-stream": stream.id, class: "stream-row", onclick: open },
      h("td", {}, name ? h("strong", {}, name, " ") : null, labels),
      h("td", { class: "ago" }, last ? h("time", { datetime: last, title: formatTimestamp(last) }, relativeTime(last)) : "—"),
      h("td", { class: "ts" }, stream.first_timestamp ? formatTimestamp(stream.first_timestamp) : "—"),
      h("td", { class: "count" }, stream.lines.toLocaleString("en")),
      h("td", {}, h("a", { href: `#${path}`, "aria-label": `Open stream ${title}` }, "Open")));
  }

  close() {
    this.observer.disconnect();
    this.done = true;
  }
}
