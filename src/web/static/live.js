// The live reading: the visitor's own browser reads every stroke at once, so that a whole class drawing
// together never waits for the server. The server's reading (saliency, "is it a digit?", numbers) follows.
//
// It is the project's one preprocessing (src/data/) and one network (src/model/network.py), written a second
// time, for the browser:
//   - the constants come from the server (the data-constants attribute of #live-reading, src/web/live.py);
//   - the weights are the chosen checkpoint's own .safetensors file (data-weights), never a copy;
//   - Pillow's resampling is reproduced bit for bit (libImaging/Resample.c, 8 bits per channel);
//   - tests/test_live.py checks the 28x28 inputs and the digits against Python, in Chromium and in Node.
//
// One plain script, no build step, in parts: resampling, preprocessing, splitting, the network, "is it a
// digit?", reading (none of which touch the DOM), then the reader and the page. The same file runs:
//   - on the page (the app inlines it, the static page loads it): the page part starts;
//   - in the reader's Web Worker, made from this very script: the reader starts;
//   - in Node (tests/test_live_node.py): nothing starts, and `liveReading` holds the reading.
// The pixels are the pad's own (src/web/static/pad.js), the very ones it sends the server: after each change
// the pad announces, its pixels go to the worker, which reads them one reading at a time, the newest first.
"use strict";

// ================================================================== resampling: Pillow's resize, 8-bit, exactly
const PRECISION_BITS = 22; // 32 - 8 - 2, as in Pillow

function sinc(x) {
  return x === 0 ? 1 : Math.sin(x * Math.PI) / (x * Math.PI);
}

const FILTERS = {
  box: { support: 0.5, at: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  bilinear: { support: 1, at: (x) => Math.max(0, 1 - Math.abs(x)) },
  lanczos: { support: 3, at: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
};

// Python's round(): halves go to the even neighbour.
function pyRound(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// For each output pixel: the first input pixel and the fixed-point weights (precompute_coeffs).
function coefficients(inSize, outSize, filter) {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filter.support * filterscale;
  const out = [];
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    const k = [];
    let total = 0;
    for (let x = 0; x < xmax; x++) {
      const w = filter.at((x + xmin - center + 0.5) / filterscale);
      k.push(w);
      total += w;
    }
    const fixed = k.map((w) => {
      const v = total !== 0 ? w / total : w;
      return Math.trunc(v < 0 ? -0.5 + v * 2 ** PRECISION_BITS : 0.5 + v * 2 ** PRECISION_BITS);
    });
    out.push({ xmin, k: fixed });
  }
  return out;
}

function clip8(s) {
  return s >= 2 ** (PRECISION_BITS + 8) ? 255 : s <= 0 ? 0 : Math.floor(s / 2 ** PRECISION_BITS);
}

// One pass of the resize, along rows (`horizontal`) or columns, rounded to 8 bits: `lines` lines of `inSize`
// pixels -> `lines` lines of `outSize` pixels, in an image laid out row by row.
function resampleLines(src, lines, inSize, outSize, horizontal, filter) {
  const cs = coefficients(inSize, outSize, filter);
  const out = new Uint8Array(lines * outSize);
  // Pixel i of line j is at j * lineIn + i * pixel in the input, and at j * lineOut + i * pixel in the output.
  const [lineIn, lineOut, pixel] = horizontal ? [inSize, outSize, 1] : [1, 1, lines];
  for (let j = 0; j < lines; j++) {
    for (let i = 0; i < outSize; i++) {
      const { xmin, k } = cs[i];
      let s = 2 ** (PRECISION_BITS - 1);
      for (let x = 0; x < k.length; x++) s += src[j * lineIn + (xmin + x) * pixel] * k[x];
      out[j * lineOut + i * pixel] = clip8(s);
    }
  }
  return out;
}

// Image.resize((W, H), filter) of a grey image: a horizontal pass rounded to 8 bits, then a vertical one.
function resize(img, w, h, W, H, filter) {
  let out = W !== w ? resampleLines(img, h, w, W, true, filter) : img;
  if (H !== h) out = resampleLines(out, W, h, H, false, filter);
  return out === img ? img.slice() : out;
}

// ================================================================== preprocessing (src/data/preprocess.py)
// ImageFilter.MinFilter(3) / MaxFilter(3): edges repeat their outermost pixels (Pillow's expand).
function rankFilter(img, w, h, pick) {
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let v = img[y * w + x];
      for (let dy = -1; dy <= 1; dy++) {
        const yy = Math.min(h - 1, Math.max(0, y + dy));
        for (let dx = -1; dx <= 1; dx++) v = pick(v, img[yy * w + Math.min(w - 1, Math.max(0, x + dx))]);
      }
      out[y * w + x] = v;
    }
  }
  return out;
}

// Image.getbbox() then crop: [image, w, h], or null when nothing is left.
function cropToInk(img, w, h) {
  let top = h, bottom = -1, left = w, right = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (img[y * w + x]) {
        top = Math.min(top, y); bottom = Math.max(bottom, y);
        left = Math.min(left, x); right = Math.max(right, x);
      }
    }
  }
  if (bottom < 0) return null;
  return crop(img, w, top, bottom + 1, left, right + 1);
}

