// Shopify's theme checks (@shopify/theme-check-node, with its theme-app-extension configuration) on the theme app
// extension; exits 1 on any offense of severity error. The package is a library, so this is its command line.
import path from 'node:path';
import {fileURLToPath} from 'node:url';

import {check} from '@shopify/theme-check-node';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, 'loyalty-theme');
const config = path.join(here, 'node_modules/@shopify/theme-check-node/configs/theme-app-extension.yml');
const SEVERITY = ['error', 'warning', 'info'];

const offenses = await check(root, config);
for (const offense of offenses) {
  const where = `${path.relative(here, offense.uri.replace('file://', ''))}:${offense.start.line + 1}`;
  console.log(`${SEVERITY[offense.severity]} ${offense.check} ${where}: ${offense.message}`);
}
const errors = offenses.filter((offense) => offense.severity === 0).length;
console.log(`theme-check: ${offenses.length} offense(s), ${errors} error(s)`);
process.exit(errors > 0 ? 1 : 0);
