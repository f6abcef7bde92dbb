// What a screen reader hears, and repairs to the page's markup (src/web/accessibility.py).
//
// One polite live region (#announcer, there from the start, empty) says, once each has settled:
//   - the live reading: "Live reading: 7, 98%", "the number 17, ...", "not a digit";
//   - the server's reading (#prediction), when the live reading has not already said it;
//   - the answer to an uploaded image (#classify-result);
//   - the training's progress (#train-status).
// A text is said only when it has not changed for SETTLE ms, so nothing is said on every pointer move; a
// source repeats itself only after it has been empty (a second 7 after Clear is said again).
(() => {
  "use strict";
  const SETTLE = 700;
  const TRACKER = '[data-testid="status-tracker"]'; // Gradio's progress overlay: its timer changes every frame
  const timers = new Map(), last = new Map();
  let region = null;

  function ensureRegion() {
    if (region && region.isConnected) return region;
    region = document.getElementById("announcer") || document.createElement("div");
    region.id = "announcer";
    region.className = "visually-hidden";
    region.setAttribute("role", "status");
    region.setAttribute("aria-live", "polite");
    if (!region.isConnected) document.body.appendChild(region);
    return region;
  }

  // Say what the source called `key` says now, once it has been quiet for SETTLE ms.
  function settle(key, text) {
    clearTimeout(timers.get(key));
    timers.set(key, setTimeout(() => {
      const now = text();
      if (now === (last.get(key) || "")) return;
      last.set(key, now);
      if (now) ensureRegion().textContent = now;
    }, SETTLE));
  }

  // An element's own text, without Gradio's progress overlay.
  const textOf = (selector) => {
    const el = document.querySelector(selector);
    if (!el) return "";
    const copy = el.cloneNode(true);
    copy.querySelectorAll(TRACKER).forEach((t) => t.remove());
    return copy.textContent.replace(/\s+/g, " ").trim();
  };

  const liveBox = () => document.querySelector("#live-reading .live-reading");
  const liveText = () => {
    const box = liveBox();
    if (!box || !box.dataset.verdict) return "";
    if (box.dataset.verdict === "not a digit") return "Live reading: not a digit";
    const what = box.dataset.reading.length > 1 ? `the number ${box.dataset.reading}` : box.dataset.reading;
    return `Live reading: ${what}, ${box.dataset.confidence}${box.dataset.verdict === "unusual" ? ", an unusual drawing" : ""}`;
  };
  const serverText = () => {
    const line = document.querySelector("#prediction .server-reading");
    const said = line ? line.textContent.trim() : "";
    if (!said || said.startsWith("Draw a digit")) return "";
    const box = liveBox(), read = /^\d+/.exec(said); // the live reading has said it already
    if (box && box.dataset.source === "clear") return ""; // the pad was cleared: the line is about the drawing before
    if (box && ((read && box.dataset.reading === read[0]) || (box.dataset.verdict === "not a digit" && !read))) return "";
    return `The server reads: ${said}`;
  };
  const fileText = () => {
    const text = textOf("#classify-result");
    const number = /number\W+(\d+)/.exec(text), digit = /"?digit"?\W+(\d|null)/.exec(text);
    const sure = /confidence\W+([\d.]+)/.exec(text), isDigit = /is_digit\W+(\w+)/.exec(text);
    if (!digit) return "";
    if (digit[1] === "null") return "The image: no digit found";
    if (isDigit && isDigit[1] === "false") return "The image: not a digit";
    if (number) return `The image reads: the number ${number[1]}`;
    return `The image reads: ${digit[1]}${sure ? `, ${Math.round(100 * parseFloat(sure[1]))}%` : ""}`;
  };
  const trainingText = () => textOf("#train-status");

  // Markup repairs, each scoped to what Gradio renders: see src/web/accessibility.py.
  const CHARTS = {
    "loss-plot": "Loss per epoch; the numbers are in the per-epoch records table below",
    "accuracy-plot": "Validation accuracy per epoch; the numbers are in the per-epoch records table below",
    "compare-loss": "Validation loss per epoch of each run compared; the numbers are in the table below",
    "compare-accuracy": "Validation accuracy per epoch of each run compared; the numbers are in the table below",
  };
  function repair() {
    // An aria-label on an element with no role names nothing: a labelled box (an empty image, a drop zone)
    // is a group.
    document.querySelectorAll("div[aria-label]:not([role]), span[aria-label]:not([role])").forEach((el) => el.setAttribute("role", "group"));
    // Charts: Vega's empty containers of hover marks are decoration; each chart's name says what it shows
    // and where its numbers are, the probabilities all ten of them.
    document.querySelectorAll("g.hover_marks:empty:not([aria-hidden])").forEach((g) => g.setAttribute("aria-hidden", "true"));
    for (const [id, label] of Object.entries(CHARTS)) {
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

  // Scrollable text takes the keyboard's focus, so that it can be scrolled without a mouse. It measures the
  // layout, so it runs a moment after the page changed, not at every change.
  function focusScrollers() {
    document.querySelectorAll(".prose:not([tabindex]), pre:not([tabindex])").forEach((el) => {
      if (el.scrollHeight > el.clientHeight + 1 || el.scrollWidth > el.clientWidth + 1) el.setAttribute("tabindex", "0");
    });
  }
  let scheduled = false;
  const scrollersSoon = () => {
    if (scheduled) return;
    scheduled = true;
    setTimeout(() => { scheduled = false; focusScrollers(); }, 300);
  };
  const SOURCES = [["#live-reading", "live", liveText], ["#prediction", "server", serverText],
                   ["#classify-result", "file", fileText], ["#train-status", "training", trainingText]];

  function start() {
    ensureRegion(); // empty from the start: screen readers speak a region's changes, not its first content
    new MutationObserver((records) => {
      let added = false;
      for (const r of records) {
        const t = r.target.nodeType === 1 ? r.target : r.target.parentElement;
        if (!t || !t.closest || t.closest(TRACKER)) continue; // the progress overlay's timer: not news
        // New markup needs repairs, but not the live reading's new texts, which come with every pen move.
        added = added || (r.addedNodes.length > 0 && !t.closest("#live-reading .live-reading"));
        for (const [selector, key, text] of SOURCES) if (t.closest(selector)) settle(key, text);
      }
      if (added) { // only new markup needs repairs: at once, before anyone can meet it unrepaired
        repair();
        scrollersSoon();
      }
    }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true,
                                attributeFilter: ["data-read-at"] });
    window.addEventListener("resize", scrollersSoon);
    repair();
    scrollersSoon();
    // A safety net for the training's status, which Gradio may replace whole, with no mutation inside it (CI
    // missed "Stopped" so, under load): each second, a status unchanged since the last look is said.
    let seen = "";
    setInterval(() => {
      const now = trainingText();
      if (now && now === seen && now !== (last.get("training") || "")) {
        last.set("training", now);
        ensureRegion().textContent = now;
      }
      seen = now;
    }, 1000);
  }
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