function crop(img, w, top, bottom, left, right) {
  const cw = right - left, ch = bottom - top, out = new Uint8Array(cw * ch);
  for (let y = 0; y < ch; y++) out.set(img.subarray((top + y) * w + left, (top + y) * w + right), y * cw);
  return [out, cw, ch];
}

// 2 * area / perimeter of the pixels above 50% (preprocess._stroke_width).
function strokeWidth(img, w, h) {
  let area = 0, perimeter = 0;
  const on = (x, y) => img[y * w + x] > 127;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!on(x, y)) continue;
      area++;
      const edge = x === 0 || y === 0 || x === w - 1 || y === h - 1;
      if (edge || !(on(x - 1, y) && on(x + 1, y) && on(x, y - 1) && on(x, y + 1))) perimeter++;
    }
  }
  return perimeter ? (2 * area) / perimeter : 0;
}

// preprocess.measure_ink, from alpha: the ink's measurements, taken once per drawing and shared by toMnist and
// splitDigits; null when it holds no drawing (blank, a click or a speck). Ends of the box are exclusive.
function measureInk(alpha, width, height, constants) {
  const f = Math.fround, n = width * height, unit = f(1 / 255);
  let peak = 0;
  for (let i = 0; i < n; i++) if (alpha[i] > peak) peak = alpha[i];
  peak = f(peak * unit);
  if (peak < constants.MIN_PEAK) return null; // blank
  const threshold = f(constants.INK_THRESHOLD * peak), mask = new Uint8Array(n);
  let count = 0, top = height, bottom = -1, left = width, right = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (f(alpha[y * width + x] * unit) > threshold) {
        mask[y * width + x] = 1;
        count++;
        top = Math.min(top, y); bottom = Math.max(bottom, y);
        left = Math.min(left, x); right = Math.max(right, x);
      }
    }
  }
  if (count < constants.MIN_INK_FRACTION * n) return null; // a click or a speck
  bottom += 1; right += 1;
  if (Math.max(bottom - top, right - left) < constants.MIN_EXTENT * Math.max(width, height)) return null;
  return { peak, threshold, mask, count, top, bottom, left, right };
}

// preprocess.to_mnist, from alpha: Uint8 HxW (the pad's alpha = ink), `measured` its measureInk if taken.
// -> {input: Float32Array(784)} | {filled: true} | null
function toMnist(alpha, width, height, constants, measured) {
  const found = measured || measureInk(alpha, width, height, constants);
  if (!found) return null;
  if (found.count > constants.MAX_INK_FRACTION * (width * height)) return { filled: true };
  const stroked = mnistStroke(...workImage(alpha, width, found, constants), constants);
  return stroked ? { input: centred(...stroked, constants) } : { filled: true };
}

// The ink cropped to its box without its faint fringe, its peak stretched to 255, then WORK pixels on the
// longer side. -> [image, w, h]
function workImage(alpha, width, found, constants) {
  const f = Math.fround, unit = f(1 / 255);
  const { peak, threshold, top, left } = found;
  const h = found.bottom - top, w = found.right - left;
  const stretch = f(255 / peak);
  const img = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = f(alpha[(top + y) * width + left + x] * unit);
      img[y * w + x] = v > threshold ? Math.trunc(f(f(v * stretch) + 0.5)) : 0;
    }
  }
  const scale = constants.WORK / Math.max(h, w);
  const [W, H] = [Math.max(1, pyRound(w * scale)), Math.max(1, pyRound(h * scale))];
  return [resize(img, w, h, W, H, scale < 1 ? FILTERS.box : FILTERS.bilinear), W, H];
}

// The stroke width brought near MNIST's, cropped to the ink again. -> [image, w, h], or null for a dot, a
// blob or dense hatching.
function mnistStroke(img, w, h, constants) {
  const target = (constants.MNIST_STROKE * constants.WORK) / constants.BOX;
  const width = strokeWidth(img, w, h);
  if (width > constants.MAX_BLOB * constants.WORK) return null; // a dot or a blob
  if (!(width > 0)) return [img, w, h];
  const steps = Math.max(-4, Math.min(pyRound((width - target) / 2), 4));
  for (let i = 0; i < Math.abs(steps); i++) img = rankFilter(img, w, h, steps > 0 ? Math.min : Math.max);
  const inked = cropToInk(img, w, h);
  if (!inked) return null;
  return strokeWidth(...inked) > constants.MAX_STROKE * target ? null : inked; // dense hatching, thickened
}

