// Timestamps at full precision (nanoseconds, as the API prints them), in UTC or local time.
// Date only holds milliseconds, so the fraction is carried as text next to it.

const RFC3339 = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/;

let zone = sessionStorage.getItem("logriver.zone") === "local" ? "local" : "utc";
const listeners = new Set();

export function timeZoneMode() {
  return zone;
}

export function setTimeZoneMode(mode) {
  zone = mode;
  sessionStorage.setItem("logriver.zone", mode);
  for (const listener of listeners) listener(mode);
}

export function onTimeZoneChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function pad(n, width = 2) {
  return String(n).padStart(width, "0");
}

export function formatTimestamp(text, mode = zone) {
  const match = RFC3339.exec(text);
  if (!match) return text;
  const [, date, time, frac = "", offset] = match;
  const nanos = frac.padEnd(9, "0");
  const instant = new Date(`${date}T${time}${offset}`);
  if (mode === "utc") {
    const iso = instant.toISOString();
    return `${iso.slice(0, 10)} ${iso.slice(11, 19)}.${nanos}Z`;
  }
  const minutes = -instant.getTimezoneOffset();
  const sign = minutes >= 0 ? "+" : "-";
  const local =
    `${instant.getFullYear()}-${pad(instant.getMonth() + 1)}-${pad(instant.getDate())} ` +
    `${pad(instant.getHours())}:${pad(instant.getMinutes())}:${pad(instant.getSeconds())}`;
  return `${local}.${nanos}${sign}${pad(Math.floor(Math.abs(minutes) / 60))}:${pad(Math.abs(minutes) % 60)}`;
}

// What a person typed into "jump to time" as an RFC 3339 instant for the API. Without a zone,
// the text is read in the zone the page shows; a full-precision timestamp passes unchanged.
export function parseUserTime(text, mode = zone) {
  const value = text.trim().replace(" ", "T");
  if (RFC3339.test(value)) return value;
  if (!/^\d{4}-\d\d-\d\d(T\d\d:\d\d(:\d\d(\.\d+)?)?)?$/.test(value)) {
    throw new Error(`"${text}" is not a time: write YYYY-MM-DD HH:MM:SS, optionally with a zone`);
  }
  const withTime = value.includes("T") ? value : `${value}T00:00`;
  const instant = new Date(mode === "utc" ? `${withTime}Z` : withTime);
  if (Number.isNaN(instant.getTime())) throw new Error(`"${text}" is not a valid date`);
  return instant.toISOString();
}

// "3 min ago" for a person's glance; the exact time goes in the element's title.
export function relativeTime(text, now = Date.now()) {
  const match = RFC3339.exec(text);
  if (!match) return text;
  const seconds = Math.round((now - new Date(`${match[1]}T${match[2]}${match[4]}`).getTime()) / 1000);
  const ahead = seconds < 0;
  const size = Math.abs(seconds);
  const units = [[86400 * 365, "y"], [86400, "d"], [3600, "h"], [60, "min"], [1, "s"]];
  if (size < 10) return ahead ? "in a few seconds" : "just now";
  const [unit, name] = units.find(([length]) => size >= length);
  const amount = Math.floor(size / unit);
  return ahead ? `in ${amount} ${name}` : `${amount} ${name} ago`;
}
