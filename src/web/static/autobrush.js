() => {
  // Keep the Sketchpad's brush selected: on page load, after the built-in
  // "Clear canvas" (trash) button, and after any value reset (our #clear).
  // Only the Sketchpad is watched, not the whole page: a pen move must not wake this script.
  const ROOT = "#sketchpad";
  const toolButtons = (root) => {
    const col = root.querySelector(".toolbar-wrap .half-container:not(.right)");
    return col ? Array.from(col.querySelectorAll("button")) : [];
  };
  const ensureBrush = () => {
    const root = document.querySelector(ROOT);
    if (!root) return;
    watch(root);
    const tools = toolButtons(root);
    const brush = root.querySelector('button[aria-label="Brush"]') || tools[0];
    if (!brush || brush.disabled || brush.offsetParent === null) return;
    // Respect a deliberate choice of Erase (or any other highlighted tool).
    if (tools.some((b) => b.classList.contains("highlight"))) return;
    const pan = root.querySelector('button[aria-label="Pan"]');
    if (pan && pan.classList.contains("selected")) return;
    brush.click();
  };
  let timer = null;
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(ensureBrush, 60);
  };
  // The Sketchpad's own changes of tool or value; watched again if Gradio renders it anew.
  const observer = new MutationObserver(schedule);
  let watched = null;
  const watch = (root) => {
    if (root === watched) return;
    observer.disconnect();
    observer.observe(root, { subtree: true, childList: true, attributes: true, attributeFilter: ["class"] });
    watched = root;
  };
  // Until the Sketchpad is on the page (the Blocks' js runs as the page loads).
  const wait = () => (document.querySelector(ROOT) ? ensureBrush() : setTimeout(wait, 200));
  // Belt and braces: explicit re-select after clicks on clear buttons, and after any click elsewhere
  // (a tab switch may render the Sketchpad anew).
  document.addEventListener("click", (e) => {
    if (e.target.closest && e.target.closest('#clear, ' + ROOT + ' button[aria-label="Clear canvas"]')) {
      setTimeout(ensureBrush, 150);
      setTimeout(ensureBrush, 600);
    } else {
      schedule();
    }
  }, true);
  wait();
}
