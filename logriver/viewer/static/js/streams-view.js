// The tenant's streams: labels, first and last time, line count; filtered by label.

import { parseLabelFilter } from "./api.js";
import { h } from "./dom.js";
import { formatTimestamp } from "./time.js";

export class StreamsView {
  constructor(app, params) {
    this.app = app;
    this.filter = params.get("labels") || "";
    this.input = h("input", { type: "search", value: this.filter, "aria-label": "Filter by label", placeholder: "key=value, key=value" });
    const form = h("form", { class: "filter", role: "search", onsubmit: (e) => { e.preventDefault(); this.apply(); } },
      this.input, h("button", { type: "submit", "aria-label": "Apply label filter" }, "Filter"));
    this.body = h("tbody");
    this.summary = h("p", { class: "summary", role: "status" }, "Loading streams…");
    this.el = h("section", { class: "streams-view", "aria-label": "Streams" }, h("h1", {}, "Streams"), form, this.summary,
      h("table", { class: "streams" },
        h("thead", {}, h("tr", {}, ["Labels", "First line", "Last line", "Lines", ""].map((t) => h("th", { scope: "col" }, t)))),
        this.body));
  }

  apply() {
    this.app.navigate("/streams", { labels: this.input.value.trim() });
  }

  async open() {
    let labels;
    try {
      labels = parseLabelFilter(this.filter);
    } catch (error) {
      this.app.showError({ status: 400, type: "invalid_filter", message: `label filter: ${error.message}` });
      return;
    }
    this.summary.textContent = "Loading streams…";
    const loaded = await this.app.run(async () => {
      const { streams } = await this.app.api.streams(labels);
      this.summary.textContent = `${streams.length} ${streams.length === 1 ? "stream" : "streams"}`;
      this.body.replaceChildren(...streams.map((s) => this.row(s)));
      return true;
    }, () => this.open());
    if (!loaded) this.summary.textContent = "The streams could not be loaded: see the message above.";
  }

  row(stream) {
    const name = stream.metadata && stream.metadata.display_name;
    const labels = Object.entries(stream.labels).map(([k, v]) => h("span", { class: "label" }, `${k}=${v}`));
    const href = `#/stream/${encodeURIComponent(stream.id)}`;
    const title = name || Object.values(stream.labels).join(" ") || stream.id;
    return h("tr", { "data-stream": stream.id },
      h("td", {}, name ? h("strong", {}, name, " ") : null, labels),
      h("td", { class: "ts" }, stream.first_timestamp ? formatTimestamp(stream.first_timestamp) : "—"),
      h("td", { class: "ts" }, stream.last_timestamp ? formatTimestamp(stream.last_timestamp) : "—"),
      h("td", { class: "count" }, stream.lines.toLocaleString("en")),
      h("td", {}, h("a", { href, "aria-label": `Open stream ${title}` }, "Open")));
  }

  close() {}
}
