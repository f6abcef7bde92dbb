() => {
  // Keep the Sketchpad's brush selected: on page load, after the built-in
  // "Clear canvas" (trash) button, and after any value reset (our #clear).
  const ROOT = "#sketchpad";
  const toolButtons = (root) => {
    const col = root.querySelector(".toolbar-wrap .half-container:not(.right)");
    return col ? Array.from(col.querySelectorAll("button")) : [];
  };
  const ensureBrush = () => {
    const root = document.querySelector(ROOT);
    if (!root) return;
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
  new MutationObserver(schedule).observe(document.body, {
    subtree: true, childList: true, attributes: true, attributeFilter: ["class"],
  });
  // Belt and braces: explicit re-select after clicks on clear buttons.
  document.addEventListener("click", (e) => {
    if (e.target.closest && e.target.closest('#clear, ' + ROOT + ' button[aria-label="Clear canvas"]')) {
      setTimeout(ensureBrush, 150);
      setTimeout(ensureBrush, 600);
    }
  }, true);
  schedule();
}