// The longer side to BOX pixels (Lanczos), the brightest pixel to 1, and the centre of mass on the frame's
// centre, as MNIST. -> Float32Array(FRAME * FRAME)
function centred(img, w, h, constants) {
  const f = Math.fround, F = constants.FRAME;
  const scale = constants.BOX / Math.max(w, h);
  const [dw, dh] = [Math.max(1, pyRound(w * scale)), Math.max(1, pyRound(h * scale))];
  const small = resize(img, w, h, dw, dh, FILTERS.lanczos);
  const digit = new Float32Array(dw * dh);
  let brightest = 0;
  for (let i = 0; i < digit.length; i++) {
    digit[i] = Math.min(1, f(small[i] / 255));
    brightest = Math.max(brightest, digit[i]);
  }
  brightest = Math.max(brightest, 1e-6);
  let total = 0, sy = 0, sx = 0;
  for (let y = 0; y < dh; y++) {
    for (let x = 0; x < dw; x++) {
      const v = (digit[y * dw + x] = f(digit[y * dw + x] / brightest));
      total += v; sy += y * v; sx += x * v;
    }
  }
  const y0 = Math.min(Math.max(pyRound(F / 2 - sy / total), 0), F - dh);
  const x0 = Math.min(Math.max(pyRound(F / 2 - sx / total), 0), F - dw);
  const input = new Float32Array(F * F);
  for (let y = 0; y < dh; y++) input.set(digit.subarray(y * dw, (y + 1) * dw), (y0 + y) * F + x0);
  return input;
}

// inputs.deslant: a 28x28 input sheared upright by its ink's moments, in the same order of operations.
function deslant(input, F) {
  let total = 0, sy = 0, sx = 0;
  for (let y = 0; y < F; y++) {
    for (let x = 0; x < F; x++) {
      const v = input[y * F + x];
      total += v; sy += y * v; sx += x * v;
    }
  }
  const cy = sy / total, cx = sx / total;
  let spread = 0, cross = 0;
  for (let y = 0; y < F; y++) {
    for (let x = 0; x < F; x++) {
      const v = input[y * F + x];
      spread += (y - cy) ** 2 * v;
      cross += (y - cy) * (x - cx) * v;
    }
  }
  const slant = spread > 0 ? cross / spread : 0;
  const out = new Float32Array(F * F);
  const at = (y, col) => (col >= 0 && col < F ? input[y * F + col] : 0);
  for (let y = 0; y < F; y++) {
    for (let x = 0; x < F; x++) {
      const src = x + slant * (y - cy), left = Math.floor(src), frac = src - left;
      out[y * F + x] = (1 - frac) * at(y, left) + frac * at(y, left + 1);
    }
  }
  return { input: out, slant };
}

// ================================================================== splitting numbers (src/data/segment.py)
// segment.split_digits: several digits side by side -> one alpha crop [image, w, h] per digit, left to right
// ([] when it is one digit); dots alone -> one crop per dot, which toMnist refuses.
function splitDigits(alpha, width, height, constants, measured) {
  const { mask, top, bottom, left, right } = measured || measureInk(alpha, width, height, constants);
  const narrow = right - left < constants.MIN_NUMBER_ASPECT * (bottom - top);
  const labelled = components(mask, width, height, constants.WORK_SIDE), { comps } = labelled;
  if (!comps.length) return [];
  const total = comps.reduce((a, c) => a + c.area, 0);
  const tall = Math.max(...comps.map((c) => c.y1)) - Math.min(...comps.map((c) => c.y0));
  const groups = comps.map((c, i) => ({ c, i })).filter(({ c }) =>
    c.area >= constants.SPECK * total || Math.max(c.y1 - c.y0, c.x1 - c.x0) >= constants.SPECK_EXTENT * tall)
    .map(({ c, i }) => ({ members: [i + 1], x0: c.x0, x1: c.x1, y0: c.y0, y1: c.y1 }));
  const cropOf = (g) => framed(alpha, width, height, labelled, g.members);
  const dots = groups.length > 1 ? dotsAlone(groups, cropOf, constants) : null;
  if (dots) return dots;
  mergeOverlapping(groups, constants.MERGE_OVERLAP);
  if (groups.length < 2) return [];
  // A narrow drawing is one digit unless its parts are nearly as tall as it and stand apart (a 1 beside a 7).
  const shortest = Math.min(...groups.map((g) => g.y1 - g.y0));
  const gap = Math.min(...groups.slice(1).map((g, k) => g.x0 - groups[k].x1));
  if (narrow && (shortest < constants.NARROW_PART_HEIGHT * tall || gap < constants.NARROW_GAP * tall)) return [];
  return groups.map(cropOf);
}

// The mask reduced by block maxima to at most `side` pixels, and its 8-connected components, labelled in the
// order a row-by-row scan meets them (as scipy.ndimage.label). -> {labels, comps, f: the block, w, h}
function components(mask, width, height, side) {
  const f = Math.max(1, Math.ceil(Math.max(width, height) / side));
  const h = Math.ceil(height / f), w = Math.ceil(width / f);
  const small = new Uint8Array(w * h);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) if (mask[y * width + x]) small[((y / f) | 0) * w + ((x / f) | 0)] = 1;
  }
  const labels = new Int32Array(w * h), comps = [];
  for (let start = 0; start < w * h; start++) {
    if (small[start] && !labels[start]) comps.push(floodFill(small, labels, w, h, start, comps.length + 1));
  }
  return { labels, comps, f, w, h };
}

