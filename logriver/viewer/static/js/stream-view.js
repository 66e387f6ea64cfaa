// The stream view: opens at the newest lines and follows them live, or centred on one line;
// scrolls both ways through the whole stream; jumps to a time, the oldest or the newest line.

import { h, setPressed, toggleButton } from "./dom.js";
import { LineList, PAGE_LINES } from "./lines.js";
import { lineRow } from "./rows.js";
import { Tail } from "./tail.js";
import { onTimeZoneChange, parseUserTime } from "./time.js";

const CONTEXT_LINES = 100;

export class StreamView {
  constructor(app, streamId, params) {
    this.app = app;
    this.streamId = streamId;
    this.target = params.get("line");
    this.expanded = new Set();
    this.newLines = 0;
    this.drops = 0;
    this.list = new LineList({
      fetchPage: (extra) => this.app.api.lines({ stream_id: this.streamId, limit: PAGE_LINES, ...extra }),
      renderRow: (item) => lineRow(item, { target: this.target, expanded: this.expanded, onToggle: (id) => this.toggle(id) }),
      onFollowChange: (on) => this.setFollow(on, false),
      onError: (error, retry) => this.app.showError(error, retry),
      onOverflow: () => this.app.run(() => this.jumpNewest()),
    });
    this.el = this.build();
    this.offZone = onTimeZoneChange(() => this.redraw());
  }

  build() {
    this.title = h("h1", { class: "stream-title" }, "Stream");
    this.followButton = toggleButton("Follow", false, (on) => this.setFollow(on, true), { "aria-label": "Follow new lines", title: "f" });
    this.newButton = h("button", { type: "button", class: "new-lines", hidden: true, "aria-label": "New lines: resume following", onclick: () => this.setFollow(true, true) });
    this.status = h("span", { class: "tail-status", role: "status" });
    this.timeInput = h("input", { type: "text", "aria-label": "Jump to time", placeholder: "YYYY-MM-DD HH:MM:SS" });
    const jump = h("form", { class: "jump", onsubmit: (e) => { e.preventDefault(); this.jumpToTime(this.timeInput.value); } },
      this.timeInput, h("button", { type: "submit", "aria-label": "Go to time" }, "Go"));
    const wrap = toggleButton("Wrap", this.app.wrap, (on) => this.setWrap(on), { "aria-label": "Wrap long lines" });
    const toolbar = h("div", { class: "toolbar", role: "toolbar", "aria-label": "Stream controls" },
      h("button", { type: "button", "aria-label": "Oldest lines", onclick: () => this.jumpOldest() }, "⇤ Oldest"),
      h("button", { type: "button", "aria-label": "Newest lines", title: "End", onclick: () => this.jumpNewest() }, "Newest ⇥"),
      jump, this.followButton, wrap, this.status);
    this.setWrap(this.app.wrap);
    return h("section", { class: "stream-view", "aria-label": "Stream" }, this.title, toolbar,
      h("div", { class: "list-wrap" }, this.list.scroller, this.newButton));
  }

  async open() {
    this.app.run(() => this.describe());
    if (this.target) await this.app.run(() => this.openLine(this.target), () => this.open());
    else await this.app.run(() => this.jumpNewest(), () => this.open());
    this.startTail();
  }

  async describe() {
    const { streams } = await this.app.api.streams({ stream_id: this.streamId, limit: 1 });
    // Never trust the first answer to be this stream: a heading naming another stream lies.
    const stream = streams.find((s) => s.id === this.streamId);
    if (!stream) {
      this.title.textContent = `Stream ${this.streamId}`;
      return;
    }
    const name = stream.metadata && stream.metadata.display_name;
    const labels = Object.entries(stream.labels).map(([k, v]) => `${k}=${v}`).join(", ");
    this.title.textContent = name ? `${name} (${labels})` : labels || "Stream";
  }

  startTail() {
    this.tail = new Tail(this.app.api, { stream_id: this.streamId }, {
      onOpen: () => this.app.run(() => this.list.catchUp()),
      onLine: (line) => this.onTailLine(line),
      onDropped: (count) => this.list.appendLive({ key: `dropped-${++this.drops}`, marker: { count } }),
      onState: (state, error) => this.showTailState(state, error),
    }).start();
  }

  showTailState(state, error) {
    const words = { live: "● live", reconnecting: "reconnecting…", stopped: "tail stopped" };
    this.status.textContent = error ? `${words[state]}: ${error.message}` : words[state];
    this.status.dataset.state = state;
  }

  onTailLine(line) {
    const outcome = this.list.appendLive({ key: line.id, line });
    if (outcome === "duplicate" || this.list.follow) return;
    this.newLines += 1;
    this.newButton.hidden = false;
    this.newButton.textContent = `${this.newLines} new lines`;
    this.newButton.setAttribute("aria-label", `${this.newLines} new lines: resume following`);
  }

  setFollow(on, move) {
    this.list.follow = on;
    setPressed(this.followButton, on);
    if (!on) return;
    this.newLines = 0;
    this.newButton.hidden = true;
    if (!move) return;
    if (this.list.hasMoreNewer || this.target) this.app.run(() => this.jumpNewest());
    else this.list.scrollToBottom();
  }

  toggleFollow() {
    this.setFollow(!this.list.follow, true);
  }

  async jumpNewest() {
    const page = await this.app.api.lines({ stream_id: this.streamId, limit: PAGE_LINES, from: "tail" });
    this.setTarget(null);
    this.list.reset(page, "bottom");
    this.setFollow(true, false);
    // Lines the tail delivered while the page was on its way were dropped with the old pages.
    if (this.tail) await this.list.catchUp();
  }

  async jumpOldest() {
    const page = await this.app.api.lines({ stream_id: this.streamId, limit: PAGE_LINES, from: "head" });
    this.setTarget(null);
    this.setFollow(false, false);
    this.list.reset(page, "top");
  }

  async openLine(lineId) {
    const page = await this.app.api.context(lineId, CONTEXT_LINES, CONTEXT_LINES);
    this.target = lineId;
    this.setFollow(false, false);
    this.list.reset(page, lineId);
  }

  // The first line at or after the time; else the last one before it.
  async jumpToTime(text) {
    let start;
    try {
      start = parseUserTime(text);
    } catch (error) {
      this.app.showError({ status: 400, type: "invalid_time", message: error.message });
      return;
    }
    await this.app.run(async () => {
      const base = { stream_id: this.streamId, limit: 1 };
      let { hits } = await this.app.api.search({ ...base, start, sort: "asc" });
      if (!hits.length) ({ hits } = await this.app.api.search({ ...base, end: start, sort: "desc" }));
      if (!hits.length) throw { status: 404, type: "no_lines", message: "this stream has no lines" };
      this.app.navigate(`/stream/${encodeURIComponent(this.streamId)}`, { line: hits[0].id });
    });
  }

  setTarget(lineId) {
    this.target = lineId;
    if (!lineId && this.app.currentParams().get("line")) {
      this.app.navigate(`/stream/${encodeURIComponent(this.streamId)}`, {}, { quiet: true });
    }
  }

  toggle(id) {
    if (this.expanded.has(id)) this.expanded.delete(id);
    else this.expanded.add(id);
    this.redraw();
  }

  setWrap(on) {
    this.app.wrap = on;
    this.list.scroller.classList.toggle("wrap", on);
    this.redraw(true);
  }

  redraw(remeasure = false) {
    for (const row of this.list.rows.values()) row.remove();
    this.list.rows.clear();
    this.list.relayout(remeasure);
  }

  close() {
    this.list.disconnect();
    if (this.tail) this.tail.stop();
    this.offZone();
  }
}
