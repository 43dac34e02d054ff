// The storefront API as the checkout and customer-account extensions use it: persisted operations by hash (the
// documents are in ./operations and the app accepts exactly these hashes), a Bearer session token per request, and
// the small pure helpers the surfaces share. No Shopify globals here, so Vitest can run it as is.

import {APP_URL} from './config';

// sha256 of each file in ./operations; tests/graphql/test_extensions.py fails when one drifts from its file.
export const OPERATIONS = {
  LoyaltyPanel: 'ba8955711f812a5112f3e56d9efacb0541bfe208f08b20ced357f4c4836ed383',
  LoyaltyHistory: 'fb5565bc3048e9d944dff2a6d359bb78ff914bab9f601f77e672ae3d3c4868ab',
  RedeemForCode: 'f0262609b354f14a7b002d1e47b310cce6b0cd3e775e931a1269d782e87d823e',
} as const;

export interface Reward {
  id: string;
  name: string;
  kind: string;
  points_cost: number;
  value: string | null;
}

export interface WayToEarn {
  title: string;
  description: string;
  points: number | null;
  points_per_unit: string | null;
}

export interface Redemption {
  id: string;
  reward_name: string;
  status: string;
  code: string | null;
  expires_at: string | null;
}

export interface Member {
  customer_id: string;
  points_balance: number;
  points_pending: number;
  lifetime_points: number;
  current_tier: {name: string; level: number} | null;
  next_tier: {name: string; min_points_required: number} | null;
  tier_progress_percentage: number;
  points_to_next_tier: number;
  expiring_next: {points: number; expires_at: string} | null;
  rewards: {reward: {id: string}; affordable: boolean; points_needed: number}[];
  unused_rewards: Redemption[];
  referral: {
    code: string;
    share_url: string;
    clicks: number;
    conversions: number;
    friend_points: number;
    advocate_points: number;
  } | null;
}

export interface Panel {
  programme: {
    points_name: string;
    currency: string;
    ways_to_earn: WayToEarn[];
    rewards: Reward[];
    tiers: {name: string; level: number; min_points_required: number; benefits: string[]}[];
    referral: {friend_points: number; advocate_points: number} | null;
  };
  me: Member | null;
}

export interface HistoryPage {
  entries: {id: string; points: number; kind: string; reason: string; created_at: string}[];
  page_info: {end_cursor: string | null; has_next_page: boolean};
}

export interface RedeemResult {
  success: boolean;
  message: string;
  points_deducted: number;
  new_balance: number;
  redemption_id: string | null;
  status: string | null;
  // null while the status is pending: the code exists in Shopify only once settled
  code: string | null;
}

export class StorefrontError extends Error {}

type Fetch = (url: string, init: RequestInit) => Promise<Response>;

export class StorefrontClient {
  constructor(
    private readonly token: () => Promise<string>,
    private readonly fetcher: Fetch = (url, init) => fetch(url, init),
    private readonly url: string = `${APP_URL}/graphql`,
  ) {}

  async run<T>(hash: string, variables: Record<string, unknown> = {}): Promise<T> {
    const response = await this.fetcher(this.url, {
      method: 'POST',
      headers: {'Content-Type': 'application/json', Authorization: `Bearer ${await this.token()}`},
      body: JSON.stringify({extensions: {persistedQuery: {version: 1, sha256Hash: hash}}, variables}),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok || body.errors?.length) {
      throw new StorefrontError(body.errors?.[0]?.message ?? body.message ?? `HTTP ${response.status}`);
    }
    return body.data as T;
  }

  panel(): Promise<Panel> {
    return this.run<Panel>(OPERATIONS.LoyaltyPanel);
  }

  async history(after: string | null, first = 10): Promise<HistoryPage> {
    const data = await this.run<{me: {history: HistoryPage} | null}>(OPERATIONS.LoyaltyHistory, {first, after});
    return data.me?.history ?? {entries: [], page_info: {end_cursor: null, has_next_page: false}};
  }

  async redeem(customerId: string, rewardId: string, idempotencyKey: string): Promise<RedeemResult> {
    const data = await this.run<{redeemReward: RedeemResult}>(OPERATIONS.RedeemForCode, {
      input: {customerId, rewardId, idempotencyKey},
    });
    return data.redeemReward;
  }
}

/**
 * The code of a redemption once the app has created it in Shopify (pending -> posted), looking again every `delayMs`
 * up to `tries` times; null if it is not there by then (or the redemption failed).
 */
export async function waitForCode(
  client: Pick<StorefrontClient, 'panel'>,
  redemptionId: string,
  tries = 10,
  delayMs = 2000,
): Promise<string | null> {
  for (let attempt = 0; attempt < tries; attempt += 1) {
    const held = (await client.panel()).me?.unused_rewards.find((item) => item.id === redemptionId);
    if (!held) return null;
    if (held.code) return held.code;
    await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
  return null;
}

/** The rewards the shopper can redeem right now, cheapest first. */
export function affordableRewards(panel: Panel): Reward[] {
  const offers = new Map((panel.me?.rewards ?? []).map((offer) => [offer.reward.id, offer]));
  return panel.programme.rewards.filter((reward) => offers.get(reward.id)?.affordable);
}

/** Points an order of `subtotal` earns from the rules that give points on every order (0 when none do). */
export function pointsForOrder(subtotal: number, ways: WayToEarn[]): number {
  const rate = ways.reduce((sum, way) => sum + Number(way.points_per_unit ?? 0), 0);
  return Number.isFinite(subtotal) && subtotal > 0 ? Math.floor(subtotal * rate) : 0;
}

/** "1,200 Points" */
export function formatPoints(points: number, pointsName: string): string {
  return `${points.toLocaleString('en-US')} ${pointsName}`;
}

/** One key per redeem click, so a retried request never spends twice. */
export function idempotencyKey(rewardId: string, now: number = Date.now()): string {
  return `ext-${rewardId}-${now.toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}
