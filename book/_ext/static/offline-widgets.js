// Lets the Jupyter widgets manager (html-manager 1.x) run offline beside MathJax 3. Loaded after require.js and
// before the manager, on pages with widgets (see nb_ipywidgets_js in _config.yml).
(function () {
  "use strict";
  // 1. The manager's bundles resolve their fonts against require.js's base URL, which defaults to the page's
  //    folder. Point it at the npm packages the book serves itself under _static/vendor/npm/.
  var npm = new URL("vendor/npm/", document.currentScript.src).href;
  window.require.config({ baseUrl: npm });

  // 2. The manager typesets widget labels with MathJax 2's MathJax.Hub.Queue, which MathJax 3 does not have.
  //    Give every MathJax object the page gets (Sphinx's configuration, then MathJax 3 itself) a Hub whose Queue
  //    typesets the element with MathJax 3 once MathJax has started.
  var hub = {
    Queue: function (job) {
      var mathjax = current;
      var element = job && job[2];
      if (mathjax && mathjax.startup && mathjax.startup.promise && mathjax.typesetPromise) {
        mathjax.startup.promise.then(function () {
          return mathjax.typesetPromise(element ? [element] : undefined);
        });
      }
    },
  };
  var current = window.MathJax;
  if (current && !current.Hub) current.Hub = hub;
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    get: function () { return current; },
    set: function (value) {
      current = value;
      if (value && typeof value === "object" && !value.Hub) value.Hub = hub;
    },
  });
})();
