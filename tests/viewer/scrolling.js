// Scrolls the stream view's list until it stops moving, waiting for every load to finish;
// returns the line numbers of the rows in the DOM after each step. A step is 1.3 screens:
// the list keeps 500 px of rows beyond each edge, so consecutive steps still share rows.
async (direction) => {
  const scroller = document.querySelector(".lines");
  const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));
  const settle = async () => {
    for (let i = 0; i < 5000; i++) {
      if (scroller.getAttribute("aria-busy") !== "true") return;
      await frame();
    }
    throw new Error("the list kept loading");
  };
  const rows = () =>
    [...scroller.querySelectorAll(".row[data-id]")]
      .map((row) => [row.getBoundingClientRect().top, Number(row.querySelector(".msg").textContent.slice(5))])
      .sort((a, b) => a[0] - b[0])
      .map(([, n]) => n);
  const snapshots = [];
  let still = 0;
  for (let step = 0; step < 100000 && still < 3; step++) {
    await settle();
    snapshots.push(rows());
    const before = scroller.scrollTop;
    scroller.scrollTop = before + (direction === "up" ? -1.3 : 1.3) * scroller.clientHeight;
    // the list renders in a frame callback queued after ours: wait for the next frame
    await frame();
    await frame();
    still = scroller.scrollTop === before ? still + 1 : 0;
  }
  return snapshots;
}