// Labels the component of `small` at `start` with `label`. -> its area and box {area, y0, y1, x0, x1}
function floodFill(small, labels, w, h, start, label) {
  const c = { area: 0, y0: h, y1: 0, x0: w, x1: 0 }, stack = [start];
  labels[start] = label;
  while (stack.length) {
    const i = stack.pop(), y = (i / w) | 0, x = i % w;
    c.area++;
    c.y0 = Math.min(c.y0, y); c.y1 = Math.max(c.y1, y + 1); c.x0 = Math.min(c.x0, x); c.x1 = Math.max(c.x1, x + 1);
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        const yy = y + dy, xx = x + dx, j = yy * w + xx;
        if (yy >= 0 && yy < h && xx >= 0 && xx < w && small[j] && !labels[j]) { labels[j] = label; stack.push(j); }
      }
    }
  }
  return c;
}

// segment._framed: the alpha of some components, centred in a square frame with a margin. -> [image, side, side]
function framed(alpha, width, height, { labels, f, w, h }, members) {
  const member = new Set(members);
  let r0 = h, r1 = -1, c0 = w, c1 = -1;
  for (let i = 0; i < w * h; i++) {
    if (member.has(labels[i])) {
      const y = (i / w) | 0, x = i % w;
      r0 = Math.min(r0, y); r1 = Math.max(r1, y); c0 = Math.min(c0, x); c1 = Math.max(c1, x);
    }
  }
  const y0 = r0 * f, y1 = Math.min((r1 + 1) * f, height), x0 = c0 * f, x1 = Math.min((c1 + 1) * f, width);
  const ch = y1 - y0, cw = x1 - x0, side = Math.trunc(Math.max(ch, cw) * 1.2) + 2;
  const top = ((side - ch) / 2) | 0, left = ((side - cw) / 2) | 0, out = new Uint8Array(side * side);
  for (let y = 0; y < ch; y++) {
    for (let x = 0; x < cw; x++) {
      if (member.has(labels[(((y0 + y) / f) | 0) * w + (((x0 + x) / f) | 0)])) {
        out[(top + y) * side + left + x] = alpha[(y0 + y) * width + x0 + x];
      }
    }
  }
  return [out, side, side];
}

// Dots alone are no digit: their crops, left to right, which readAlpha refuses (a colon would read as a 3);
// null when some group is a digit.
function dotsAlone(groups, cropOf, constants) {
  const dots = [];
  for (const g of [...groups].sort((a, b) => a.x0 - b.x0)) {
    const dot = cropOf(g), r = toMnist(...dot, constants);
    if (r && r.input) return null;
    dots.push(dot);
  }
  return dots;
}

// Groups that overlap horizontally are one digit, until nothing changes: merged in place, left to right.
function mergeOverlapping(groups, mergeOverlap) {
  for (let merged = true; merged;) {
    merged = false;
    groups.sort((a, b) => a.x0 - b.x0);
    for (let a = 0; a < groups.length && !merged; a++) {
      for (let b = a + 1; b < groups.length; b++) {
        const ga = groups[a], gb = groups[b];
        const overlap = Math.min(ga.x1, gb.x1) - Math.max(ga.x0, gb.x0);
        if (overlap > mergeOverlap * Math.min(ga.x1 - ga.x0, gb.x1 - gb.x0)) {
          ga.members.push(...gb.members);
          ga.x0 = Math.min(ga.x0, gb.x0); ga.x1 = Math.max(ga.x1, gb.x1);
          ga.y0 = Math.min(ga.y0, gb.y0); ga.y1 = Math.max(ga.y1, gb.y1);
          groups.splice(b, 1);
          merged = true;
          break;
        }
      }
    }
  }
}

// ================================================================== the network (src/model/network.py)
const SHAPES = {
  "conv1.weight": [8, 1, 3, 3], "conv1.bias": [8], "conv2.weight": [16, 8, 3, 3], "conv2.bias": [16],
  "conv3.weight": [32, 16, 3, 3], "conv3.bias": [32], "fc.weight": [10, 1568], "fc.bias": [10],
};

// A .safetensors file -> {header, tensor(name, shape): its data as a Float32Array}; tensor throws unless the
// tensor is F32 (and of that shape, if given).
function safetensors(buffer) {
  const size = Number(new DataView(buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 8, size)));
  const tensor = (name, shape) => {
    const t = header[name];
    const wrong = !t || t.dtype !== "F32" || (shape && t.shape.join() !== shape.join());
    if (wrong) throw new Error(`unexpected tensor ${name}`);
    return new Float32Array(buffer.slice(8 + size + t.data_offsets[0], 8 + size + t.data_offsets[1]));
  };
  return { header, tensor };
}

// The network's weights, by name; throws unless the file is the tutorial network in F32.
function readSafetensors(buffer) {
  const { tensor } = safetensors(buffer);
  return Object.fromEntries(Object.entries(SHAPES).map(([name, shape]) => [name, tensor(name, shape)]));
}

