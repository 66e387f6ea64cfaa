// Search across streams: the total, a histogram whose bars narrow the window, and hits with
// their highlights, each with "Show in context".

import { stripAnsi } from "./ansi.js";
import { h } from "./dom.js";
import { renderHistogram } from "./histogram.js";
import { permalink } from "./rows.js";
import { formatTimestamp } from "./time.js";

const HITS_PER_PAGE = 100;

export class SearchView {
  constructor(app, params) {
    this.app = app;
    this.q = params.get("q") || "";
    this.start = params.get("start") || "";
    this.end = params.get("end") || "";
    this.summary = h("p", { class: "summary", role: "status" }, "Searching…");
    this.chart = h("div", { class: "chart" });
    this.hits = h("ol", { class: "hits", "aria-label": "Hits" });
    this.more = h("button", { type: "button", hidden: true, "aria-label": "More hits", onclick: () => this.loadMore() }, "More hits");
    this.el = h("section", { class: "search-view", "aria-label": "Search results" },
      h("h1", {}, "Search"), this.windowBar(), this.summary, this.chart, this.hits, this.more);
  }

  windowBar() {
    if (!this.start && !this.end) return h("p", { class: "window" }, "Window: all time");
    const show = (t) => (t ? formatTimestamp(t) : "…");
    return h("p", { class: "window" }, `Window: ${show(this.start)} – ${show(this.end)} `,
      h("button", { type: "button", "aria-label": "Clear window", onclick: () => this.setWindow("", "") }, "Clear window"));
  }

  params() {
    return { q: this.q, start: this.start, end: this.end };
  }

  async open() {
    const done = await this.app.run(async () => {
      const result = await this.app.api.search({ ...this.params(), interval: "auto", limit: HITS_PER_PAGE });
      const { value, relation } = result.total;
      this.summary.textContent = `${relation === "gte" ? "more than " : ""}${value} ${value === 1 ? "hit" : "hits"}`;
      this.chart.replaceChildren(renderHistogram(result.histogram || [], {
        onRange: (start, end) => this.setWindow(start, end),
        format: (t) => formatTimestamp(t),
        windowEnd: this.end,
      }));
      this.hits.replaceChildren();
      this.show(result);
      return true;
    }, () => this.open());
    if (!done) this.summary.textContent = "The search failed: see the message above.";
  }

  async loadMore() {
    await this.app.run(async () => {
      const result = await this.app.api.search({ ...this.params(), token: this.next, limit: HITS_PER_PAGE });
      this.show(result);
    });
  }

  show(result) {
    for (const hit of result.hits) this.hits.append(this.hitRow(hit));
    this.next = result.next_token;
    this.more.hidden = !this.next;
  }

  hitRow(hit) {
    const labels = Object.entries(hit.labels).map(([k, v]) => h("span", { class: "label" }, `${k}=${v}`));
    const fragments = hit.highlight.length ? hit.highlight : [hit.message];
    return h("li", { class: "hit", "data-id": hit.id },
      h("div", { class: "hit-head" },
        h("time", { class: "ts", datetime: hit["@timestamp"] }, formatTimestamp(hit["@timestamp"])), labels,
        h("a", { class: "context", href: permalink(hit), "aria-label": "Show in context" }, "Show in context")),
      fragments.map((fragment) => h("div", { class: "fragment" }, highlighted(fragment))));
  }

  setWindow(start, end) {
    this.app.navigate("/search", { q: this.q, start, end });
  }

  close() {}
}

// Elasticsearch marks matches with <em>; the rest of a fragment is log text, never markup.
function highlighted(fragment) {
  const parts = stripAnsi(fragment).split(/<em>|<\/em>/);
  return parts.map((part, i) => (i % 2 ? h("mark", {}, part) : document.createTextNode(part)));
}
