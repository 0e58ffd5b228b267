// The provider HR request page (templates/hr/request.html): while the request waits for the doctor, ask
// the status route every 2.5 s; when the answer arrives (or the request expires), swap the live part of
// the page in and say so in the aria-live region. Without JavaScript the page has a "Check again" link.
(function () {
  "use strict";
  var box = document.getElementById("request-status");
  var live = document.getElementById("live-status");
  if (!box || !live || box.getAttribute("data-state") !== "pending") {
    return;
  }
  var url = box.getAttribute("data-status-url");
  var every = 2500;
  var failures = 0;

  function later(ms) {
    window.setTimeout(poll, ms);
  }

  function show(status) {
    // A reader whose focus was in the part replaced (the "Check again" link) would be left nowhere:
    // their focus moves to the new part's heading. Anyone else keeps their place.
    var focused = box.contains(document.activeElement);
    box.innerHTML = status.html;
    box.setAttribute("data-state", status.state);
    live.textContent = status.announcement;
    var heading = box.querySelector("h2");
    if (focused && heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus();
    }
  }

  function poll() {
    window.fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("status " + response.status);
        }
        return response.json();
      })
      .then(function (status) {
        failures = 0;
        if (status.state === "pending") {
          later(every);
        } else {
          show(status);
        }
      })
      .catch(function () {
        failures += 1;
        if (failures >= 5) {
          live.textContent = "The page could not check for the answer: use Check again.";
          return;
        }
        later(every * 2);
      });
  }

  later(every);
})();
