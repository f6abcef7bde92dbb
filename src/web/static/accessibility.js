// What a screen reader hears, and repairs to the page's markup (src/web/accessibility.py).
//
// One polite live region (#announcer) says, once each has settled:
//   - the live reading: "7, 98%", "the number 17, ...", "not a digit";
//   - the server's reading (#prediction), and the answer to an uploaded image (#classify-result);
//   - the training's progress (#train-status).
// Nothing is said on every pointer move: a text is said only when it has not changed for SETTLE ms,
// and never twice in a row.
(() => {
  "use strict";
  const SETTLE = 700;
  let region = null, said = "";
  const timers = new Map();

  function say(text) {
    if (!text || text === said) return;
    said = text;
    if (!region || !region.isConnected) {
      region = document.createElement("div");
      region.id = "announcer";
      region.className = "visually-hidden";
      region.setAttribute("role", "status");
      region.setAttribute("aria-live", "polite");
      document.body.appendChild(region);
    }
    region.textContent = text;
  }

  // Say `text()` once the source called `key` has been quiet for SETTLE ms.
  function settle(key, text) {
    clearTimeout(timers.get(key));
    timers.set(key, setTimeout(() => say(text()), SETTLE));
  }

  const liveText = () => {
    const box = document.querySelector("#live-reading .live-reading");
    if (!box || !box.dataset.verdict) return "";
    if (box.dataset.verdict === "not a digit") return "Live reading: not a digit";
    const what = box.dataset.reading.length > 1 ? `the number ${box.dataset.reading}` : box.dataset.reading;
    return `Live reading: ${what}, ${box.dataset.confidence}${box.dataset.verdict === "unusual" ? ", an unusual drawing" : ""}`;
  };
  const serverText = () => {
    const label = document.querySelector("#prediction");
    const top = label && label.querySelector("h2, .output-class");
    return top && top.textContent.trim() ? `The model reads: ${top.textContent.trim()}` : "";
  };
  const fileText = () => {
    const text = (document.querySelector("#classify-result") || {}).innerText || "";
    const digit = /digit\W+(\d)/.exec(text), sure = /confidence\W+([\d.]+)/.exec(text), isDigit = /is_digit\W+(\w+)/.exec(text);
    if (!digit) return "";
    if (isDigit && isDigit[1] === "false") return "The image: not a digit";
    return `The image reads: ${digit[1]}${sure ? `, ${Math.round(100 * parseFloat(sure[1]))}%` : ""}`;
  };
  const trainingText = () => {
    const status = document.querySelector("#train-status");
    return status ? status.innerText.trim().split("\n").slice(-1)[0] : "";
  };

  // Markup repairs, each scoped to what Gradio renders: see src/web/accessibility.py.
  function repair() {
    // An aria-label on an element with no role names nothing: a labelled box (an empty image, a drop zone)
    // is a group.
    document.querySelectorAll("div[aria-label]:not([role]), span[aria-label]:not([role])").forEach((el) => el.setAttribute("role", "group"));
    // Charts: Vega's empty containers of hover marks are decoration; each chart's name says what it shows
    // and where its numbers are, the probabilities all ten of them.
    document.querySelectorAll("g.hover_marks:empty").forEach((g) => g.setAttribute("aria-hidden", "true"));
    for (const [id, name] of Object.entries(CHARTS)) {
      const svg = document.querySelector(`#${id} svg.marks`);
      if (!svg) continue;
      let label = name;
      if (id === "probabilities") {
        const bars = [...svg.querySelectorAll("[aria-roledescription='bar'][aria-label]")].map((b) => b.getAttribute("aria-label"));
        label += bars.length ? `: ${bars.join("; ")}` : "";
      }
      if (svg.getAttribute("aria-label") !== label) svg.setAttribute("aria-label", label);
    }
    // A shown image is a button (to enlarge it) with no name: it takes its box's label.
    document.querySelectorAll(".image-container button:not([aria-label])").forEach((button) => {
      if (button.textContent.trim()) return;
      const label = button.closest(".block")?.querySelector("label, [data-testid='block-label']");
      button.setAttribute("aria-label", (label && label.textContent.trim()) || "image");
    });
    // Icons next to their own words need no name of their own.
    document.querySelectorAll("footer img[alt]").forEach((img) => {
      if (img.alt && img.parentElement.textContent.includes(img.alt)) img.alt = "";
    });
    // Scrollable regions take the keyboard's focus, so that they can be scrolled without a mouse.
    document.querySelectorAll(".prose, .md, pre").forEach((el) => {
      const scrolls = el.scrollHeight > el.clientHeight + 1 || el.scrollWidth > el.clientWidth + 1;
      if (scrolls && !el.hasAttribute("tabindex")) el.setAttribute("tabindex", "0");
    });
  }
  const CHARTS = {
    "probabilities": "Probability of each digit",
    "loss-plot": "Loss per epoch; the numbers are in the per-epoch records table below",
    "accuracy-plot": "Validation accuracy per epoch; the numbers are in the per-epoch records table below",
    "compare-loss": "Validation loss per epoch of each run compared; the numbers are in the table below",
    "compare-accuracy": "Validation accuracy per epoch of each run compared; the numbers are in the table below",
  };

  let scheduled = false;
  new MutationObserver((records) => {
    for (const r of records) {
      const t = r.target.nodeType === 1 ? r.target : r.target.parentElement;
      if (!t || !t.closest) continue;
      if (t.closest("#live-reading")) settle("live", liveText);
      else if (t.closest("#prediction")) settle("server", serverText);
      else if (t.closest("#classify-result")) settle("file", fileText);
      else if (t.closest("#train-status")) settle("training", trainingText);
    }
    if (!scheduled) {
      scheduled = true;
      requestAnimationFrame(() => { scheduled = false; repair(); });
    }
  }).observe(document.documentElement, { subtree: true, childList: true, characterData: true, attributes: true,
                                         attributeFilter: ["data-read-at"] });
})();
