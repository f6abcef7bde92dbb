// The drawing pad (src/web/pad.py): one digit drawn on a 2D canvas, with no WebGL.
//
// - A mouse, a finger or a pen draws strokes (pointer events, every coalesced position kept).
// - "Draw with clicks" and the keyboard put points on a coarse grid, and a line joins each to the last:
//   a click or Space sets a point, the arrow keys move the cursor, and a click on the last point, Space on
//   it, or Enter lifts the pen.
// - Undo takes back the last stroke (or the last point of a stroke the grid is drawing); Clear empties the pad.
//
// The drawing itself is `ink`, a SIZE x SIZE canvas of black strokes on transparency: the same on any screen.
// The visible canvas repaints it at the screen's own resolution, so strokes stay sharp.
// Two ways out:
//   - onValue(png): after every stroke, Undo and Clear, `ink` as a PNG data URL ("" when empty);
//   - a "pad-change" event on the pad's element after every change, {why, at, pad}, for the live reading,
//     which reads pad.snapshot() in its worker (src/web/static/live.js).
window.drawPad = (root, onValue) => {
  "use strict";
  const box = root.querySelector(".pad");
  const SIZE = Number(box.dataset.size), RADIUS = Number(box.dataset.radius), GRID = Number(box.dataset.grid);
  const CELL = SIZE / GRID;
  const view = box.querySelector("canvas"), viewCtx = view.getContext("2d");
  const ink = document.createElement("canvas");
  ink.width = ink.height = SIZE;
  const inkCtx = ink.getContext("2d", { willReadFrequently: true }); // software: read back exactly
  const guide = box.querySelector(".pad-guide line"), cursorMark = box.querySelector(".pad-guide rect");
  const gridButton = box.querySelector(".pad-grid");
  const strokes = [];
  let current = null, pen = null, rect = null, byGrid = false, cursor = [GRID / 2 - 1, GRID / 2 - 1], sent = 0;

  // ------------------------------------------------------------------ painting
  function paint(ctx, points) {
    ctx.lineCap = ctx.lineJoin = "round";
    ctx.lineWidth = 2 * RADIUS;
    ctx.strokeStyle = ctx.fillStyle = "#000";
    ctx.beginPath();
    if (points.length === 1) {
      ctx.arc(points[0][0], points[0][1], RADIUS, 0, 2 * Math.PI);
      ctx.fill();
      return;
    }
    ctx.moveTo(...points[0]);
    for (let i = 1; i < points.length; i++) ctx.lineTo(...points[i]);
    ctx.stroke();
  }
  const paintBoth = (points) => { paint(inkCtx, points); paint(viewCtx, points); };

  function repaint() {
    inkCtx.clearRect(0, 0, SIZE, SIZE);
    viewCtx.setTransform(1, 0, 0, 1, 0, 0);
    viewCtx.clearRect(0, 0, view.width, view.height);
    viewCtx.setTransform(view.width / SIZE, 0, 0, view.height / SIZE, 0, 0);
    for (const s of current ? [...strokes, current] : strokes) paintBoth(s);
  }

  // The visible canvas at the screen's resolution (a phone's 2.6 device pixels per CSS pixel).
  function fit() {
    const side = Math.round(view.clientWidth * (window.devicePixelRatio || 1));
    if (side > 0 && view.width !== side) {
      view.width = view.height = side;
      repaint();
    }
  }
  new ResizeObserver(fit).observe(view);
  fit();

  // ------------------------------------------------------------------ what changed
  const changed = (why) => box.dispatchEvent(new CustomEvent("pad-change", {
    bubbles: true, detail: { why, at: performance.now(), pad: api } }));

  // A finished change: the live reading reads it, and the server gets the PNG (only the newest one is sent).
  function commit(why) {
    changed(why);
    const mine = ++sent;
    if (!strokes.length) return onValue("");
    ink.toBlob((blob) => {
      if (!blob) return;
      const reader = new FileReader();
      reader.onload = () => { if (mine === sent) onValue(reader.result); };
      reader.readAsDataURL(blob);
    }, "image/png");
  }

  // ------------------------------------------------------------------ strokes
  // The canvas's content box (inside its border) on the screen, where its SIZE x SIZE pixels are shown.
  const contentBox = () => {
    const r = view.getBoundingClientRect();
    return { left: r.left + view.clientLeft, top: r.top + view.clientTop, width: view.clientWidth, height: view.clientHeight };
  };
  const toImage = (e) => [((e.clientX - rect.left) / rect.width) * SIZE, ((e.clientY - rect.top) / rect.height) * SIZE];

  // One pointer draws at a time (a second finger or a resting palm is ignored); `pen` is its pointerId, null
  // when no pointer draws. A stroke open while `pen` is null is the grid's (clicks or keys).
  view.addEventListener("pointerdown", (e) => {
    if (e.button > 0 || pen !== null) return;
    e.preventDefault(); // no text selection, no scrolling; but the keys still come here
    view.focus({ preventScroll: true });
    rect = contentBox();
    if (byGrid) return gridPoint(toImage(e).map((v) => Math.min(GRID - 1, Math.max(0, Math.floor(v / CELL)))));
    if (current) lift(); // a stroke the keys left open
    pen = e.pointerId;
    view.setPointerCapture(e.pointerId);
    current = [toImage(e)];
    paintBoth(current);
    changed("pen");
  });
  view.addEventListener("pointermove", (e) => {
    if (e.pointerId !== pen || !current) return;
    const moves = e.getCoalescedEvents && e.getCoalescedEvents().length ? e.getCoalescedEvents() : [e];
    const points = moves.map(toImage);
    paintBoth([current[current.length - 1], ...points]);
    current.push(...points);
    changed("pen");
  });
  const end = (e) => {
    if (e.pointerId !== pen) return;
    pen = null;
    if (!current) return; // undone while drawing
    strokes.push(current);
    current = null;
    commit("up");
  };
  window.addEventListener("scroll", () => { if (pen !== null) rect = contentBox(); }, { passive: true });
  view.addEventListener("pointerup", end);
  view.addEventListener("pointercancel", end);
  view.addEventListener("lostpointercapture", end);

  // ------------------------------------------------------------------ the grid: clicks and keys
  const centre = ([c, r]) => [(c + 0.5) * CELL, (r + 0.5) * CELL];

  function showCursor() {
    const [x, y] = centre(cursor);
    cursorMark.setAttribute("x", x - CELL / 2);
    cursorMark.setAttribute("y", y - CELL / 2);
    const last = current && current[current.length - 1];
    guide.setAttribute("visibility", last ? "visible" : "hidden");
    if (last) {
      guide.setAttribute("x1", last[0]); guide.setAttribute("y1", last[1]);
      guide.setAttribute("x2", x); guide.setAttribute("y2", y);
    }
  }

  // A point at a cell's centre, joined to the stroke's last point; on the last point itself, the pen lifts.
  function gridPoint(cell) {
    if (pen !== null) return; // a pointer is drawing
    cursor = cell;
    const p = centre(cell), last = current && current[current.length - 1];
    if (last && last[0] === p[0] && last[1] === p[1]) return lift();
    if (last) {
      paintBoth([last, p]);
      current.push(p);
    } else {
      current = [p];
      paintBoth(current);
    }
    showCursor();
    say(`point at column ${cell[0] + 1}, row ${cell[1] + 1}`);
    changed("pen");
  }

  function lift() {
    if (!current || pen !== null) return;
    strokes.push(current);
    current = null;
    showCursor();
    say("pen lifted");
    commit("up");
  }

  // What a screen reader hears while the keys draw.
  const status = box.querySelector(".pad-status");
  const say = (text) => { status.textContent = text; };

  const MOVES = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
  view.addEventListener("keydown", (e) => {
    if (e.key in MOVES) {
      const [dc, dr] = MOVES[e.key];
      cursor = [Math.min(GRID - 1, Math.max(0, cursor[0] + dc)), Math.min(GRID - 1, Math.max(0, cursor[1] + dr))];
      showCursor();
      say(`column ${cursor[0] + 1}, row ${cursor[1] + 1}${current ? ", pen down" : ""}`);
    } else if (e.key === " ") {
      if (!e.repeat) gridPoint(cursor); // a held Space would land on the last point and lift the pen
    } else if (e.key === "Enter" || e.key === "Escape") {
      if (!current) return;
      lift();
    } else if (e.key === "Backspace" || (e.key === "z" && (e.ctrlKey || e.metaKey))) {
      undo();
    } else {
      return;
    }
    e.preventDefault();
  });

  function setGrid(on) {
    if (byGrid !== on) lift();
    byGrid = on;
    gridButton.setAttribute("aria-pressed", String(on));
    box.classList.toggle("by-grid", on);
    showCursor();
  }
  gridButton.addEventListener("click", () => setGrid(!byGrid));

  // ------------------------------------------------------------------ undo, clear
  function undo() {
    if (current && current.length > 1 && pen === null) current.pop(); // the grid's stroke: its last point
    else if (current) current = null;
    else strokes.pop();
    repaint();
    showCursor();
    if (current) changed("undo");
    else commit("undo");
  }
  function clear() {
    strokes.length = 0;
    current = null;
    repaint();
    showCursor();
    commit("clear");
  }
  box.querySelector(".pad-undo").addEventListener("click", undo);
  box.querySelector(".pad-clear").addEventListener("click", clear);

  // What the live reading (snapshot) and the tests (pixels, points, strokes) use.
  const api = {
    size: SIZE,
    pixels: () => inkCtx.getImageData(0, 0, SIZE, SIZE), // RGBA; alpha = ink
    snapshot: () => createImageBitmap(ink), // the same, as it is now, without copying on this thread
    points: () => [...strokes, ...(current ? [current] : [])].reduce((n, s) => n + s.length, 0),
    strokes: () => strokes.length,
    undo, clear, setGrid,
  };
  box.pad = api;
  showCursor();
  changed("ready");
  return api;
};
