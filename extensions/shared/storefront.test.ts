import {describe, expect, it} from 'vitest';

import {
  OPERATIONS,
  StorefrontClient,
  StorefrontError,
  affordableRewards,
  formatPoints,
  idempotencyKey,
  pointsForOrder,
  type Panel,
  waitForCode,
} from './storefront';

const panel: Panel = {
  programme: {
    points_name: 'Stars',
    currency: 'USD',
    ways_to_earn: [
      {title: 'Place an order', description: 'Earn 2 Stars per 1 USD spent', points: null, points_per_unit: '2'},
      {title: 'Place an order', description: 'Earn 500 Stars', points: 500, points_per_unit: null},
    ],
    rewards: [
      {id: '1', name: '$5 off', kind: 'fixed_amount', points_cost: 500, value: '5.00'},
      {id: '2', name: '$50 off', kind: 'fixed_amount', points_cost: 5000, value: '50.00'},
    ],
    tiers: [],
    referral: null,
  },
  me: {
    customer_id: '7',
    points_balance: 1200,
    points_pending: 0,
    lifetime_points: 1200,
    current_tier: null,
    next_tier: null,
    tier_progress_percentage: 0,
    points_to_next_tier: 0,
    expiring_next: null,
    rewards: [
      {reward: {id: '1'}, affordable: true, points_needed: 0},
      {reward: {id: '2'}, affordable: false, points_needed: 3800},
    ],
    unused_rewards: [],
    referral: null,
  },
};

describe('the storefront helpers', () => {
  it('lists only what the shopper can afford', () => {
    expect(affordableRewards(panel).map((reward) => reward.name)).toEqual(['$5 off']);
    expect(affordableRewards({...panel, me: null})).toEqual([]);
  });

  it('estimates an order from the unconditional per-currency rules only', () => {
    expect(pointsForOrder(12.99, panel.programme.ways_to_earn)).toBe(25);
    expect(pointsForOrder(Number.NaN, panel.programme.ways_to_earn)).toBe(0);
    expect(pointsForOrder(-5, panel.programme.ways_to_earn)).toBe(0);
  });

  it('formats points and makes a fresh key per click', () => {
    expect(formatPoints(1200, 'Stars')).toBe('1,200 Stars');
    expect(idempotencyKey('1', 1)).not.toEqual(idempotencyKey('1', 1));
  });
});

describe('the client', () => {
  it('sends the persisted hash with a Bearer token and returns the data', async () => {
    const sent: {url: string; init: RequestInit}[] = [];
    const client = new StorefrontClient(
      async () => 'token-1',
      async (url, init) => {
        sent.push({url, init});
        return new Response(JSON.stringify({data: panel}), {status: 200});
      },
      'https://app.test/graphql',
    );
    expect((await client.panel()).me?.points_balance).toBe(1200);
    expect(sent[0].url).toBe('https://app.test/graphql');
    expect((sent[0].init.headers as Record<string, string>).Authorization).toBe('Bearer token-1');
    expect(JSON.parse(sent[0].init.body as string).extensions.persistedQuery.sha256Hash).toBe(OPERATIONS.LoyaltyPanel);
  });

  it('turns a refusal into a StorefrontError with the server message', async () => {
    const client = new StorefrontClient(
      async () => 't',
      async () => new Response(JSON.stringify({error: 'rate_limited', message: 'too many requests'}), {status: 429}),
    );
    await expect(client.panel()).rejects.toThrow(new StorefrontError('too many requests'));
  });
});

describe('waiting for a code', () => {
  const held = (code: string | null): Panel => ({
    ...panel,
    me: {...panel.me!, unused_rewards: [{id: '9', reward_name: '$5 off', status: code ? 'posted' : 'pending', code, expires_at: null}]},
  });

  it('returns the code once the redemption settles', async () => {
    const answers = [held(null), held(null), held('LOYAL-1')];
    expect(await waitForCode({panel: async () => answers.shift()!}, '9', 5, 0)).toBe('LOYAL-1');
  });

  it('gives up on a redemption that is gone (failed) or never settles', async () => {
    expect(await waitForCode({panel: async () => panel}, '9', 5, 0)).toBeNull();
    expect(await waitForCode({panel: async () => held(null)}, '9', 3, 0)).toBeNull();
  });
});
