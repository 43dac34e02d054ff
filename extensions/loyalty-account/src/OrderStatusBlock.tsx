import '@shopify/ui-extensions/preact';
import {render} from 'preact';
import {useEffect, useState} from 'preact/hooks';

import {StorefrontClient, formatPoints, type Panel} from '../../shared/storefront';

export default async () => {
  render(<OrderStatusBlock />, document.body);
};

function OrderStatusBlock() {
  const [panel, setPanel] = useState<Panel | null>(null);
  useEffect(() => {
    new StorefrontClient(() => shopify.sessionToken.get()).panel().then(setPanel, () => setPanel(null));
  }, []);
  const me = panel?.me;
  if (!panel || !me) return null;
  return (
    <s-banner heading="Your rewards">
      <s-text>
        You have {formatPoints(me.points_balance, panel.programme.points_name)}
        {me.current_tier ? ` · ${me.current_tier.name}` : ''}.
      </s-text>
    </s-banner>
  );
}
