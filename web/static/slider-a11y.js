// Screen readers announce a slider by its ARIA value. The widget manager's selection
// sliders carry the option's position there ("3"), while the page shows its label
// ("±16×") in the readout beside the slider. This script copies the readout into
// aria-valuetext of each slider handle, now and whenever a slider moves.
(function () {
  function label(handle) {
    var slider = handle.closest(".widget-slider, .jupyter-widget-slider, .widget-hslider");
    var readout = slider && slider.querySelector(".widget-readout");
    var text = readout && readout.textContent.trim();
    if (text && handle.getAttribute("aria-valuetext") !== text) {
      handle.setAttribute("aria-valuetext", text);
    }
  }
  function all() {
    document.querySelectorAll(".noUi-handle").forEach(label);
  }
  function start() {
    all();
    new MutationObserver(all).observe(document.body, {
      subtree: true,
      childList: true,
      characterData: true,
      attributes: true,
      attributeFilter: ["aria-valuenow"],
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
