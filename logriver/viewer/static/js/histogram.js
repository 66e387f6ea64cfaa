// The hits-over-time chart as hand-made SVG. Clicking a bar or dragging across bars reports
// the time range they cover, which the search view makes its window.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 1000;
const HEIGHT = 120;

function el(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

export function bucketEnd(buckets, i, windowEnd) {
  if (i + 1 < buckets.length) return buckets[i + 1].start;
  if (windowEnd) return windowEnd;
  const step = buckets.length > 1 ? Date.parse(buckets[1].start) - Date.parse(buckets[0].start) : 1000;
  return new Date(Date.parse(buckets[i].start) + step).toISOString();
}

export function renderHistogram(buckets, { onRange, format, windowEnd }) {
  const max = Math.max(1, ...buckets.map((b) => b.count));
  const step = WIDTH / Math.max(1, buckets.length);
  const svg = el("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: "histogram", role: "img",
    "aria-label": `Hits over time in ${buckets.length} bars, at most ${max} per bar; click or drag across bars to narrow the window`,
    preserveAspectRatio: "none",
  });
  const brush = el("rect", { class: "brush", y: 0, height: HEIGHT, width: 0, x: 0 });
  svg.append(brush);
  buckets.forEach((bucket, i) => {
    const height = (bucket.count / max) * (HEIGHT - 4);
    const bar = el("rect", {
      class: "bar", x: i * step + step * 0.1, width: Math.max(1, step * 0.8), y: HEIGHT - height, height,
      "data-index": i, "data-count": bucket.count,
    });
    const title = el("title");
    title.textContent = `${format(bucket.start)}: ${bucket.count}`;
    bar.append(title);
    svg.append(bar);
  });
  brushable(svg, brush, buckets.length, step, (a, b) => onRange(buckets[a].start, bucketEnd(buckets, b, windowEnd)));
  // Labels live outside the stretched SVG so their text keeps its shape.
  const axis = document.createElement("div");
  axis.className = "axis";
  if (buckets.length) {
    for (const text of [format(buckets[0].start), `max ${max} per bar`, format(bucketEnd(buckets, buckets.length - 1, windowEnd))]) {
      axis.append(Object.assign(document.createElement("span"), { textContent: text }));
    }
  }
  const figure = document.createElement("figure");
  figure.className = "timeline";
  figure.append(svg, axis);
  return figure;
}

function brushable(svg, brush, count, step, done) {
  let from = null;
  const indexAt = (event) => {
    const box = svg.getBoundingClientRect();
    const x = ((event.clientX - box.left) / box.width) * WIDTH;
    return Math.max(0, Math.min(count - 1, Math.floor(x / step)));
  };
  const show = (a, b) => {
    brush.setAttribute("x", Math.min(a, b) * step);
    brush.setAttribute("width", (Math.abs(b - a) + 1) * step);
  };
  svg.addEventListener("pointerdown", (event) => {
    if (!count) return;
    from = indexAt(event);
    svg.setPointerCapture(event.pointerId);
    show(from, from);
  });
  svg.addEventListener("pointermove", (event) => {
    if (from !== null) show(from, indexAt(event));
  });
  svg.addEventListener("pointerup", (event) => {
    if (from === null) return;
    const to = indexAt(event);
    const [a, b] = from <= to ? [from, to] : [to, from];
    from = null;
    done(a, b);
  });
}
