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
//
// One plain script, no build step, in parts: setup and sizing, painting, what changed, pointers, the grid,
// undo and clear, then window.drawPad, which wires them. Each part takes one pad's state, so that several
// pads can share a page. It declares only functions, which a second load of the script may declare again,
// each named pad... apart from live.js's names.
"use strict";

// ================================================================== setup and sizing
// The pad's state, from its markup: the sizes, the two canvases, the strokes and the pen.
function padState(root, onValue) {
  const box = root.querySelector(".pad");
  const SIZE = Number(box.dataset.size), RADIUS = Number(box.dataset.radius), GRID = Number(box.dataset.grid);
  const view = box.querySelector("canvas");
  const ink = document.createElement("canvas");
  ink.width = ink.height = SIZE;
  return {
    box, onValue, SIZE, RADIUS, GRID, CELL: SIZE / GRID,
    view, viewCtx: view.getContext("2d"),
    ink, inkCtx: ink.getContext("2d", { willReadFrequently: true }), // software: read back exactly
    guide: box.querySelector(".pad-guide line"), cursorMark: box.querySelector(".pad-guide rect"),
    gridButton: box.querySelector(".pad-grid"), status: box.querySelector(".pad-status"),
    strokes: [],
    // `pen`: the pointerId drawing (see padPointerDown); `rect`: the canvas's box on the screen; `sent`: the
    // number of the newest PNG asked for.
    current: null, pen: null, rect: null, byGrid: false, cursor: [GRID / 2 - 1, GRID / 2 - 1], sent: 0,
    api: null,
  };
}

// The visible canvas at the screen's resolution (a phone's 2.6 device pixels per CSS pixel).
function padFit(pad) {
  const view = pad.view;
  const side = Math.round(view.clientWidth * (window.devicePixelRatio || 1));
  if (side > 0 && view.width !== side) {
    view.width = view.height = side;
    padRepaint(pad);
  }
}

// ================================================================== painting
function padPaint(ctx, points, RADIUS) {
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

function padPaintBoth(pad, points) {
  padPaint(pad.inkCtx, points, pad.RADIUS);
  padPaint(pad.viewCtx, points, pad.RADIUS);
}

function padRepaint(pad) {
  const { inkCtx, viewCtx, view, SIZE, strokes, current } = pad;
  inkCtx.clearRect(0, 0, SIZE, SIZE);
  viewCtx.setTransform(1, 0, 0, 1, 0, 0);
  viewCtx.clearRect(0, 0, view.width, view.height);
  viewCtx.setTransform(view.width / SIZE, 0, 0, view.height / SIZE, 0, 0);
  for (const s of current ? [...strokes, current] : strokes) padPaintBoth(pad, s);
}

// ================================================================== what changed
function padChanged(pad, why) {
  const detail = { why, at: performance.now(), pad: pad.api };
  pad.box.dispatchEvent(new CustomEvent("pad-change", { bubbles: true, detail }));
}

// A finished change: the live reading reads it, and the server gets the PNG (only the newest one is sent).
function padCommit(pad, why) {
  padChanged(pad, why);
  const mine = ++pad.sent;
  if (!pad.strokes.length) return pad.onValue("");
  pad.ink.toBlob((blob) => {
    if (!blob) return;
    const reader = new FileReader();
    reader.onload = () => { if (mine === pad.sent) pad.onValue(reader.result); };
    reader.readAsDataURL(blob);
  }, "image/png");
}

// ================================================================== pointers: mouse, finger, pen
// The canvas's content box (inside its border) on the screen, where its SIZE x SIZE pixels are shown.
function padContentBox(view) {
  const r = view.getBoundingClientRect();
  return {
    left: r.left + view.clientLeft, top: r.top + view.clientTop, width: view.clientWidth, height: view.clientHeight,
  };
}

function padToImage(pad, e) {
  const { rect, SIZE } = pad;
  return [((e.clientX - rect.left) / rect.width) * SIZE, ((e.clientY - rect.top) / rect.height) * SIZE];
}

// One pointer draws at a time (a second finger or a resting palm is ignored); `pen` is its pointerId, null
// when no pointer draws. A stroke open while `pen` is null is the grid's (clicks or keys).
function padPointerDown(pad, e) {
  if (e.button > 0 || pad.pen !== null) return;
  e.preventDefault(); // no text selection, no scrolling; but the keys still come here
  pad.view.focus({ preventScroll: true });
  pad.rect = padContentBox(pad.view);
  const { GRID, CELL } = pad;
  const cellOf = (v) => Math.min(GRID - 1, Math.max(0, Math.floor(v / CELL)));
  if (pad.byGrid) return padGridPoint(pad, padToImage(pad, e).map(cellOf));
  if (pad.current) padLift(pad); // a stroke the keys left open
  pad.pen = e.pointerId;
  pad.view.setPointerCapture(e.pointerId);
  pad.current = [padToImage(pad, e)];
  padPaintBoth(pad, pad.current);
  padChanged(pad, "pen");
}

function padPointerMove(pad, e) {
  if (e.pointerId !== pad.pen || !pad.current) return;
  const moves = e.getCoalescedEvents && e.getCoalescedEvents().length ? e.getCoalescedEvents() : [e];
  const points = moves.map((m) => padToImage(pad, m));
  padPaintBoth(pad, [pad.current[pad.current.length - 1], ...points]);
  pad.current.push(...points);
  padChanged(pad, "pen");
}

function padPointerEnd(pad, e) {
  if (e.pointerId !== pad.pen) return;
  pad.pen = null;
  if (!pad.current) return; // undone while drawing
  pad.strokes.push(pad.current);
  pad.current = null;
  padCommit(pad, "up");
}

function padListenToPointers(pad) {
  const view = pad.view, end = (e) => padPointerEnd(pad, e);
  view.addEventListener("pointerdown", (e) => padPointerDown(pad, e));
  view.addEventListener("pointermove", (e) => padPointerMove(pad, e));
  window.addEventListener("scroll", () => { if (pad.pen !== null) pad.rect = padContentBox(view); }, { passive: true });
  view.addEventListener("pointerup", end);
  view.addEventListener("pointercancel", end);
  view.addEventListener("lostpointercapture", end);
}

// ================================================================== the grid: clicks and keys
function padCentre(pad, [c, r]) {
  return [(c + 0.5) * pad.CELL, (r + 0.5) * pad.CELL];
}

function padShowCursor(pad) {
  const { cursorMark, guide, current, CELL } = pad;
  const [x, y] = padCentre(pad, pad.cursor);
  cursorMark.setAttribute("x", x - CELL / 2);
  cursorMark.setAttribute("y", y - CELL / 2);
  const last = current && current[current.length - 1];
  guide.setAttribute("visibility", last ? "visible" : "hidden");
  if (last) {
    guide.setAttribute("x1", last[0]); guide.setAttribute("y1", last[1]);
    guide.setAttribute("x2", x); guide.setAttribute("y2", y);
  }
}

// What a screen reader hears while the keys draw.
function padSay(pad, text) {
  pad.status.textContent = text;
}

// A point at a cell's centre, joined to the stroke's last point; on the last point itself, the pen lifts.
function padGridPoint(pad, cell) {
  if (pad.pen !== null) return; // a pointer is drawing
  pad.cursor = cell;
  const p = padCentre(pad, cell), last = pad.current && pad.current[pad.current.length - 1];
  if (last && last[0] === p[0] && last[1] === p[1]) return padLift(pad);
  if (last) {
    padPaintBoth(pad, [last, p]);
    pad.current.push(p);
  } else {
    pad.current = [p];
    padPaintBoth(pad, pad.current);
  }
  padShowCursor(pad);
  padSay(pad, `point at column ${cell[0] + 1}, row ${cell[1] + 1}`);
  padChanged(pad, "pen");
}

function padLift(pad) {
  if (!pad.current || pad.pen !== null) return;
  pad.strokes.push(pad.current);
  pad.current = null;
  padShowCursor(pad);
  padSay(pad, "pen lifted");
  padCommit(pad, "up");
}

function padKeyDown(pad, e) {
  const MOVES = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }, GRID = pad.GRID;
  if (e.key in MOVES) {
    const [dc, dr] = MOVES[e.key];
    const [c, r] = pad.cursor;
    pad.cursor = [Math.min(GRID - 1, Math.max(0, c + dc)), Math.min(GRID - 1, Math.max(0, r + dr))];
    padShowCursor(pad);
    padSay(pad, `column ${pad.cursor[0] + 1}, row ${pad.cursor[1] + 1}${pad.current ? ", pen down" : ""}`);
  } else if (e.key === " ") {
    if (!e.repeat) padGridPoint(pad, pad.cursor); // a held Space would land on the last point and lift the pen
  } else if (e.key === "Enter" || e.key === "Escape") {
    if (!pad.current) return;
    padLift(pad);
  } else if (e.key === "Backspace" || (e.key === "z" && (e.ctrlKey || e.metaKey))) {
    padUndo(pad);
  } else {
    return;
  }
  e.preventDefault();
}

