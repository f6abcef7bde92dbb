// What a screen reader hears, and repairs to the page's markup (src/web/accessibility.py).
//
// One polite live region (#announcer, there from the start, empty) says, once each has settled:
//   - the live reading: "Live reading: 7, 98%", "the number 17, ...", "not a digit";
//   - the server's reading (#prediction), when the live reading has not already said it;
//   - the answer to an uploaded image (#classify-result);
//   - the training's progress (#train-status).
// A text is said only when it has not changed for SETTLE ms, so nothing is said on every pointer move; a
// source repeats itself only after it has been empty (a second 7 after Clear is said again).
//
// One plain script, no build step, in parts: the live region, settling and speaking, what each source says,
// repairs to the markup, focusable scrolling text, then the start. Its names begin with a11y/A11Y, apart from
// live.js's, which shares the page.
"use strict";

// ================================================================== the live region
const A11Y_SETTLE = 700;
const A11Y_TRACKER = '[data-testid="status-tracker"]'; // Gradio's progress overlay: its timer changes every frame
// The region; each source's pending timer and what it last said; whether focusable scrollers are due.
const a11y = { region: null, timers: new Map(), last: new Map(), scrollersDue: false };

function a11yRegion() {
  if (a11y.region && a11y.region.isConnected) return a11y.region;
  const region = document.getElementById("announcer") || document.createElement("div");
  a11y.region = region;
  region.id = "announcer";
  region.className = "visually-hidden";
  region.setAttribute("role", "status");
  region.setAttribute("aria-live", "polite");
  if (!region.isConnected) document.body.appendChild(region);
  return region;
}

// ================================================================== settling and speaking
// The source called `key` says `now`, unless it said so last; an empty text is kept, not said.
function a11ySpeak(key, now) {
  if (now === (a11y.last.get(key) || "")) return;
  a11y.last.set(key, now);
  if (now) a11yRegion().textContent = now;
}

// Say what the source called `key` says now, once it has been quiet for SETTLE ms.
function a11ySettle(key, text) {
  clearTimeout(a11y.timers.get(key));
  a11y.timers.set(key, setTimeout(() => a11ySpeak(key, text()), A11Y_SETTLE));
}

// ================================================================== what each source says
// An element's own text, without Gradio's progress overlay.
function a11yTextOf(selector) {
  const el = document.querySelector(selector);
  if (!el) return "";
  const copy = el.cloneNode(true);
  copy.querySelectorAll(A11Y_TRACKER).forEach((t) => t.remove());
  return copy.textContent.replace(/\s+/g, " ").trim();
}

function a11yLiveBox() {
  return document.querySelector("#live-reading .live-reading");
}

function a11yLiveText() {
  const box = a11yLiveBox();
  if (!box || !box.dataset.verdict) return "";
  if (box.dataset.verdict === "not a digit") return "Live reading: not a digit";
  const what = box.dataset.reading.length > 1 ? `the number ${box.dataset.reading}` : box.dataset.reading;
  const unusual = box.dataset.verdict === "unusual" ? ", an unusual drawing" : "";
  return `Live reading: ${what}, ${box.dataset.confidence}${unusual}`;
}

function a11yServerText() {
  const line = document.querySelector("#prediction .server-reading");
  const said = line ? line.textContent.trim() : "";
  if (!said || said.startsWith("Draw a digit")) return "";
  const box = a11yLiveBox(), read = /^\d+/.exec(said); // the live reading has said it already
  if (box && box.dataset.source === "clear") return ""; // the pad was cleared: the line is about the drawing before
  if (box && ((read && box.dataset.reading === read[0]) || (box.dataset.verdict === "not a digit" && !read))) return "";
  return `The server reads: ${said}`;
}

function a11yFileText() {
  const text = a11yTextOf("#classify-result");
  const number = /number\W+(\d+)/.exec(text), digit = /"?digit"?\W+(\d|null)/.exec(text);
  const sure = /confidence\W+([\d.]+)/.exec(text), isDigit = /is_digit\W+(\w+)/.exec(text);
  if (!digit) return "";
  if (digit[1] === "null") return "The image: no digit found";
  if (isDigit && isDigit[1] === "false") return "The image: not a digit";
  if (number) return `The image reads: the number ${number[1]}`;
  return `The image reads: ${digit[1]}${sure ? `, ${Math.round(100 * parseFloat(sure[1]))}%` : ""}`;
}

function a11yTrainingText() {
  return a11yTextOf("#train-status");
}

// Where each source is on the page, its key, and what it says.
const A11Y_SOURCES = [["#live-reading", "live", a11yLiveText], ["#prediction", "server", a11yServerText],
                      ["#classify-result", "file", a11yFileText], ["#train-status", "training", a11yTrainingText]];

