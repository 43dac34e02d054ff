// Development stand-in for Shopify's App Bridge script, served only in development mode (app/shopify/development.py).
// shopify.idToken() answers an App Home ID token that this app signs for the demo shop with the development secret,
// so the admin's verification runs exactly as it does under Shopify. Like App Bridge, it adds the token to fetch()
// calls to this app, and on the bounce page it reloads `shopify-reload` with a fresh id_token.
(function () {
  "use strict";
  var TOKEN_URL = {{ url_for("development.id_token")|tojson }};
  var originalFetch = window.fetch.bind(window);

  function idToken() {
    return originalFetch(TOKEN_URL, { method: "POST", headers: { "X-Loyalty-Development": "1" } }).then(
      function (response) {
        if (!response.ok) {
          throw new Error("the development token endpoint answered " + response.status);
        }
        return response.text();
      }
    );
  }

  window.shopify = { config: { apiKey: {{ api_key|tojson }}, shop: {{ shop|tojson }} }, idToken: idToken };

  window.fetch = function (input, init) {
    var request = new Request(input, init);
    if (new URL(request.url).origin !== window.location.origin) {
      return originalFetch(request);
    }
    return idToken().then(function (token) {
      request.headers.set("Authorization", "Bearer " + token);
      return originalFetch(request);
    });
  };

  var reload = new URLSearchParams(window.location.search).get("shopify-reload");
  if (reload !== null) {
    var target = new URL(reload, window.location.origin);
    if (target.origin !== window.location.origin) {
      throw new Error("shopify-reload must stay on this app: " + reload);
    }
    idToken().then(function (token) {
      target.searchParams.set("id_token", token);
      window.location.replace(target.toString());
    });
  }
})();