// 3x3 convolution, padding 1, then ReLU: (channels, side, side) -> (bias.length, side, side). Each weight is
// applied to a whole plane at once (the fast order here); each output sums bias, then c, ky, kx in order, in
// float64.
function convRelu(x, channels, side, weight, bias) {
  const area = side * side, acc = new Float64Array(area), out = new Float32Array(bias.length * area);
  for (let o = 0; o < bias.length; o++) {
    acc.fill(bias[o]);
    for (let c = 0; c < channels; c++) {
      for (let ky = 0; ky < 3; ky++) {
        const dy = ky - 1, y0 = Math.max(0, -dy), y1 = Math.min(side, side - dy);
        for (let kx = 0; kx < 3; kx++) {
          const dx = kx - 1, w = weight[((o * channels + c) * 3 + ky) * 3 + kx];
          const x0 = Math.max(0, -dx), x1 = Math.min(side, side - dx);
          for (let y = y0; y < y1; y++) {
            const row = y * side, from = c * area + (y + dy) * side + dx;
            for (let xx = x0; xx < x1; xx++) acc[row + xx] += w * x[from + xx];
          }
        }
      }
    }
    for (let i = 0; i < area; i++) out[o * area + i] = Math.max(0, acc[i]);
  }
  return out;
}

// 2x2 max pooling: (channels, side, side) -> (channels, side / 2, side / 2).
function maxPool(x, channels, side) {
  const half = side / 2, out = new Float32Array(channels * half * half);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < half; y++) {
      for (let xx = 0; xx < half; xx++) {
        const at = (dy, dx) => x[(c * side + 2 * y + dy) * side + 2 * xx + dx];
        out[(c * half + y) * half + xx] = Math.max(at(0, 0), at(0, 1), at(1, 0), at(1, 1));
      }
    }
  }
  return out;
}

// The 28x28 input in [0, 1] -> {features: the 1568 inputs of the last layer, logits}.
function forward(t, input, constants) {
  const x = input.map((v) => (v - constants.MEAN) / constants.STD);
  let h = maxPool(convRelu(x, 1, 28, t["conv1.weight"], t["conv1.bias"]), 8, 28);
  h = maxPool(convRelu(h, 8, 14, t["conv2.weight"], t["conv2.bias"]), 16, 14);
  h = convRelu(h, 16, 7, t["conv3.weight"], t["conv3.bias"]);
  const logits = Array.from(t["fc.bias"], (b, d) => {
    let s = b;
    for (let i = 0; i < 1568; i++) s += t["fc.weight"][d * 1568 + i] * h[i];
    return s;
  });
  return { features: h, logits };
}

function softmax(logits) {
  const top = Math.max(...logits), e = logits.map((l) => Math.exp(l - top)), sum = e.reduce((a, b) => a + b);
  return e.map((v) => v / sum);
}

// The logits' energy, -logsumexp: higher = less like any digit.
function energy(logits) {
  const top = Math.max(...logits);
  return -(top + Math.log(logits.reduce((a, l) => a + Math.exp(l - top), 0)));
}

// The 28x28 input in [0, 1] -> the ten probabilities.
function probabilities(t, input, constants) {
  return softmax(forward(t, input, constants).logits);
}

// ================================================================== is it a digit? (src/model/novelty.py)
// The checkpoint's own NAME.novelty.safetensors: the digits' feature mean and PCA basis, and the two thresholds.
// format: constants.NOVELTY_FORMAT, the one this page's scoring is for.
function readNovelty(buffer, format) {
  const { header, tensor } = safetensors(buffer);
  const meta = header.__metadata__ || {};
  if (meta.format !== format) throw new Error(`not a ${format} file`);
  const basis = tensor("pca_basis");
  return { mean: tensor("feature_mean"), basis, dims: header.pca_basis.shape[1],
           threshold: parseFloat(meta.threshold), unusual: parseFloat(meta.unusual_threshold) };
}

// NoveltyDetector.residual: log of the squared length of the features outside the digits' PCA subspace.
function residual(novelty, features) {
  const D = novelty.dims, n = features.length, centred = new Float64Array(n), proj = new Float64Array(D);
  for (let i = 0; i < n; i++) centred[i] = features[i] - novelty.mean[i];
  for (let i = 0; i < n; i++) for (let k = 0; k < D; k++) proj[k] += centred[i] * novelty.basis[i * D + k];
  let sum = 0;
  for (let i = 0; i < n; i++) {
    let off = centred[i];
    for (let k = 0; k < D; k++) off -= novelty.basis[i * D + k] * proj[k];
    sum += off * off;
  }
  return Math.log(sum + 1e-9);
}

// The 28x28 input moved by (dy, dx), zero-filled.
function shift(input, dy, dx, F) {
  const out = new Float32Array(F * F);
  for (let y = Math.max(dy, 0); y < F + Math.min(dy, 0); y++) {
    for (let x = Math.max(dx, 0); x < F + Math.min(dx, 0); x++) out[y * F + x] = input[(y - dy) * F + x - dx];
  }
  return out;
}

