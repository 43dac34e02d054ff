/* Loyalty widget: a launcher button on every page (app embed) and the loyalty section (app block).
 * Until the shopper opens the panel it only attaches one button; everything lives in a shadow root, so the theme's
 * styles cannot reach in and ours cannot leak out. It talks to /apps/loyalty/graphql (the app proxy, same origin),
 * sending persisted operations by hash: the shopper is the one Shopify signs into the proxied request. */
(function () {
  'use strict';
  // sha256 of extensions/shared/operations/*.graphql (tests/graphql/test_extensions.py keeps them in step).
  var PANEL = 'ba8955711f812a5112f3e56d9efacb0541bfe208f08b20ced357f4c4836ed383';
  var REDEEM = 'f0262609b354f14a7b002d1e47b310cce6b0cd3e775e931a1269d782e87d823e';
  var CSS =
    ':host{all:initial;font:14px/1.4 system-ui,sans-serif;color:#1a1a1a}' +
    '*{box-sizing:border-box}' +
    '.launch{position:fixed;bottom:20px;z-index:2147483000;border:0;border-radius:24px;padding:12px 20px;' +
    'font:600 15px system-ui,sans-serif;cursor:pointer;background:var(--loyalty-accent,#1f5132);' +
    'color:var(--loyalty-on-accent,#fff);box-shadow:0 4px 14px rgba(0,0,0,.2)}' +
    '.right{right:20px}.left{left:20px}' +
    '.panel{background:#fff;border-radius:12px;padding:16px;overflow:auto}' +
    '.float{position:fixed;bottom:80px;z-index:2147483000;width:min(360px,calc(100vw - 40px));max-height:70vh;' +
    'box-shadow:0 8px 30px rgba(0,0,0,.25)}' +
    'h2{font-size:18px;margin:0 0 8px}h3{font-size:14px;margin:16px 0 6px;text-transform:uppercase;color:#555}' +
    '.big{font-size:28px;font-weight:700}.muted{color:#666}.row{display:flex;justify-content:space-between;' +
    'align-items:center;gap:8px;padding:6px 0;border-bottom:1px solid #eee}' +
    '.bar{height:8px;background:#eee;border-radius:4px;overflow:hidden;margin:6px 0}' +
    '.bar i{display:block;height:100%;background:var(--loyalty-accent,#1f5132)}' +
    'button.act,a.act{border:1px solid var(--loyalty-accent,#1f5132);background:var(--loyalty-accent,#1f5132);' +
    'color:var(--loyalty-on-accent,#fff);border-radius:6px;padding:6px 10px;font:600 13px system-ui;cursor:pointer;' +
    'text-decoration:none;display:inline-block}' +
    'button.x{float:right;border:0;background:none;font-size:20px;cursor:pointer}' +
    'code{font:600 14px ui-monospace,monospace;background:#f3f3f3;padding:2px 6px;border-radius:4px}' +
    'input{width:100%;padding:6px;border:1px solid #ccc;border-radius:6px;font:13px ui-monospace,monospace}' +
    '.note{background:#eef6f0;border-radius:8px;padding:8px;margin:8px 0}';

  function esc(value) {
    return String(value == null ? '' : value).replace(/[&<>"']/g, function (c) {
      return '&#' + c.charCodeAt(0) + ';';
    });
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) {
      return values[key];
    });
  }

  function Widget(host, config, floating) {
    this.config = config;
    this.t = config.text;
    this.shadow = host.attachShadow({mode: 'open'});
    this.floating = floating;
    this.busy = false;
    this.notice = '';
  }

  Widget.prototype.request = function (body) {
    var url = this.config.endpoint;
    var init = {credentials: 'same-origin', headers: {Accept: 'application/json'}};
    if (body) {
      init.method = 'POST';
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    } else {
      url += '?id=' + PANEL;
    }
    return fetch(url, init).then(function (response) {
      return response.json().then(function (payload) {
        if (!response.ok || (payload.errors && payload.errors.length)) throw new Error(payload.message || 'error');
        return payload.data;
      });
    });
  };

  Widget.prototype.load = function () {
    var self = this;
    return this.request().then(
      function (data) {
        self.data = data;
        self.render();
      },
      function () {
        self.root.innerHTML = self.head() + '<p>' + esc(self.t.error) + '</p>';
      }
    );
  };

  Widget.prototype.points = function (amount) {
    var name = this.config.pointsName || this.data.programme.points_name;
    return Number(amount).toLocaleString() + ' ' + esc(name);
  };

  Widget.prototype.head = function () {
    var close = this.floating ? '<button class="x" data-close aria-label="' + esc(this.t.close) + '">×</button>' : '';
    return close + (this.floating ? '<h2>' + esc(this.t.title) + '</h2>' : '');
  };

  Widget.prototype.render = function () {
    var t = this.t;
    var programme = this.data.programme;
    var me = this.data.me;
    var self = this;
    var html = this.head();
    if (this.notice) html += '<div class="note" data-notice>' + this.notice + '</div>';
    var ref = new URLSearchParams(location.search).get('ref');
    if (me) {
      html += '<div class="muted">' + esc(t.balance) + '</div><div class="big" data-balance>' +
        this.points(me.points_balance) + '</div>';
      if (me.points_pending) html += '<div class="muted">' + this.points(me.points_pending) + ' ' + esc(t.pending) + '</div>';
      if (me.current_tier) html += '<div>' + esc(t.tier) + ': <strong data-tier>' + esc(me.current_tier.name) + '</strong></div>';
      if (me.next_tier) {
        html += '<div class="bar"><i style="width:' + Number(me.tier_progress_percentage) + '%"></i></div>' +
          '<div class="muted">' + this.points(me.points_to_next_tier) + ' ' + esc(t.toNextTier) + ' ' +
          esc(me.next_tier.name) + '</div>';
      }
      if (me.expiring_next) {
        html += '<div class="muted">' + this.points(me.expiring_next.points) + ' ' + esc(t.expiring) + ' ' +
          esc(me.expiring_next.expires_at.slice(0, 10)) + '</div>';
      }
    } else {
      if (ref && programme.referral) {
        html += '<div class="note">' + esc(fill(t.friendOffer, {friend: this.points(programme.referral.friend_points)})) + '</div>';
      }
      html += '<div data-guest><strong>' + esc(t.joinTitle) + '</strong><p>' + esc(t.joinText) + '</p>' +
        '<a class="act" href="' + esc(this.config.registerUrl) + '">' + esc(t.join) + '</a> ' +
        '<a class="act" href="' + esc(this.config.loginUrl) + '">' + esc(t.signIn) + '</a></div>';
    }
    if (programme.ways_to_earn.length) {
      html += '<h3>' + esc(t.waysToEarn) + '</h3>';
      programme.ways_to_earn.forEach(function (way) {
        html += '<div class="row"><span><strong>' + esc(way.title) + '</strong><br><span class="muted">' +
          esc(way.description) + '</span></span></div>';
      });
    }
    var offers = {};
    (me ? me.rewards : []).forEach(function (offer) {
      offers[offer.reward.id] = offer;
    });
    if (programme.rewards.length) {
      html += '<h3>' + esc(t.rewards) + '</h3>';
      programme.rewards.forEach(function (reward) {
        var offer = offers[reward.id];
        var action = offer && offer.affordable
          ? '<button class="act" data-redeem="' + esc(reward.id) + '"' + (self.busy ? ' disabled' : '') + '>' + esc(t.redeem) + '</button>'
          : offer ? '<span class="muted">' + self.points(offer.points_needed) + ' ' + esc(t.toGo) + '</span>' : '';
        html += '<div class="row"><span>' + esc(reward.name) + '<br><span class="muted">' + self.points(reward.points_cost) +
          '</span></span>' + action + '</div>';
      });
    }
    if (me && me.unused_rewards.length) {
      html += '<h3>' + esc(t.yourCodes) + '</h3>';
      me.unused_rewards.forEach(function (item) {
        html += '<div class="row"><span>' + esc(item.reward_name) + '</span>' +
          (item.code ? '<code data-code>' + esc(item.code) + '</code>' : '<span class="muted">' + esc(t.codePending) + '</span>') + '</div>';
      });
    }
    if (me && me.referral) {
      html += '<h3>' + esc(t.refer) + '</h3><p>' + esc(fill(t.referText, {
        friend: this.points(me.referral.friend_points), advocate: this.points(me.referral.advocate_points)
      })) + '</p><input readonly data-link value="' + esc(me.referral.share_url) + '"><p>' +
        '<button class="act" data-copy>' + esc(t.copy) + '</button> ' +
        (navigator.share ? '<button class="act" data-share>' + esc(t.share) + '</button>' : '') + '</p>';
    }
    this.root.innerHTML = html;
  };

  Widget.prototype.redeem = function (rewardId) {
    var self = this;
    var me = this.data.me;
    this.busy = true;
    this.render();
    var key = 'theme-' + rewardId + '-' + Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
    return this.request({id: REDEEM, variables: {input: {customerId: me.customer_id, rewardId: rewardId, idempotencyKey: key}}})
      .then(function (data) {
        var result = data.redeemReward;
        var code = result.code;
        var reward = self.data.programme.rewards.filter(function (item) { return item.id === rewardId; })[0];
        self.notice = result.success
          ? esc(reward ? reward.name : '') + ': ' + (code ? '<code data-code>' + esc(code) + '</code>' : esc(self.t.codePending))
          : esc(result.message);
        self.busy = false;
        return self.load().then(function () {
          if (result.success && !code) self.waitForCode(10);
        });
      }, function () {
        self.busy = false;
        self.notice = esc(self.t.error);
        self.render();
      });
  };

  // The code exists once the app has created it in Shopify (a few seconds): look again until it shows.
  Widget.prototype.waitForCode = function (tries) {
    var self = this;
    if (tries <= 0) return;
    setTimeout(function () {
      self.load().then(function () {
        var pending = self.data.me && self.data.me.unused_rewards.some(function (item) { return !item.code; });
        if (pending) return self.waitForCode(tries - 1);
        self.notice = '';
        self.render();
      });
    }, 2000);
  };

  Widget.prototype.mount = function (container) {
    var self = this;
    this.root = container;
    container.addEventListener('click', function (event) {
      var target = event.target.closest('button');
      if (!target) return;
      if (target.hasAttribute('data-close')) self.toggle(false);
      if (target.hasAttribute('data-redeem') && !self.busy) self.redeem(target.getAttribute('data-redeem'));
      if (target.hasAttribute('data-copy')) {
        var link = self.shadow.querySelector('[data-link]');
        link.select();
        (navigator.clipboard ? navigator.clipboard.writeText(link.value) : Promise.reject()).then(
          function () { target.textContent = self.t.copied; },
          function () { document.execCommand && document.execCommand('copy'); }
        );
      }
      if (target.hasAttribute('data-share')) navigator.share({url: self.data.me.referral.share_url});
    });
    container.innerHTML = '<p>' + esc(this.t.loading) + '</p>';
    return this.load();
  };

  Widget.prototype.toggle = function (open) {
    if (!this.panel) {
      this.panel = document.createElement('div');
      this.panel.className = 'panel float ' + this.side;
      this.panel.setAttribute('role', 'dialog');
      this.panel.setAttribute('aria-label', this.t.title);
      this.shadow.appendChild(this.panel);
      this.mount(this.panel);
    }
    this.panel.hidden = !open;
    this.button.setAttribute('aria-expanded', String(open));
  };

  function config(element) {
    return JSON.parse(element.querySelector('script[data-loyalty-config]').textContent);
  }

  function start() {
    var launcher = document.querySelector('[data-loyalty-launcher]');
    if (launcher && !launcher.shadowRoot) {
      var widget = new Widget(launcher, config(launcher), true);
      widget.side = launcher.getAttribute('data-position') === 'bottom-left' ? 'left' : 'right';
      widget.shadow.innerHTML = '<style>' + CSS + '</style><button class="launch ' + widget.side +
        '" aria-expanded="false" data-launcher>' + esc(widget.t.launcher) + '</button>';
      widget.button = widget.shadow.querySelector('button');
      widget.button.addEventListener('click', function () {
        widget.toggle(!widget.panel || widget.panel.hidden);
      });
    }
    Array.prototype.forEach.call(document.querySelectorAll('[data-loyalty-page]'), function (section) {
      if (section.shadowRoot) return;
      var inline = new Widget(section, config(section), false);
      inline.shadow.innerHTML = '<style>' + CSS + '</style><slot></slot><div class="panel"></div>';
      inline.mount(inline.shadow.querySelector('.panel'));
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
