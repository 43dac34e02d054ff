import '@shopify/ui-extensions/preact';
import {render} from 'preact';
import {useEffect, useState} from 'preact/hooks';

import {
  StorefrontClient,
  formatPoints,
  idempotencyKey,
  type HistoryPage,
  type Panel,
} from '../../shared/storefront';

export default async () => {
  render(<LoyaltyPage />, document.body);
};

function LoyaltyPage() {
  const client = new StorefrontClient(() => shopify.sessionToken.get());
  const [panel, setPanel] = useState<Panel | null>(null);
  const [history, setHistory] = useState<HistoryPage | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    client.panel().then(setPanel, (error: Error) => setMessage(error.message));
    client.history(null).then(setHistory, (error: Error) => setMessage(error.message));
  }, []);

  async function more() {
    if (!history?.page_info.end_cursor) return;
    const next = await client.history(history.page_info.end_cursor);
    setHistory({entries: [...history.entries, ...next.entries], page_info: next.page_info});
  }

  async function redeem(customerId: string, rewardId: string) {
    setBusy(true);
    try {
      const result = await client.redeem(customerId, rewardId, idempotencyKey(rewardId));
      setMessage(result.success ? (result.code ? `Your code: ${result.code}` : 'Redeemed: your code is being created') : result.message);
      setPanel(await client.panel());
    } catch (error) {
      setMessage((error as Error).message);
    } finally {
      setBusy(false);
    }
  }

  if (!panel) {
    return (
      <s-page heading="Rewards">
        {message ? <s-banner tone="critical">{message}</s-banner> : <s-spinner />}
      </s-page>
    );
  }
  const name = panel.programme.points_name;
  const me = panel.me;
  if (!me) {
    return <s-page heading="Rewards"><s-text>Sign in to see your rewards.</s-text></s-page>;
  }
  const offers = new Map(me.rewards.map((offer) => [offer.reward.id, offer]));
  return (
    <s-page heading="Rewards">
      {message && <s-banner>{message}</s-banner>}
      <s-section heading={formatPoints(me.points_balance, name)}>
        <s-stack gap="small-200">
          {me.points_pending > 0 && <s-text>{formatPoints(me.points_pending, name)} pending</s-text>}
          {me.current_tier && <s-text>Tier: {me.current_tier.name}</s-text>}
          {me.next_tier && (
            <s-stack gap="small-100">
              <s-progress value={me.tier_progress_percentage} max={100} />
              <s-text color="subdued">
                {formatPoints(me.points_to_next_tier, name)} to {me.next_tier.name}
              </s-text>
            </s-stack>
          )}
          {me.expiring_next && (
            <s-text color="subdued">
              {formatPoints(me.expiring_next.points, name)} expire on {me.expiring_next.expires_at.slice(0, 10)}
            </s-text>
          )}
        </s-stack>
      </s-section>
      <s-section heading="Rewards">
        <s-stack gap="small-200">
          {panel.programme.rewards.map((reward) => {
            const offer = offers.get(reward.id);
            return (
              <s-stack key={reward.id} direction="inline" gap="small-200">
                <s-text>{reward.name} · {formatPoints(reward.points_cost, name)}</s-text>
                {offer?.affordable ? (
                  <s-button disabled={busy} onClick={() => redeem(me.customer_id, reward.id)}>Redeem</s-button>
                ) : (
                  <s-text color="subdued">{formatPoints(offer?.points_needed ?? reward.points_cost, name)} to go</s-text>
                )}
              </s-stack>
            );
          })}
        </s-stack>
      </s-section>
      {me.unused_rewards.length > 0 && (
        <s-section heading="Your codes">
          <s-stack gap="small-200">
            {me.unused_rewards.map((item) => (
              <s-text key={item.id}>
                {item.reward_name}: {item.code ?? 'being created…'}
              </s-text>
            ))}
          </s-stack>
        </s-section>
      )}
      {me.referral && (
        <s-section heading="Refer a friend">
          <s-stack gap="small-200">
            <s-text>
              Friends get {formatPoints(me.referral.friend_points, name)}; you get{' '}
              {formatPoints(me.referral.advocate_points, name)} when they order.
            </s-text>
            <s-text type="strong">{me.referral.share_url}</s-text>
            <s-clipboard-item id="referral-link" text={me.referral.share_url} />
            <s-button commandFor="referral-link" command="--copy">Copy link</s-button>
            <s-button href={`mailto:?body=${encodeURIComponent(me.referral.share_url)}`}>Share by email</s-button>
            <s-text color="subdued">
              {me.referral.clicks} clicks · {me.referral.conversions} friends ordered
            </s-text>
          </s-stack>
        </s-section>
      )}
      {history && (
        <s-section heading="History">
          <s-stack gap="small-100">
            {history.entries.map((entry) => (
              <s-text key={entry.id}>
                {entry.created_at.slice(0, 10)} · {entry.reason} · {entry.points > 0 ? '+' : ''}
                {entry.points}
              </s-text>
            ))}
            {history.page_info.has_next_page && <s-button onClick={more}>Show more</s-button>}
          </s-stack>
        </s-section>
      )}
    </s-page>
  );
}