// The energy averaged over the input moved by each of SHIFTS (`logits`: as drawn).
function notDigitScore(t, input, logits, constants) {
  let sum = 0;
  for (const [dy, dx] of constants.SHIFTS) {
    sum += energy(dy || dx ? forward(t, shift(input, dy, dx, constants.FRAME), constants).logits : logits);
  }
  return sum / constants.SHIFTS.length;
}

// The verdict on the parts of one drawing: not a digit if any part is not; unusual if a part that is a digit
// is unusual. Without statistics: not a digit below FALLBACK_MIN_CONFIDENCE.
function judge(novelty, t, inputs, passes, probs, constants) {
  if (!novelty) {
    const surest = Math.min(...probs.map((p) => Math.max(...p)));
    return { isDigit: surest >= constants.FALLBACK_MIN_CONFIDENCE, unusual: false };
  }
  const not = inputs.map((x, i) => notDigitScore(t, x, passes[i].logits, constants) > novelty.threshold);
  return {
    isDigit: !not.some(Boolean),
    unusual: passes.some((r, i) => !not[i] && residual(novelty, r.features) > novelty.unusual),
  };
}

// ================================================================== reading (src/data/inputs.py, src/reading/)
// Alpha (= ink) as LoadedModel.read reads it -> {inputs, probabilities, isDigit, unusual} with one input
// and ten probabilities per digit, left to right | {filled: true} | null (nothing drawn).
// quick: the digits and their probabilities only, without "is it a digit?" (its eight shifted passes of the
// network and its second looks): for the readings while the pen moves.
function readAlpha(alpha, width, height, tensors, novelty, constants, quick) {
  const measured = measureInk(alpha, width, height, constants); // once, for the whole and for the split
  const whole = toMnist(alpha, width, height, constants, measured);
  if (!whole || !whole.input) return whole;
  const crops = splitDigits(alpha, width, height, constants, measured);
  const parts = crops.length > 1 ? crops.map((crop) => toMnist(crop[0], crop[1], crop[2], constants)) : [];
  if (parts.some((r) => !r || !r.input)) return { filled: true }; // a part that is a dot or a filled area
  const inputs = parts.length ? parts.map((r) => r.input) : [whole.input];
  if (quick) {
    const probs = inputs.map((x) => probabilities(tensors, x, constants));
    return { inputs, input: inputs[0], quick: true, probabilities: probs };
  }
  const reading = readInputs(inputs, tensors, novelty, constants);
  return reading.isDigit ? reading : secondLook(reading, parts.length > 0, whole.input, tensors, novelty, constants);
}

// A drawing that is not a digit as first read, read again: in parts, whole (they may be one digit's pieces);
// one slanted far, upright. -> the second reading if it is a digit, else `reading`
function secondLook(reading, inParts, whole, tensors, novelty, constants) {
  const upright = inParts ? null : deslant(whole, constants.FRAME);
  const again = inParts ? whole : Math.abs(upright.slant) > constants.DESLANT_FROM ? upright.input : null;
  const other = again && readInputs([again], tensors, novelty, constants);
  return other && other.isDigit ? other : reading;
}

// LoadedModel.read_inputs: network inputs, one per digit -> {inputs, input, probabilities, isDigit, unusual}.
function readInputs(inputs, tensors, novelty, constants) {
  const passes = inputs.map((x) => forward(tensors, x, constants)), probs = passes.map((r) => softmax(r.logits));
  const verdict = judge(novelty, tensors, inputs, passes, probs, constants);
  return { inputs, input: inputs[0], probabilities: probs, ...verdict };
}

// RGBA pixels whose alpha is the ink (the pad's) -> the same.
function readPixels(rgba, width, height, tensors, novelty, constants, quick) {
  const alpha = new Uint8Array(width * height);
  for (let i = 0; i < alpha.length; i++) alpha[i] = rgba[4 * i + 3];
  return readAlpha(alpha, width, height, tensors, novelty, constants, quick);
}

// A PNG (Blob) drawn onto a canvas of its own size (browsers only).
async function decode(blob) {
  const bitmap = await createImageBitmap(blob, { premultiplyAlpha: "none", colorSpaceConversion: "none" });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  canvas.getContext("2d", { willReadFrequently: true }).drawImage(bitmap, 0, 0);
  return canvas;
}

// A PNG of the pad, as the server gets it -> the same (browsers only).
async function readPng(blob, tensors, novelty, constants) {
  const canvas = await decode(blob);
  const img = canvas.getContext("2d", { willReadFrequently: true }).getImageData(0, 0, canvas.width, canvas.height);
  return readPixels(img.data, canvas.width, canvas.height, tensors, novelty, constants);
}

// The reading's entry points under one name, for the tests (in Chromium and in Node).
const liveReading = {
  toMnist, splitDigits, deslant, readSafetensors, readNovelty, forward, probabilities, energy, residual,
  readPixels, read: readPng, decode,
};

