// A virtualised, bounded window onto a stream. Lines are kept as pages, each with the API's
// own older/newer tokens, so trimming a far page leaves exact tokens at both edges: scrolling
// on from a trimmed edge fetches exactly the lines that were dropped, none twice, none skipped.
// Only the rows near the viewport are in the DOM; rows are absolutely placed at measured
// offsets, and every change keeps the first visible line where it was on screen.

import { h } from "./dom.js";

const ESTIMATED_ROW_PX = 20;
const OVERSCAN_PX = 500;
// Fetch the next page while half a page of rows is still ahead, so fast scrolling rarely waits.
const LOOKAHEAD_PX = 250 * ESTIMATED_ROW_PX;
export const PAGE_LINES = 500;
export const MAX_LINES = 3000;

export class LineList {
  // fetchPage(params) -> a page of GET /api/v1/lines; renderRow(item) -> element;
  // onFollowChange(bool) when the user leaves or reaches the live end; onError(error, retry).
  constructor({ fetchPage, renderRow, onFollowChange, onError, onOverflow }) {
    Object.assign(this, { fetchPage, renderRow, onFollowChange, onError, onOverflow });
    this.sizer = h("div", { class: "sizer", role: "list" });
    this.scroller = h("div", { class: "lines", tabindex: "0", "aria-label": "Lines", "aria-busy": "false" }, this.sizer);
    this.scroller.addEventListener("scroll", () => this.onScroll());
    // Any change of the list's own size (a window resized, a heading wrapping to a second line
    // after the lines were placed) would otherwise leave a following view short of the newest line.
    this.resizeObserver = new ResizeObserver(() => this.onResize());
    this.resizeObserver.observe(this.scroller);
    this.heights = new Map();
    this.rows = new Map();
    this.follow = false;
    this.expectedTop = 0;
    this.generation = 0;
    this.setPages([], false, false);
  }

  setPages(pages, hasMoreOlder, hasMoreNewer) {
    this.pages = pages;
    this.hasMoreOlder = hasMoreOlder;
    this.hasMoreNewer = hasMoreNewer;
    this.rebuild();
  }

  // Replace everything with one page of the API; place = "top", "bottom" or a line id to centre.
  reset(response, place) {
    this.generation += 1;
    this.loading = false;
    this.error = null;
    this.heights.clear();
    for (const row of this.rows.values()) row.remove();
    this.rows.clear();
    this.setPages([toPage(response)], response.has_more_older, response.has_more_newer);
    this.render();
    if (place === "top") this.scrollTo(0);
    else if (place === "bottom") this.scrollToBottom();
    else this.centreOn(place);
  }

  rebuild() {
    this.items = this.pages.flatMap((page) => page.items);
    this.index = new Map(this.items.map((item, i) => [item.key, i]));
    this.computeOffsets();
  }

  computeOffsets() {
    const offsets = new Array(this.items.length + 1);
    offsets[0] = 0;
    for (let i = 0; i < this.items.length; i++) {
      offsets[i + 1] = offsets[i] + (this.heights.get(this.items[i].key) ?? ESTIMATED_ROW_PX);
    }
    this.offsets = offsets;
    this.sizer.style.height = `${offsets[this.items.length]}px`;
  }

