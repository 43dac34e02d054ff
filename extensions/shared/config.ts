// Where the app serves /graphql for the checkout and customer-account extensions. Set it to your app's
// SHOPIFY_APP_URL before `shopify app deploy` (the development URL works with `shopify app dev`'s tunnel).
export const APP_URL = 'https://loyalty.example.com';
