// Lets the Jupyter widgets manager (html-manager 1.x) run offline beside MathJax 3. Loaded after require.js and
// before the manager, on pages with widgets (see nb_ipywidgets_js in _config.yml).
(function () {
  "use strict";
  // 1. Each AMD module of the manager (@jupyter-widgets/base, /controls, /base7, /controls7, /html-manager and
  //    /html-manager/dist/libembed-amd) loads its fonts from the folder require.js gives as the module's address,
  //    which by default is derived from the page's folder. Map every one of them into the manager's dist/ folder,
  //    which the book serves itself under _static/vendor/npm/, where the fonts are.
  var dist = new URL("vendor/npm/@jupyter-widgets/html-manager/dist", document.currentScript.src).href;
  window.require.config({
    paths: { "@jupyter-widgets": dist, "@jupyter-widgets/html-manager/dist": dist },
  });

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