  // The last item starting at or above y.
  indexAt(y) {
    let low = 0;
    let high = this.items.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (this.offsets[mid] <= y) low = mid;
      else high = mid - 1;
    }
    return Math.max(0, low);
  }

  anchor() {
    if (!this.items.length) return null;
    const top = this.scroller.scrollTop;
    const i = this.indexAt(top);
    return { key: this.items[i].key, delta: this.offsets[i] - top };
  }

  restore(anchor) {
    const i = anchor ? this.index.get(anchor.key) : undefined;
    if (i !== undefined) this.scrollTo(this.offsets[i] - anchor.delta);
  }

  scrollTo(top) {
    this.scroller.scrollTop = top;
    this.expectedTop = this.scroller.scrollTop;
  }

  scrollToBottom() {
    this.scrollTo(this.scroller.scrollHeight);
    this.render();
    this.scrollTo(this.scroller.scrollHeight);
  }

  centreOn(key) {
    const i = this.index.get(key);
    if (i === undefined) return;
    const place = () => {
      const height = this.offsets[i + 1] - this.offsets[i];
      this.scrollTo(this.offsets[i] - (this.scroller.clientHeight - height) / 2);
    };
    place();
    this.render();
    place();
    this.render();
  }

  onResize() {
    if (this.follow && !this.hasMoreNewer) this.scrollToBottom();
    else this.render();
  }

  disconnect() {
    this.resizeObserver.disconnect();
  }

  atBottom() {
    const { scrollTop, scrollHeight, clientHeight } = this.scroller;
    return scrollHeight - scrollTop - clientHeight < 4;
  }

  onScroll() {
    const byUser = Math.abs(this.scroller.scrollTop - this.expectedTop) > 1;
    this.expectedTop = this.scroller.scrollTop;
    this.scheduleRender();
    if (!byUser) return;
    const live = this.atBottom() && !this.hasMoreNewer;
    if (live !== this.follow) this.onFollowChange(live);
  }

  scheduleRender() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
      this.maybeLoad();
    });
  }

  render() {
    const { scrollTop, clientHeight } = this.scroller;
    if (!this.items.length) return this.dropRows(new Set());
    const first = this.indexAt(scrollTop - OVERSCAN_PX);
    const last = this.indexAt(scrollTop + clientHeight + OVERSCAN_PX);
    const wanted = new Set();
    for (let i = first; i <= last; i++) wanted.add(this.items[i].key);
    this.dropRows(wanted);
    const created = [];
    let next = null; // rows go into the DOM in line order, so reading order matches the screen
    for (let i = last; i >= first; i--) {
      const item = this.items[i];
      let row = this.rows.get(item.key);
      if (!row) {
        row = this.renderRow(item);
        this.rows.set(item.key, row);
        this.sizer.insertBefore(row, next);
        created.push(i);
      }
      row.style.transform = `translateY(${this.offsets[i]}px)`;
      next = row;
    }
    // Only new rows are measured: reading every row's height each frame would lay them all out.
    if (created.length) this.measure(created);
  }

  dropRows(wanted) {
    for (const [key, row] of this.rows) {
      if (!wanted.has(key)) {
        row.remove();
        this.rows.delete(key);
      }
    }
  }

  // Real heights replace estimates; the first visible line stays put on screen.
  measure(indices) {
    const anchor = this.anchor();
    let changed = false;
    for (const i of indices) {
      const key = this.items[i].key;
      const height = this.rows.get(key).offsetHeight;
      if (height && height !== this.heights.get(key)) {
        this.heights.set(key, height);
        changed = true;
      }
    }
    if (!changed) return;
    const bottom = this.follow && this.atBottom();
    this.computeOffsets();
    for (const [key, row] of this.rows) row.style.transform = `translateY(${this.offsets[this.index.get(key)]}px)`;
    if (bottom) this.scrollTo(this.scroller.scrollHeight);
    else this.restore(anchor);
  }

  // A row's height changed (expanded, wrapped): measure again, keeping the anchor.
  relayout(dropMeasures = false) {
    if (dropMeasures) this.heights.clear();
    const anchor = this.anchor();
    this.computeOffsets();
    this.restore(anchor);
    this.render();
  }

  maybeLoad() {
    if (this.loading || this.error) return;
    const { scrollTop, scrollHeight, clientHeight } = this.scroller;
    const ahead = Math.max(clientHeight * 2, LOOKAHEAD_PX);
    if (this.hasMoreOlder && scrollTop < ahead) this.load("older");
    else if (this.hasMoreNewer && scrollHeight - scrollTop - clientHeight < ahead) this.load("newer");
  }

  setBusy(busy) {
    this.loading = busy;
    this.scroller.setAttribute("aria-busy", String(busy));
  }

  async load(direction) {
    const older = direction === "older";
    const edge = older ? this.pages[0] : this.pages[this.pages.length - 1];
    const generation = this.generation;
    this.setBusy(true);
    let response;
    try {
      response = await this.fetchPage({ token: older ? edge.older : edge.newer });
    } catch (error) {
      if (generation !== this.generation) return;
      this.error = error;
      this.setBusy(false);
      this.onError(error, () => {
        this.error = null;
        this.load(direction);
      });
      return;
    }
    if (generation !== this.generation) return;
    this.insert(direction, response);
    this.setBusy(false);
    this.scheduleRender();
  }

  insert(direction, response) {
    const anchor = this.anchor();
    const page = toPage(response);
    if (direction === "older") {
      if (page.items.length) this.pages.unshift(page);
      this.hasMoreOlder = page.items.length > 0 && response.has_more_older;
      this.trim("newer");
    } else {
      if (page.items.length) this.pages.push(page);
      this.hasMoreNewer = page.items.length > 0 && response.has_more_newer;
      this.trim("older");
    }
    this.rebuild();
    this.restore(anchor);
    this.render();
  }

  // Drop whole pages on the far side; their neighbour's token covers exactly what went.
  trim(side) {
    let total = this.pages.reduce((sum, page) => sum + page.items.length, 0);
    let dropped = false;
    while (total > MAX_LINES && this.pages.length > 1) {
      const page = side === "older" ? this.pages.shift() : this.pages.pop();
      total -= page.items.length;
      this.forget(page);
      dropped = true;
    }
    // Live lines carry no tokens of their own: they go with the newer side as a block.
    while (dropped && side === "newer" && this.pages.length > 1 && this.pages.at(-1).live) this.forget(this.pages.pop());
    if (dropped && side === "older") this.hasMoreOlder = true;
    if (dropped && side === "newer") this.hasMoreNewer = true;
  }

  forget(page) {
    for (const item of page.items) {
      this.heights.delete(item.key);
      const row = this.rows.get(item.key);
      if (row) row.remove();
      this.rows.delete(item.key);
    }
  }

  // A line from the live tail: "appended", "duplicate", or "beyond" when the newest lines are
  // not loaded (the caller counts those as new lines).
  appendLive(item) {
    if (this.index.has(item.key)) return "duplicate";
    if (this.hasMoreNewer) return "beyond";
    let last = this.pages.at(-1);
    if (!last || !last.live) {
      last = { items: [], older: null, newer: last ? last.newer : null, live: true };
      this.pages.push(last);
    }
    last.items.push(item);
    this.index.set(item.key, this.items.length);
    this.items.push(item);
    this.offsets.push(this.offsets.at(-1) + ESTIMATED_ROW_PX);
    this.sizer.style.height = `${this.offsets.at(-1)}px`;
    if (this.items.length > MAX_LINES + PAGE_LINES) this.overflow();
    else this.scheduleLive();
    return "appended";
  }

  overflow() {
    if (this.follow) {
      this.onOverflow();
      return;
    }
    while (this.pages.length > 1 && this.pages.at(-1).live) this.forget(this.pages.pop());
    this.hasMoreNewer = true;
    this.rebuild();
    this.scheduleRender();
  }

  scheduleLive() {
    if (this.liveFrame) return;
    this.liveFrame = requestAnimationFrame(() => {
      this.liveFrame = 0;
      if (this.follow) this.scrollToBottom();
      else this.render();
    });
  }

  // Keep the page at the live end in step with the server after lines were added by the tail.
  async catchUp() {
    const last = this.pages.at(-1);
    if (this.hasMoreNewer || !last || last.live || !last.newer) return;
    const response = await this.fetchPage({ token: last.newer });
    for (const line of response.lines) this.appendLive({ key: line.id, line });
  }
}

function toPage(response) {
  return {
    items: response.lines.map((line) => ({ key: line.id, line })),
    older: response.older_token,
    newer: response.newer_token,
    live: false,
  };
}