function padSetGrid(pad, on) {
  if (pad.byGrid !== on) padLift(pad);
  pad.byGrid = on;
  pad.gridButton.setAttribute("aria-pressed", String(on));
  pad.box.classList.toggle("by-grid", on);
  padShowCursor(pad);
}

// ================================================================== undo, clear
function padUndo(pad) {
  if (pad.current && pad.current.length > 1 && pad.pen === null) pad.current.pop(); // the grid's stroke: its last point
  else if (pad.current) pad.current = null;
  else pad.strokes.pop();
  padRepaint(pad);
  padShowCursor(pad);
  if (pad.current) padChanged(pad, "undo");
  else padCommit(pad, "undo");
}

function padClear(pad) {
  pad.strokes.length = 0;
  pad.current = null;
  padRepaint(pad);
  padShowCursor(pad);
  padCommit(pad, "clear");
}

// ================================================================== the pad
// What the live reading (snapshot) and the tests (pixels, points, strokes) use.
function padApi(pad) {
  const { SIZE, inkCtx, ink, strokes } = pad;
  return {
    size: SIZE,
    pixels: () => inkCtx.getImageData(0, 0, SIZE, SIZE), // RGBA; alpha = ink
    snapshot: () => createImageBitmap(ink), // the same, as it is now, without copying on this thread
    points: () => [...strokes, ...(pad.current ? [pad.current] : [])].reduce((n, s) => n + s.length, 0),
    strokes: () => strokes.length,
    undo: () => padUndo(pad),
    clear: () => padClear(pad),
    setGrid: (on) => padSetGrid(pad, on),
  };
}

window.drawPad = (root, onValue) => {
  const pad = padState(root, onValue);
  new ResizeObserver(() => padFit(pad)).observe(pad.view);
  padFit(pad);
  padListenToPointers(pad);
  pad.view.addEventListener("keydown", (e) => padKeyDown(pad, e));
  pad.gridButton.addEventListener("click", () => padSetGrid(pad, !pad.byGrid));
  pad.box.querySelector(".pad-undo").addEventListener("click", () => padUndo(pad));
  pad.box.querySelector(".pad-clear").addEventListener("click", () => padClear(pad));
  pad.api = padApi(pad);
  pad.box.pad = pad.api;
  padShowCursor(pad);
  padChanged(pad, "ready");
  return pad.api;
};
