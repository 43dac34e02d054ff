import '@shopify/ui-extensions/preact';
import {render} from 'preact';
import {useEffect, useState} from 'preact/hooks';

import {
  StorefrontClient,
  affordableRewards,
  formatPoints,
  idempotencyKey,
  pointsForOrder,
  type Panel,
  waitForCode,
} from '../../shared/storefront';

export default async () => {
  render(<LoyaltyBlock />, document.body);
};

interface FirstPaint {
  points_balance: number;
  tier_name: string | null;
}

/** The balance and tier the app last wrote to the customer's `$app` metafields, if Shopify sent them. */
function firstPaint(): FirstPaint | null {
  const values = new Map(
    shopify.appMetafields.value
      .filter((entry) => entry.target.type === 'customer')
      .map((entry) => [entry.metafield.key, String(entry.metafield.value)]),
  );
  const balance = Number(values.get('points_balance'));
  if (!values.has('points_balance') || !Number.isFinite(balance)) return null;
  return {points_balance: balance, tier_name: values.get('tier_name') ?? null};
}

function LoyaltyBlock() {
  const client = new StorefrontClient(() => shopify.sessionToken.get());
  const cached = firstPaint();
  const [panel, setPanel] = useState<Panel | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  useEffect(() => {
    client.panel().then(setPanel, (error: Error) => setMessage(error.message));
  }, []);

  if (!panel) {
    return cached ? (
      <s-text>
        {formatPoints(cached.points_balance, 'points')}
        {cached.tier_name ? ` · ${cached.tier_name}` : ''}
      </s-text>
    ) : (
      <s-skeleton-paragraph />
    );
  }
  const name = panel.programme.points_name;
  const me = panel.me;
  if (!me) {
    const subtotal = Number(shopify.cost.subtotalAmount.value.amount);
    const earn = pointsForOrder(subtotal, panel.programme.ways_to_earn);
    return (
      <s-banner heading="Earn rewards with this order" tone="info">
        <s-stack gap="small-200">
          {earn > 0 && <s-text>This order earns {formatPoints(earn, name)}.</s-text>}
          <s-text>Sign in or create an account to collect them and redeem rewards.</s-text>
        </s-stack>
      </s-banner>
    );
  }

  async function redeem(rewardId: string) {
    if (!me) return;
    setBusy(rewardId);
    setMessage(null);
    try {
      const result = await client.redeem(me.customer_id, rewardId, idempotencyKey(rewardId));
      if (!result.success) {
        setMessage(result.message);
        return;
      }
      setPanel(await client.panel());
      let code = result.code;
      if (!code && result.redemption_id) {
        setMessage('Creating your code…');
        code = await waitForCode(client, result.redemption_id);
      }
      if (code) {
        const applied = await shopify.applyDiscountCodeChange({type: 'addDiscountCode', code});
        setMessage(applied.type === 'success' ? `Applied ${code}` : applied.message);
      } else {
        setMessage('Your code is still being created; it will be in your account in a moment.');
      }
    } catch (error) {
      setMessage((error as Error).message);
    } finally {
      setBusy(null);
    }
  }

  const rewards = affordableRewards(panel);
  return (
    <s-section heading="Your rewards">
      <s-stack gap="small-200">
        <s-text type="strong">{formatPoints(me.points_balance, name)}</s-text>
        {me.current_tier && <s-badge>{me.current_tier.name}</s-badge>}
        {rewards.length === 0 && <s-text color="subdued">Keep shopping to unlock a reward.</s-text>}
        {rewards.map((reward) => (
          <s-button
            key={reward.id}
            loading={busy === reward.id}
            disabled={busy !== null}
            onClick={() => redeem(reward.id)}
          >
            {reward.name} for {formatPoints(reward.points_cost, name)}
          </s-button>
        ))}
        {message && <s-text>{message}</s-text>}
      </s-stack>
    </s-section>
  );
}