// ================================================================== the reader
// Reads the pad's pixels, in a Web Worker (so a reading never holds up the pen), or on the page where workers
// are not allowed. Messages in: constants, model {url, novelty}, pixels {bitmap, why, at, quick}. Out, one per
// pixels message: {result, why, upTo: its `at`} or {error}.
function reader(post) {
  let constants = null, url = null, noveltyUrl = "", waiting = null;
  const files = new Map(); // url -> Promise of its tensors (weights, or novelty statistics)
  const load = (u, parse) => {
    if (!files.has(u)) {
      files.set(u, fetch(u).then((r) => {
        if (!r.ok) throw new Error(`${r.status} ${u}`);
        return r.arrayBuffer();
      }).then(parse));
      files.get(u).catch(() => files.delete(u)); // tried again at the next change
    }
    return files.get(u);
  };
  const loadNovelty = (u) => load(u, (b) => readNovelty(b, constants.NOVELTY_FORMAT));

  async function readMessage(m) {
    const [weights, statistics] = [url, noveltyUrl]; // one model's, even if another is named meanwhile
    try {
      const tensors = await load(weights, readSafetensors);
      const novelty = statistics ? await loadNovelty(statistics) : null;
      const { width, height } = m.bitmap;
      const r = readPixels(pixelsOf(m.bitmap), width, height, tensors, novelty, constants, m.quick);
      post({ result: r && { probabilities: r.probabilities || null, filled: !!r.filled, isDigit: !!r.isDigit,
                            unusual: !!r.unusual, quick: !!r.quick, input: r.input || null }, why: m.why, upTo: m.at });
    } catch (e) {
      post({ error: String(e), upTo: m.at });
    } finally {
      m.bitmap.close(); // (again, if it was read: harmless)
    }
  }

  return (m) => {
    if (m.type === "constants") constants = m.constants;
    else if (m.type === "model") {
      [url, noveltyUrl] = [m.url, m.novelty];
      load(url, readSafetensors).catch(() => {});
      if (noveltyUrl) loadNovelty(noveltyUrl).catch(() => {});
      if (waiting) readMessage(waiting);
      waiting = null;
    } else if (m.type === "pixels") {
      if (url && constants) readMessage(m);
      else waiting = m; // read once a model is named
    }
  };
}

// An ImageBitmap's RGBA pixels, read in the reader rather than by the page.
function pixelsOf(bitmap) {
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  bitmap.close(); // only now: the canvas draws lazily
  return data;
}

// ================================================================== the page
// The reader's results are shown in #live-reading, and the 28x28 input in #input28 where the page has one
// (the static page).
const SCRIPT = typeof document !== "undefined" ? document.currentScript : null; // this script, for the worker
const livePage = { send: null, sentConstants: null, pad: null, inFlight: false, dirty: null, readings: [] };

function liveElement() {
  return document.querySelector("#live-reading .live-reading");
}

// The reader in a worker of its own, running this very script; on the page if workers are not allowed.
function startReader() {
  try {
    const source = SCRIPT.src ? `importScripts(${JSON.stringify(SCRIPT.src)});` : SCRIPT.text;
    const worker = new Worker(URL.createObjectURL(new Blob([source], { type: "text/javascript" })));
    worker.onmessage = (e) => {
      window.liveReaderIn = "worker"; // for the tests: where the readings come from
      answered(e.data);
    };
    worker.onerror = (e) => { // e.g. a page whose content security policy forbids blob: workers
      console.warn("live reading: no worker, reading on the page:", e.message);
      worker.terminate();
      readOnPage();
      livePage.sentConstants = null;
      livePage.inFlight = false;
      modelChanged(true);
    };
    livePage.send = (m, transfer) => worker.postMessage(m, transfer || []);
  } catch (e) {
    console.warn("live reading: no worker, reading on the page:", e);
    readOnPage();
  }
}

function readOnPage() {
  const handle = reader((m) => setTimeout(() => answered(m), 0));
  livePage.send = (m) => handle(m);
  window.liveReaderIn = "page";
}

// What the reader needs before any reading: the constants (#live-reading's data-constants, src/web/live.py).
function configure(box) {
  if (!box) return false;
  if (!livePage.send) startReader();
  if (livePage.sentConstants !== box.dataset.constants) {
    livePage.sentConstants = box.dataset.constants;
    livePage.send({ type: "constants", constants: JSON.parse(box.dataset.constants) });
  }
  return true;
}

// The pad's newest pixels to the reader, once it has answered the last ones.
function pump() {
  if (livePage.inFlight || !livePage.dirty || !livePage.pad || !configure(liveElement())) return;
  const { why } = livePage.dirty, at = performance.now(), snapshot = livePage.pad.snapshot(); // the pixels now
  livePage.dirty = null;
  livePage.inFlight = true;
  // While the pen moves, a quick reading (the digits); once it lifts, or after Undo or Clear, the whole one.
  snapshot.then((bitmap) => livePage.send({ type: "pixels", bitmap, why, at, quick: why === "pen" }, [bitmap]))
    .catch((e) => answered({ error: String(e) }));
}

