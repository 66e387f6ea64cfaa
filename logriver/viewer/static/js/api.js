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

  streams(labels) {
    return this.get("/api/v1/streams", labelParams(labels));
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

// "app=web, env=prod" -> {"labels.app": "web", "labels.env": "prod"}; anything else is an error
// the caller shows next to the filter box.
export function parseLabelFilter(text) {
  const labels = {};
  for (const part of text.split(",")) {
    const item = part.trim();
    if (!item) continue;
    const at = item.indexOf("=");
    if (at <= 0) throw new Error(`"${item}" is not key=value`);
    labels[item.slice(0, at).trim()] = item.slice(at + 1).trim();
  }
  return labels;
}

export function labelParams(labels) {
  const params = {};
  for (const [key, value] of Object.entries(labels || {})) params[`labels.${key}`] = value;
  return params;
}
