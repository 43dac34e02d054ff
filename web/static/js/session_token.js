// Session tokens for htmx requests in the embedded admin.
//
// App Bridge adds `Authorization: Bearer <ID token>` to fetch() calls only; htmx 2 sends XMLHttpRequest, so this
// file adds it. htmx:configRequest, where a request's headers are set, is synchronous and cannot await
// shopify.idToken(): so the token is fetched in htmx:confirm, which htmx fires before every request and which may
// hold the request until issueRequest() is called, and htmx:configRequest then sets the header from that token.
// On a 401 that carries X-Shopify-Retry-Invalid-Session-Request: 1 (the token expired or was refused), the request
// is issued once more, with a new token; a second 401 is left to htmx's error handling.
(function () {
  "use strict";
  var RETRY_HEADER = "X-Shopify-Retry-Invalid-Session-Request";
  var RETRIED_HEADER = "X-Loyalty-Session-Retry";
  var latestToken = null;

  document.addEventListener("htmx:confirm", function (event) {
    event.preventDefault();
    window.shopify.idToken().then(
      function (token) {
        latestToken = token;
        // false: htmx does not fire htmx:confirm again, and still asks an element's hx-confirm question.
        event.detail.issueRequest(false);
      },
      function (error) {
        console.error("loyalty: no session token, request not sent", error);
      }
    );
  });

  document.addEventListener("htmx:configRequest", function (event) {
    if (latestToken) {
      event.detail.headers["Authorization"] = "Bearer " + latestToken;
    }
  });

  document.addEventListener("htmx:responseError", function (event) {
    var detail = event.detail;
    if (detail.xhr.status !== 401 || detail.xhr.getResponseHeader(RETRY_HEADER) !== "1") {
      return;
    }
    if (detail.requestConfig.headers[RETRIED_HEADER]) {
      return; // retried once already
    }
    var headers = {};
    headers[RETRIED_HEADER] = "1";
    // Through htmx.ajax the retry passes htmx:confirm again, which fetches a new token.
    window.htmx.ajax(detail.requestConfig.verb.toUpperCase(), detail.requestConfig.path, {
      source: detail.elt,
      headers: headers,
    });
  });
})();
