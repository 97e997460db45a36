// The widget manager (html-manager 1.0.6) typesets widget labels through the MathJax 2
// API, MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]). The book loads MathJax 3,
// which has no Hub, so each label would log "Cannot read properties of undefined
// (reading 'Queue')". This script runs before MathJax 3 (which is deferred): it gives
// the configuration object a Hub that forwards to typesetPromise, and puts the Hub back
// on the MathJax 3 object once MathJax has started.
(function () {
  var hub = {
    Queue: function (job) {
      var element = job && job[2];
      var typeset = window.MathJax && window.MathJax.typesetPromise;
      if (element && typeset) {
        typeset([element]).catch(function () {});
      }
    },
  };
  var config = (window.MathJax = window.MathJax || {});
  config.Hub = hub;
  config.startup = config.startup || {};
  var ready = config.startup.ready;
  config.startup.ready = function () {
    if (ready) {
      ready();
    } else {
      window.MathJax.startup.defaultReady();
    }
    window.MathJax.Hub = hub;
  };
})();