function answered(message) {
  livePage.inFlight = false;
  shown(message);
  pump();
}

// Writes `value` into `el`'s `key` (a property, or a style's) only if it changed: a reading that changes
// nothing on the page costs no layout.
function put(el, key, value, style) {
  const target = style ? el.style : el;
  if (target[key] !== value) target[key] = value;
}

// What a reading says: the least certain digit's probabilities `p` (the bars show them, as the server's
// reading does), and the page's digit, text and verdict.
function describe(result) {
  const rows = (result && result.probabilities) || []; // one row per digit
  const tops = rows.map((p) => Math.max(...p)), worst = tops.indexOf(Math.min(...tops)), p = rows[worst];
  const number = rows.map((q) => q.indexOf(Math.max(...q))).join("");
  const confidence = p ? `${Math.round(100 * tops[worst])}%` : "";
  const sure = `${confidence}${rows.length > 1 ? ` for digit ${worst + 1}, the least certain` : ""}`;
  const said = { p, number, confidence };
  if (!p) {
    const text = result ? "Dots or a filled area, not a digit" : "Draw a digit: your browser reads it as you draw";
    return { ...said, title: "–", text, verdict: result ? "not a digit" : "" };
  }
  if (result.quick) {
    return { ...said, title: number, text: `${sure}, read in your browser as you draw`, verdict: "reading" };
  }
  if (!result.isDigit) {
    const text = `Not a digit, it seems (best guess ${number}, ${sure}), read in your browser`;
    return { ...said, title: "?", text, verdict: "not a digit" };
  }
  const unusual = result.unusual ? `An unusual ${rows.length > 1 ? "number" : "way to write it"}: ` : "";
  const text = `${unusual}${sure}, read in your browser as you draw`;
  return { ...said, title: number, text, verdict: result.unusual ? "unusual" : "digit" };
}

function shown(message) {
  const box = liveElement();
  if (!box) return;
  if (message.error) {
    put(box.querySelector(".live-text"), "textContent", "Live reading unavailable; the server's reading is below.");
    console.warn("live reading:", message.error);
    return;
  }
  const { result, why, upTo } = message, said = describe(result);
  box.querySelectorAll(".live-bar").forEach((bar, d) => {
    const v = said.p ? Math.round(100 * said.p[d]) : 0;
    put(bar.firstChild, "transform", `scaleY(${v / 100})`, true);
    put(bar, "title", `${d}: ${v}%`);
  });
  put(box.querySelector(".live-digit"), "textContent", said.title);
  put(box.querySelector(".live-text"), "textContent", said.text);
  showInput(result && result.input);
  // For the tests, the benches and the spoken readings: when each reading was shown, what changed the drawing,
  // the newest input it holds (bench/pen.py: the delay after the last move), and what it says.
  const at = performance.now();
  livePage.readings.push({ at, why, upTo, quick: !!(result && result.quick) });
  if (livePage.readings.length > 100) livePage.readings.shift();
  const data = { readAt: String(at), source: why, reading: said.p ? said.number : "", confidence: said.confidence,
                 verdict: said.verdict };
  for (const [key, value] of Object.entries(data)) put(box.dataset, key, value);
}

// The static page shows the 28x28 input the network saw (none: black), white on black as in MNIST.
function showInput(input) {
  const canvas = document.getElementById("input28");
  if (!canvas) return;
  const ctx = canvas.getContext("2d"), image = ctx.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const v = input ? Math.round(255 * input[i]) : 0;
    image.data.set([v, v, v, 255], 4 * i);
  }
  ctx.putImageData(image, 0, 0);
}

// A new model (the server re-renders #live-reading with its weights): the reader fetches it and reads the
// drawing again. `again`: send it even if it has not changed (a new reader).
function modelChanged(again) {
  const box = liveElement();
  if (box && box.dataset.weights && (again || box.dataset.weights !== box.dataset.shownWeights) && configure(box)) {
    box.dataset.shownWeights = box.dataset.weights;
    const absolute = (u) => (u ? new URL(u, document.baseURI).href : "");
    livePage.send({ type: "model", url: absolute(box.dataset.weights), novelty: absolute(box.dataset.novelty),
                    at: performance.now() });
    livePage.dirty = livePage.dirty || { why: "model" };
    pump();
  }
}

function startPage() {
  window.liveReadings = livePage.readings;
  document.addEventListener("pad-change", (e) => {
    livePage.pad = e.detail.pad;
    livePage.dirty = { why: e.detail.why };
    pump();
  });
  new MutationObserver(() => modelChanged(false)).observe(document.documentElement, { subtree: true, childList: true });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => modelChanged(false));
  else modelChanged(false);
}

function startWorker() {
  const handle = reader((m) => postMessage(m));
  self.onmessage = (e) => handle(e.data);
}

if (typeof document !== "undefined") startPage();
else if (typeof importScripts === "function") startWorker();
