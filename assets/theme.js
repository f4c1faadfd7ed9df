/* trakt-plugin theme: light or dark, following the browser (prefers-color-scheme) until the
   person picks one with the header toggle; the choice is kept in this browser's localStorage only
   (the service keeps no per-browser storage). Loaded as a plain script in <head>, so the page's
   background is right before the first paint; Quasar's dark mode is set once the app is mounted. */
(function () {
  "use strict";
  var KEY = "trakt-plugin-theme";
  var media = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

  function stored() {
    try {
      var value = window.localStorage.getItem(KEY);
      return value === "dark" || value === "light" ? value : null;
    } catch (e) {
      return null; // storage disabled: follow the browser
    }
  }

  function isDark() {
    var choice = stored();
    return choice ? choice === "dark" : !!(media && media.matches);
  }

  function paint() {
    var dark = isDark();
    var root = document.documentElement;
    root.classList.toggle("tp-dark", dark);
    root.style.colorScheme = dark ? "dark" : "light";
    var meta = document.getElementById("nicegui-color-scheme");
    if (meta) meta.setAttribute("content", dark ? "dark" : "light");
  }

  function apply() {
    paint();
    var choice = stored();
    if (window.Quasar && window.Quasar.Dark) {
      // "auto" keeps following the browser when nothing was chosen.
      window.Quasar.Dark.set(choice ? choice === "dark" : "auto");
    }
  }

  function toggle() {
    var next = isDark() ? "light" : "dark";
    try {
      window.localStorage.setItem(KEY, next);
    } catch (e) {
      /* not remembered, still switched for this page */
    }
    if (!stored()) {
      document.documentElement.classList.toggle("tp-dark", next === "dark");
      if (window.Quasar && window.Quasar.Dark) window.Quasar.Dark.set(next === "dark");
      return next === "dark";
    }
    apply();
    return isDark();
  }

  window.tpTheme = { apply: apply, toggle: toggle, isDark: isDark, key: KEY };
  paint();
  if (media && media.addEventListener) media.addEventListener("change", paint);
  // NiceGUI sets the page's own dark value while mounting the app (a deferred module script);
  // DOMContentLoaded comes after it, so the remembered choice wins.
  document.addEventListener("DOMContentLoaded", apply);
})();
