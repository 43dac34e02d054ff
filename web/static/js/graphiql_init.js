// Starts GraphiQL on the storefront endpoint named by the page, with the headers it pre-fills (a demo shopper's
// session token outside production). Everything is served by the app: no CDN.
(function () {
  const root = document.getElementById("graphiql");
  const endpoint = root.dataset.endpoint;
  const headers = JSON.parse(root.dataset.headers || "{}");
  const fetcher = GraphiQL.createFetcher({ url: endpoint, headers: headers });
  const defaultQuery = [
    "query GetLoyaltyProfile($customerId: String!) {",
    "  loyaltyProfile(customerId: $customerId) {",
    "    points_balance",
    "    current_tier { name level }",
    "    next_tier { name min_points_required }",
    "    tier_progress_percentage",
    "  }",
    "}",
  ].join("\n");
  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: defaultQuery,
      variables: JSON.stringify({ customerId: "1001" }, null, 2),
      headers: JSON.stringify(headers, null, 2),
      shouldPersistHeaders: false,
    }),
  );
})();