// ================================================================== repairs
// Markup repairs, each scoped to what Gradio renders: see src/web/accessibility.py.
const A11Y_CHARTS = {
  "loss-plot": "Loss per epoch; the numbers are in the per-epoch records table below",
  "accuracy-plot": "Validation accuracy per epoch; the numbers are in the per-epoch records table below",
  "compare-loss": "Validation loss per epoch of each run compared; the numbers are in the table below",
  "compare-accuracy": "Validation accuracy per epoch of each run compared; the numbers are in the table below",
};

function a11yRepair() {
  // An aria-label on an element with no role names nothing: a labelled box (an empty image, a drop zone)
  // is a group.
  document.querySelectorAll("div[aria-label]:not([role]), span[aria-label]:not([role])")
    .forEach((el) => el.setAttribute("role", "group"));
  // Charts: Vega's empty containers of hover marks are decoration; each chart's name says what it shows
  // and where its numbers are, the probabilities all ten of them.
  document.querySelectorAll("g.hover_marks:empty:not([aria-hidden])")
    .forEach((g) => g.setAttribute("aria-hidden", "true"));
  for (const [id, label] of Object.entries(A11Y_CHARTS)) {
    const svg = document.querySelector(`#${id} svg.marks`);
    if (svg && svg.getAttribute("aria-label") !== label) svg.setAttribute("aria-label", label);
  }
  // A shown image is a button (to enlarge it) with no name: it takes its box's label.
  document.querySelectorAll(".image-container button:not([aria-label])").forEach((button) => {
    if (button.textContent.trim()) return;
    const label = button.closest(".block")?.querySelector("label, [data-testid='block-label']");
    button.setAttribute("aria-label", (label && label.textContent.trim()) || "image");
  });
  // A button's name must hold the words it shows (WCAG 2.5.3): Gradio's drop zone says "Click to upload or
  // drop files" over "Drop File Here - or - Click to Upload"; its own words name it.
  document.querySelectorAll("button[aria-label]").forEach((button) => {
    const words = button.cloneNode(true); // its own words, not an icon's <svg><style>
    words.querySelectorAll("svg, style, script, img").forEach((el) => el.remove());
    const shown = words.textContent.replace(/\s+/g, " ").trim().toLowerCase();
    if (shown && !button.getAttribute("aria-label").toLowerCase().includes(shown)) button.removeAttribute("aria-label");
  });
  // Icons next to their own words need no name of their own.
  document.querySelectorAll("footer img[alt]:not([alt=''])").forEach((img) => {
    if (img.parentElement.textContent.includes(img.alt)) img.alt = "";
  });
}

// ================================================================== focusable scrolling text
// Scrollable text takes the keyboard's focus, so that it can be scrolled without a mouse. It measures the
// layout, so it runs a moment after the page changed, not at every change.
function a11yFocusScrollers() {
  document.querySelectorAll(".prose:not([tabindex]), pre:not([tabindex])").forEach((el) => {
    if (el.scrollHeight > el.clientHeight + 1 || el.scrollWidth > el.clientWidth + 1) el.setAttribute("tabindex", "0");
  });
}

function a11yScrollersSoon() {
  if (a11y.scrollersDue) return;
  a11y.scrollersDue = true;
  setTimeout(() => { a11y.scrollersDue = false; a11yFocusScrollers(); }, 300);
}

// ================================================================== the start
// The page changed: the sources it touched settle, and new markup is repaired.
function a11yOnMutations(records) {
  let added = false;
  for (const r of records) {
    const t = r.target.nodeType === 1 ? r.target : r.target.parentElement;
    if (!t || !t.closest || t.closest(A11Y_TRACKER)) continue; // the progress overlay's timer: not news
    // New markup needs repairs, but not the live reading's new texts, which come with every pen move.
    added = added || (r.addedNodes.length > 0 && !t.closest("#live-reading .live-reading"));
    for (const [selector, key, text] of A11Y_SOURCES) if (t.closest(selector)) a11ySettle(key, text);
  }
  if (added) { // only new markup needs repairs: at once, before anyone can meet it unrepaired
    a11yRepair();
    a11yScrollersSoon();
  }
}

// A safety net for the training's status, which Gradio may replace whole, with no mutation inside it (CI
// missed "Stopped" so, under load): each second, a status unchanged since the last look is said.
function a11yWatchTraining() {
  let seen = "";
  setInterval(() => {
    const now = a11yTrainingText();
    if (now && now === seen) a11ySpeak("training", now);
    seen = now;
  }, 1000);
}

function a11yStart() {
  a11yRegion(); // empty from the start: screen readers speak a region's changes, not its first content
  new MutationObserver(a11yOnMutations).observe(document.body, { subtree: true, childList: true, characterData: true,
                                                               attributes: true, attributeFilter: ["data-read-at"] });
  window.addEventListener("resize", a11yScrollersSoon);
  a11yRepair();
  a11yScrollersSoon();
  a11yWatchTraining();
}

if (document.body) a11yStart();
else document.addEventListener("DOMContentLoaded", a11yStart);
