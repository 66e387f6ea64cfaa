// The live tail read with fetch and a stream reader, so the token travels in the
// Authorization header (EventSource cannot send one). After a drop it reconnects with
// Last-Event-ID, which makes the server resume exactly after the last line received.

import { errorFrom, networkError, queryString } from "./api.js";

const RETRY_MS = [500, 1000, 2000, 5000];

export class Tail {
  // handlers: onOpen(), onLine(line), onDropped(count), onState(state, error)
  constructor(api, params, handlers) {
    this.api = api;
    this.params = params;
    this.handlers = handlers;
    this.lastEventId = null;
    this.controller = null;
    this.stopped = false;
    this.failures = 0;
  }

  start() {
    this.run();
    return this;
  }

  stop() {
    this.stopped = true;
    if (this.controller) this.controller.abort();
  }

  async run() {
    while (!this.stopped) {
      let outcome;
      try {
        outcome = await this.connect();
      } catch (error) {
        if (this.stopped) return;
        outcome = { retry: true, error: error.status === undefined ? networkError(error) : error };
      }
      if (this.stopped) return;
      if (!outcome.retry) {
        this.handlers.onState("stopped", outcome.error);
        return;
      }
      this.handlers.onState("reconnecting", outcome.error);
      await sleep(outcome.error ? RETRY_MS[Math.min(this.failures++, RETRY_MS.length - 1)] : 0);
    }
  }

  async connect() {
    this.controller = new AbortController();
    const headers = this.api.headers({ Accept: "text/event-stream" });
    if (this.lastEventId) headers["Last-Event-ID"] = this.lastEventId;
    const response = await fetch(`${this.api.base}/api/v1/tail${queryString(this.params)}`, {
      headers,
      signal: this.controller.signal,
      cache: "no-store",
    });
    if (!response.ok) {
      const error = await errorFrom(response);
      // 4xx will not get better by asking again; 5xx (storage down) will.
      return { retry: response.status >= 500, error };
    }
    this.handlers.onState("live", null);
    return this.read(response.body.getReader());
  }

  async read(reader) {
    const decoder = new TextDecoder();
    let buffered = "";
    let event = { name: "", data: [], id: null };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return { retry: true, error: null };
      buffered += decoder.decode(value, { stream: true });
      const lines = buffered.split(/\r\n|\r|\n/);
      buffered = lines.pop();
      for (const line of lines) {
        if (line === "") {
          const verdict = this.dispatch(event);
          if (verdict) return verdict;
          event = { name: "", data: [], id: null };
        } else {
          parseField(event, line);
        }
      }
    }
  }

  // One complete event; returns an outcome when the stream is over.
  dispatch(event) {
    if (event.id !== null) this.lastEventId = event.id;
    if (event.data.length === 0) return null;
    const data = JSON.parse(event.data.join("\n"));
    if (event.name === "") {
      this.failures = 0;
      this.handlers.onLine(data);
    } else if (event.name === "open") {
      this.handlers.onOpen();
    } else if (event.name === "dropped") {
      this.handlers.onDropped(data.dropped);
    } else if (event.name === "end") {
      const error = data.error ? { status: 400, type: data.error.type, message: data.error.message } : null;
      return { retry: data.reason !== "error", error };
    }
    return null;
  }
}

function parseField(event, line) {
  if (line.startsWith(":")) return;
  const at = line.indexOf(":");
  const name = at < 0 ? line : line.slice(0, at);
  let value = at < 0 ? "" : line.slice(at + 1);
  if (value.startsWith(" ")) value = value.slice(1);
  if (name === "data") event.data.push(value);
  else if (name === "event") event.name = value;
  else if (name === "id") event.id = value;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
