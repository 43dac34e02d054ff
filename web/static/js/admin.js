// The embedded admin's behaviour beyond htmx: toasts for saved changes and the confirmation dialogs of
// destructive actions. The session token on every htmx request is web/static/js/session_token.js.
(function () {
  "use strict";

  // A view that saved something answers with `HX-Trigger: {"loyalty:toast": {"message": "…", "error": false}}`.
  // Under Shopify it is App Bridge's toast; in development (no App Bridge toast) a Polaris toast in the page.
  document.addEventListener("loyalty:toast", function (event) {
    var message = event.detail.message;
    var isError = Boolean(event.detail.error);
    if (window.shopify && window.shopify.toast) {
      window.shopify.toast.show(message, { isError: isError });
      return;
    }
    var manager = document.querySelector(".loyalty-Toasts");
    if (!manager) {
      return;
    }
    var toast = document.createElement("div");
    toast.className = "Polaris-Frame-Toast" + (isError ? " Polaris-Frame-Toast--error" : "");
    toast.textContent = message;
    manager.appendChild(toast);
    window.setTimeout(function () { toast.remove(); }, 5000);
  });

  // Confirmation dialogs (polaris.html `confirm`): a button with data-loyalty-opens shows the <dialog> of that id;
  // data-loyalty-closes closes it (the confirm button closes it too, after htmx has taken its click).
  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-loyalty-opens]");
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-loyalty-opens"));
      if (dialog) {
        dialog.showModal();
      }
      return;
    }
    var closer = event.target.closest("[data-loyalty-closes]");
    if (closer) {
      var owner = document.getElementById(closer.getAttribute("data-loyalty-closes"));
      if (owner && owner.open) {
        owner.close();
      }
    }
  });

  // Downloads (polaris.html `download`): fetched with fetch(), to which App Bridge (or the development stand-in) adds
  // the session token, then saved under the link's file name.
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-loyalty-download]");
    if (!link) {
      return;
    }
    event.preventDefault();
    window.fetch(link.href).then(function (response) {
      if (!response.ok) {
        throw new Error("the download answered " + response.status);
      }
      return response.blob();
    }).then(function (blob) {
      var save = document.createElement("a");
      save.href = URL.createObjectURL(blob);
      save.download = link.getAttribute("data-loyalty-download");
      document.body.appendChild(save);
      save.click();
      save.remove();
      URL.revokeObjectURL(save.href);
    }).catch(function (error) {
      document.dispatchEvent(new CustomEvent("loyalty:toast", { detail: { message: String(error.message), error: true } }));
    });
  });

  // After a form comes back with errors, put the keyboard on the first field that is wrong.
  document.addEventListener("htmx:afterSwap", function (event) {
    var invalid = document.querySelector("#main [aria-invalid='true']");
    if (invalid) {
      invalid.focus();
    }
  });

  // An htmx request refused with a message (JSON `{"message": …}`) shows it, instead of failing silently.
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    if (xhr.status === 401 && xhr.getResponseHeader("X-Shopify-Retry-Invalid-Session-Request") === "1") {
      return; // session_token.js retries with a new token
    }
    var message = "The request failed (" + xhr.status + ").";
    try {
      message = JSON.parse(xhr.responseText).message || message;
    } catch (ignored) {
      // not JSON: keep the generic message
    }
    document.dispatchEvent(new CustomEvent("loyalty:toast", { detail: { message: message, error: true } }));
  });
})();

// Dashboard charts (Chart.js, vendored): a canvas with data-loyalty-chart ("line" or "bar") draws the JSON at
// data-loyalty-source, fetched with the session token. The canvas is aria-hidden: the same figures are in a table
// beside it for screen readers. htmx.onLoad runs for the first page and for every page htmx swaps in.
(function () {
  "use strict";
  var COLOURS = ["rgba(48, 48, 48, 1)", "rgba(0, 91, 211, 1)"];

  function draw(canvas) {
    window.fetch(canvas.getAttribute("data-loyalty-source")).then(function (response) {
      return response.json();
    }).then(function (data) {
      data.datasets.forEach(function (dataset, index) {
        dataset.borderColor = COLOURS[index % COLOURS.length];
        dataset.backgroundColor = COLOURS[index % COLOURS.length];
        dataset.tension = 0.3;
      });
      new window.Chart(canvas, {
        type: canvas.getAttribute("data-loyalty-chart"),
        data: data,
        options: { maintainAspectRatio: false, animation: false, plugins: { legend: { position: "bottom" } } },
      });
    });
  }

  window.htmx.onLoad(function (content) {
    content.querySelectorAll("canvas[data-loyalty-chart]").forEach(draw);
  });
})();
