// The static page (src/web/static_site.py): a canvas of its own, read by live.js's preprocessing and network in
// this browser at most once per animation frame, with no server at all.
(() => {
  "use strict";
  const box = document.querySelector("#live-reading .live-reading");
  const C = JSON.parse(box.dataset.config);
  const pad = document.getElementById("pad");
  const input = document.getElementById("input28").getContext("2d");
  const ctx = pad.getContext("2d", { willReadFrequently: true });
  let tensors = null, novelty = null, last = null, queued = false;

  // The Sketchpad's pen: black, round, 2 * BRUSH_RADIUS pixels of the CANVAS-pixel image.
  pad.width = pad.height = C.CANVAS;
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.lineWidth = 2 * C.BRUSH_RADIUS;
  ctx.strokeStyle = ctx.fillStyle = "#000";

  const at = (e) => {
    const r = pad.getBoundingClientRect();
    return [((e.clientX - r.left) / r.width) * C.CANVAS, ((e.clientY - r.top) / r.height) * C.CANVAS];
  };

  function read() {
    queued = false;
    if (!tensors) return;
    const r = window.liveReading.readCanvas(pad, tensors, novelty, C);
    window.liveReading.show(r);
    // The 28x28 input the network saw, white on black as in MNIST.
    const image = input.createImageData(C.FRAME, C.FRAME);
    for (let i = 0; i < C.FRAME * C.FRAME; i++) {
      const v = r && r.input ? Math.round(255 * r.input[i]) : 0;
      image.data.set([v, v, v, 255], 4 * i);
    }
    input.putImageData(image, 0, 0);
  }
  const later = () => { if (!queued) { queued = true; requestAnimationFrame(read); } };

  pad.addEventListener("pointerdown", (e) => {
    pad.setPointerCapture(e.pointerId);
    last = at(e);
    ctx.beginPath();
    ctx.arc(last[0], last[1], C.BRUSH_RADIUS, 0, 2 * Math.PI);
    ctx.fill();
    later();
  });
  pad.addEventListener("pointermove", (e) => {
    if (!last) return;
    ctx.beginPath();
    ctx.moveTo(...last);
    for (const m of (e.getCoalescedEvents && e.getCoalescedEvents().length ? e.getCoalescedEvents() : [e])) {
      last = at(m);
      ctx.lineTo(...last);
    }
    ctx.stroke();
    later();
  });
  const up = () => { last = null; };
  pad.addEventListener("pointerup", up);
  pad.addEventListener("pointercancel", up);
  document.getElementById("clear").addEventListener("click", () => {
    ctx.clearRect(0, 0, C.CANVAS, C.CANVAS);
    later();
  });

  // The checkpoint and its "is it a digit?" statistics, copied next to this page.
  const get = (url) => fetch(url).then((r) => { if (!r.ok) throw new Error(`${r.status}`); return r.arrayBuffer(); });
  // Without statistics "is it a digit?" falls back to the top probability, as on the server.
  Promise.all([get(box.dataset.model), box.dataset.novelty ? get(box.dataset.novelty) : null])
    .then(([weights, statistics]) => {
      tensors = window.liveReading.readSafetensors(weights);
      novelty = statistics && window.liveReading.readNovelty(statistics, C.NOVELTY_FORMAT);
      read();
    })
    .catch((e) => { box.querySelector(".live-text").textContent = `The model could not be loaded (${e.message}).`; });
})();
