// The public native API, as the viewer uses it. Every call goes through Api.get, with the
// token in the Authorization header; errors arrive as ApiError carrying the server's message.

export class ApiError extends Error {
  constructor(status, type, message, details = {}, retryAfter = null) {
    super(message);
    this.status = status;
    this.type = type;
    this.details = details;
    this.retryAfter = retryAfter;
  }
}

export function queryString(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export async function errorFrom(response) {
  const retryAfter = response.headers.get("Retry-After");
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: a proxy's page, say; the status line still tells what happened
  }
  const error = body && body.error;
  if (error && typeof error.message === "string") {
    return new ApiError(response.status, error.type, error.message, error.details || {}, retryAfter);
  }
  return new ApiError(response.status, "http_error", `the server answered ${response.status} ${response.statusText}`, {}, retryAfter);
}

export function networkError(cause) {
  return new ApiError(0, "network_error", `cannot reach logriver (${cause.message || cause}); check the connection`);
}

export class Api {
  constructor(token, base = "") {
    this.token = token;
    this.base = base;
  }

  headers(extra = {}) {
    return { Authorization: `Bearer ${this.token}`, ...extra };
  }

  async get(path, params = {}, signal = undefined) {
    let response;
    try {
      response = await fetch(this.base + path + queryString(params), { headers: this.headers(), signal });
    } catch (cause) {
      if (cause.name === "AbortError") throw cause;
      throw networkError(cause);
    }
    if (!response.ok) throw await errorFrom(response);
    return response.json();
  }

  // params: labels.<key>, match, limit, token (see parseStreamFilter).
  streams(params) {
    return this.get("/api/v1/streams", params);
  }

  lines(params) {
    return this.get("/api/v1/lines", params);
  }

  context(lineId, before, after) {
    return this.get(`/api/v1/lines/${encodeURIComponent(lineId)}/context`, { before, after });
  }

  search(params) {
    return this.get("/api/v1/search", params);
  }
}

// The streams filter box: "app=web, 4408" -> {"labels.app": "web", match: "4408"}. Parts with
// "=" filter a label exactly; the one other part is found in any label value by the server.
export function parseStreamFilter(text) {
  const params = {};
  const free = [];
  for (const part of text.split(",")) {
    const item = part.trim();
    if (!item) continue;
    const at = item.indexOf("=");
    if (at > 0) params[`labels.${item.slice(0, at).trim()}`] = item.slice(at + 1).trim();
    else if (at === 0) throw new Error(`"${item}" has no label name before "="`);
    else free.push(item);
  }
  if (free.length > 1) throw new Error(`search one text at a time, not "${free.join('", "')}"`);
  if (free.length) params.match = free[0];
  return params;
}
