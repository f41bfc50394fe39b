/*
 * 12345 hotline supervisor dashboard (/dashboard). Plain ES2017, no dependencies, no build step.
 * Logs in through the shared staff session (/staff/static/staff.js: cookie + X-CSRF-Token), reads
 * GET /api/dashboard/metrics and GET /api/followups, and draws every plot itself as SVG from that JSON (no image
 * server, no CDN). All text goes in with textContent / createTextNode, never innerHTML.
 */
(function () {
  'use strict';

  var SVG = 'http://www.w3.org/2000/svg';
  var COLORS = ['#1f5fa8', '#e0812b', '#3a9a5b', '#b8433a', '#7d5ba6', '#4aa3b5', '#a0a53a'];
  var CHANNEL_NAMES = { web: '网页', voice: '电话', wechat: '微信', app: 'App', staff: '人工' };
  var LEVEL_NAMES = { 5: '非常满意', 4: '满意', 3: '基本满意', 2: '不满意', 1: '非常不满意' };
  var STATE_NAMES = { open: '待回访', called_back: '已回访', closed: '已办结' };

  var $ = Staff.$;

  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined && text !== null) n.textContent = String(text);
    return n;
  }

  function svg(tag, attrs, text) {
    var n = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { n.setAttribute(k, attrs[k]); });
    if (text !== undefined) n.textContent = String(text);
    return n;
  }

  function pct(v) { return v === null || v === undefined ? '—' : (v * 100).toFixed(1) + '%'; }
  function num(v) { return v === null || v === undefined ? '—' : String(v); }
  function seconds(v) {
    if (v === null || v === undefined) return '—';
    return v < 60 ? Math.round(v) + '秒' : (v / 60).toFixed(1) + '分钟';
  }
  function shortDay(d) { return String(d).slice(5); }

  /* {status, body}: the figures and follow-ups show their own errors (Staff.errorText) where they were asked for. */
  function api(method, url, body) {
    return Staff.request(method, url, method === 'GET' ? undefined : body || {});
  }

  var errorText = Staff.errorText;

  function status(text) { $('db-status').textContent = text || ''; }

  // ------------------------------------------------------------------ charts

  function frame(width, height, title) {
    var s = svg('svg', { viewBox: '0 0 ' + width + ' ' + height, role: 'img', 'aria-label': title,
      class: 'db-chart', preserveAspectRatio: 'xMidYMid meet' });
    s.appendChild(svg('title', {}, title));
    return s;
  }

  function niceMax(v) {
    if (!(v > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= v) return steps[i] * p;
    return 10 * p;
  }

  function axes(s, box, max, fmt) {
    for (var i = 0; i <= 4; i++) {
      var v = max * i / 4;
      var y = box.y + box.h - box.h * i / 4;
      s.appendChild(svg('line', { x1: box.x, x2: box.x + box.w, y1: y, y2: y, class: 'db-grid' }));
      s.appendChild(svg('text', { x: box.x - 6, y: y + 4, class: 'db-tick', 'text-anchor': 'end' },
        fmt ? fmt(v) : (Math.round(v * 10) / 10)));
    }
  }

  function xLabels(s, box, labels) {
    var n = labels.length;
    var every = Math.max(1, Math.ceil(n / 10));
    labels.forEach(function (l, i) {
      if (i % every) return;
      var x = box.x + box.w * (i + 0.5) / n;
      s.appendChild(svg('text', { x: x, y: box.y + box.h + 16, class: 'db-tick', 'text-anchor': 'middle' }, l));
    });
  }

  function legend(container, names) {
    var ul = el('ul', 'db-legend');
    names.forEach(function (name, i) {
      var li = el('li');
      var sw = el('span', 'db-swatch');
      sw.style.background = COLORS[i % COLORS.length];
      li.appendChild(sw);
      li.appendChild(document.createTextNode(name));
      ul.appendChild(li);
    });
    container.appendChild(ul);
  }

  /** Stacked columns: labels along x, one series per name (values[i][j] = series i at label j). */
  function stackedBars(title, labels, names, values) {
    var W = 640, H = 240, box = { x: 44, y: 12, w: 580, h: 190 };
    var s = frame(W, H, title);
    var totals = labels.map(function (_, j) {
      return values.reduce(function (sum, row) { return sum + (row[j] || 0); }, 0);
    });
    var max = niceMax(Math.max.apply(null, totals.concat([0])));
    axes(s, box, max);
    var bw = box.w / Math.max(1, labels.length);
    labels.forEach(function (label, j) {
      var y = box.y + box.h;
      values.forEach(function (row, i) {
        var v = row[j] || 0;
        if (!v) return;
        var h = box.h * v / max;
        y -= h;
        var barW = Math.min(bw * 0.7, 48);
        var r = svg('rect', { x: box.x + j * bw + (bw - barW) / 2, y: y, width: barW, height: h,
          fill: COLORS[i % COLORS.length], class: 'db-bar', 'data-series': names[i], 'data-value': v });
        r.appendChild(svg('title', {}, label + ' ' + names[i] + '：' + v));
        s.appendChild(r);
      });
    });
    xLabels(s, box, labels.map(shortDay));
    return s;
  }

  /** Lines over the days; values may be null (no data that day: the line breaks). */
  function lines(title, labels, names, series, max, fmt) {
    var W = 640, H = 240, box = { x: 52, y: 12, w: 572, h: 190 };
    var s = frame(W, H, title);
    var top = max || niceMax(Math.max.apply(null, series.reduce(function (a, r) {
      return a.concat(r.filter(function (v) { return v !== null && v !== undefined; }));
    }, [0])));
    axes(s, box, top, fmt);
    series.forEach(function (row, i) {
      var d = '';
      var pen = false;
      row.forEach(function (v, j) {
        var x = box.x + box.w * (j + 0.5) / labels.length;
        if (v === null || v === undefined) { pen = false; return; }
        var y = box.y + box.h - box.h * v / top;
        d += (pen ? ' L ' : ' M ') + x.toFixed(1) + ' ' + y.toFixed(1);
        pen = true;
        var dot = svg('circle', { cx: x, cy: y, r: 3, fill: COLORS[i % COLORS.length], class: 'db-dot' });
        dot.appendChild(svg('title', {}, labels[j] + ' ' + names[i] + '：' + (fmt ? fmt(v) : v)));
        s.appendChild(dot);
      });
      if (d) s.appendChild(svg('path', { d: d, fill: 'none', stroke: COLORS[i % COLORS.length], 'stroke-width': 2 }));
    });
    xLabels(s, box, labels.map(shortDay));
    return s;
  }

  /** Horizontal bars, one per row (label, value). */
  function hbars(title, rows, color) {
    var W = 640, rowH = 26, H = Math.max(60, rows.length * rowH + 16), box = { x: 170, w: 420 };
    var s = frame(W, H, title);
    var max = niceMax(Math.max.apply(null, rows.map(function (r) { return r[1]; }).concat([0])));
    rows.forEach(function (r, i) {
      var y = 8 + i * rowH;
      var w = box.w * r[1] / max;
      s.appendChild(svg('text', { x: box.x - 8, y: y + 16, class: 'db-label', 'text-anchor': 'end' },
        String(r[0]).length > 14 ? String(r[0]).slice(0, 13) + '…' : r[0]));
      var bar = svg('rect', { x: box.x, y: y + 3, width: Math.max(1, w), height: rowH - 8, fill: color || COLORS[0],
        class: 'db-bar', 'data-value': r[1] });
      bar.appendChild(svg('title', {}, r[0] + '：' + r[1]));
      s.appendChild(bar);
      s.appendChild(svg('text', { x: box.x + w + 6, y: y + 16, class: 'db-value' }, r[1]));
    });
    if (!rows.length) s.appendChild(svg('text', { x: W / 2, y: 36, class: 'db-empty', 'text-anchor': 'middle' }, '暂无数据'));
    return s;
  }

  /** Vertical bars for a few categories (satisfaction levels, wait buckets). */
  function columns(title, rows, colors) {
    var W = 640, H = 240, box = { x: 44, y: 12, w: 580, h: 190 };
    var s = frame(W, H, title);
    var max = niceMax(Math.max.apply(null, rows.map(function (r) { return r[1]; }).concat([0])));
    axes(s, box, max);
    var bw = box.w / Math.max(1, rows.length);
    rows.forEach(function (r, i) {
      var h = box.h * r[1] / max;
      var barW = Math.min(bw * 0.6, 64);
      var x = box.x + i * bw + (bw - barW) / 2;
      var bar = svg('rect', { x: x, y: box.y + box.h - h, width: barW, height: h,
        fill: (colors && colors[i]) || COLORS[0], class: 'db-bar', 'data-value': r[1] });
      bar.appendChild(svg('title', {}, r[0] + '：' + r[1]));
      s.appendChild(bar);
      s.appendChild(svg('text', { x: x + barW / 2, y: box.y + box.h - h - 4, class: 'db-value', 'text-anchor': 'middle' },
        r[1]));
      s.appendChild(svg('text', { x: x + barW / 2, y: box.y + box.h + 16, class: 'db-tick', 'text-anchor': 'middle' },
        r[0]));
    });
    return s;
  }

  // ------------------------------------------------------------------ the board

  function range() { return { from: $('db-from').value, to: $('db-to').value }; }

  function csvLink(figure) {
    var r = range();
    var a = el('a', 'db-csv', '导出CSV');
    a.href = '/api/dashboard/csv/' + figure + '.csv?from=' + encodeURIComponent(r.from) + '&to=' + encodeURIComponent(r.to);
    a.setAttribute('download', figure + '.csv');
    return a;
  }

  function panel(id, title, figure, chart, wide) {
    var sec = el('section', 'db-panel' + (wide ? ' db-wide' : ''));
    sec.id = 'db-panel-' + id;
    var h = el('h2', null, title + ' ');
    if (figure) h.appendChild(csvLink(figure));
    sec.appendChild(h);
    if (chart) sec.appendChild(chart);
    return sec;
  }

  function card(label, value, note, id) {
    var c = el('div', 'db-card');
    if (id) c.id = 'db-card-' + id;
    c.appendChild(el('p', 'db-card-label', label));
    c.appendChild(el('p', 'db-card-value', value));
    if (note) c.appendChild(el('p', 'db-card-note', note));
    return c;
  }

  function render(m) {
    var cards = $('db-cards');
    var panels = $('db-panels');
    cards.textContent = '';
    panels.textContent = '';
    var rs = m.ratings_summary || {};
    var f = m.followups || {};
    var h = m.handoff || {};
    [
      card('会话量', num(m.conversations), '提问 ' + num(m.turns) + ' 次', 'conversations'),
      card('智能助手独立解决率', pct(m.containment_rate), '未转人工的会话', 'containment'),
      card('转人工率', pct(m.handoff_rate), '平均等待 ' + seconds(h.wait_seconds && h.wait_seconds.average), 'handoff'),
      card('未解答率', pct(m.unanswered_rate), '没听懂或无对应指南', 'unanswered'),
      card('满意率', pct(rs.satisfaction_rate), '评价 ' + num(rs.total) + ' 条，差评 ' + num(rs.bad) + ' 条', 'satisfaction'),
      card('差评回访率', pct(f.followup_rate), '待回访 ' + num(f.open) + '，已超期 ' + num(f.overdue), 'followups'),
      card('工单量', num(m.tickets && m.tickets.total), '超期未办结 ' + num(m.tickets && m.tickets.overdue.count), 'tickets')
    ].forEach(function (c) { cards.appendChild(c); });
    var card0 = el('div', 'db-card db-csv-card');
    card0.appendChild(el('p', 'db-card-label', '汇总数据'));
    card0.appendChild(csvLink('summary'));
    cards.appendChild(card0);

    var days = m.by_day.map(function (d) { return d.day; });
    var channels = m.channels || [];
    var conv = panel('conversations', '每日会话量（按渠道）', 'by_day',
      stackedBars('每日会话量', days, channels.map(function (c) { return CHANNEL_NAMES[c] || c; }),
        channels.map(function (c) { return m.by_day.map(function (d) { return d.by_channel[c] || 0; }); })), true);
    legend(conv, channels.map(function (c) { return CHANNEL_NAMES[c] || c; }));
    panels.appendChild(conv);

    var rates = panel('rates', '独立解决率、转人工率与未解答率', 'by_day',
      lines('每日比率', days, ['独立解决率', '转人工率', '未解答率'], [
        m.by_day.map(function (d) { return d.handoff_rate === null ? null : 1 - d.handoff_rate; }),
        m.by_day.map(function (d) { return d.handoff_rate; }),
        m.by_day.map(function (d) { return d.unanswered_rate; })
      ], 1, function (v) { return Math.round(v * 100) + '%'; }));
    legend(rates, ['独立解决率', '转人工率', '未解答率']);
    panels.appendChild(rates);

    panels.appendChild(panel('waits', '人工坐席等待时长分布（接通 ' + num(h.connected) + ' 次，中位数 ' +
      seconds(h.wait_seconds && h.wait_seconds.median) + '）', 'handoff_waits',
      columns('等待时长', (h.wait_buckets || []).map(function (b) { return [b.bucket, b.count]; }))));
    var waitDays = panel('wait-days', '每日平均等待时长', 'handoff_by_day',
      lines('每日平均等待（秒）', days, ['平均等待'], [(h.by_day || []).map(function (d) { return d.average_wait_seconds; })],
        null, function (v) { return Math.round(v) + 's'; }));
    panels.appendChild(waitDays);

    var levels = [5, 4, 3, 2, 1];
    panels.appendChild(panel('ratings', '满意度分布', 'ratings',
      columns('满意度分布', levels.map(function (l) { return [LEVEL_NAMES[l], m.ratings[String(l)] || 0]; }),
        ['#3a9a5b', '#76b36b', '#a0a53a', '#e0812b', '#b8433a'])));
    var trend = panel('trend', '满意度趋势（平均分，5=非常满意）', 'satisfaction_trend',
      lines('满意度趋势', days, ['平均分'], [m.satisfaction_trend.map(function (t) { return t.average_level; })], 5,
        function (v) { return (Math.round(v * 10) / 10).toString(); }));
    panels.appendChild(trend);

    panels.appendChild(panel('guides', '咨询最多的办事指南', 'top_guides',
      hbars('咨询最多的办事指南', m.top_guides.map(function (g) { return [g.guide, g.count]; }))));
    var t = m.tickets || { by_category: [], by_department: [], overdue: { by_department: [], items: [] } };
    panels.appendChild(panel('ticket-categories', '工单量（按类别）', 'tickets_by_category',
      hbars('工单量（按类别）', t.by_category.map(function (c) { return [c.category, c.count]; }), COLORS[1])));
    panels.appendChild(panel('ticket-departments', '工单量（按承办单位）', 'tickets_by_department',
      hbars('工单量（按承办单位）', t.by_department.map(function (d) { return [d.department, d.count]; }), COLORS[2])));
    var overdue = panel('overdue', '超期未办结工单（' + t.overdue.count + ' 件，截至 ' + m.today + '）', 'overdue_tickets',
      hbars('超期工单（按承办单位）', t.overdue.by_department.map(function (d) { return [d.department, d.count]; }),
        COLORS[3]));
    panels.appendChild(overdue);
    $('db-followups-csv').href = csvLink('followups').href;
  }

  // ------------------------------------------------------------------ follow-ups (回访)

  function followupRow(f) {
    var tr = el('tr');
    if (f.overdue) tr.className = 'db-overdue';
    tr.appendChild(el('td', null, f.due + (f.overdue ? '（已超期）' : f.working_days_left !== null ?
      '（剩' + f.working_days_left + '个工作日）' : '')));
    tr.appendChild(el('td', null, f.label + (f.served_by === 'agent' ? ' · 人工 ' + (f.agent_name || '') : ' · 智能助手')));
    tr.appendChild(el('td', null, f.number || f.sender));
    tr.appendChild(el('td', null, (f.tags || []).join('、') + (f.comment ? '：' + f.comment : '')));
    tr.appendChild(el('td', null, STATE_NAMES[f.state] || f.state));
    var act = el('td');
    var form = el('form', 'db-followup-form');
    var findings = el('textarea');
    findings.placeholder = '核实情况（必填）';
    findings.value = f.findings || '';
    var fix = el('textarea');
    fix.placeholder = '整改措施';
    fix.value = f.rectification || '';
    var response = el('select');
    ['', '满意', '基本满意', '不满意', '未接通'].forEach(function (v) {
      var o = el('option', null, v || '市民反馈…');
      o.value = v;
      response.appendChild(o);
    });
    response.value = f.caller_response || '';
    var save = el('button', null, '记录回访');
    save.type = 'submit';
    var close = el('button', null, '办结');
    close.type = 'button';
    close.disabled = f.state !== 'called_back';
    var msg = el('span', 'db-error');
    [findings, fix, response, save, close, msg].forEach(function (n) { form.appendChild(n); });
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      api('POST', '/api/followups/' + f.id + '/callback', { findings: findings.value, rectification: fix.value,
        caller_response: response.value }).then(function (r) {
        if (r.status === 200) load(); else msg.textContent = errorText(r);
      });
    });
    close.addEventListener('click', function () {
      api('POST', '/api/followups/' + f.id + '/close').then(function (r) {
        if (r.status === 200) load(); else msg.textContent = errorText(r);
      });
    });
    act.appendChild(form);
    tr.appendChild(act);
    return tr;
  }

  function renderFollowups(list) {
    var body = $('db-followups').querySelector('tbody');
    body.textContent = '';
    if (!list.length) {
      var tr = el('tr');
      var td = el('td', 'db-empty', '没有待处理的回访任务');
      td.colSpan = 6;
      tr.appendChild(td);
      body.appendChild(tr);
    }
    list.forEach(function (f) { body.appendChild(followupRow(f)); });
  }

  // ------------------------------------------------------------------ session

  function load() {
    var r = range();
    status('正在加载…');
    // no dates yet: the server's default (the last 7 days up to today in Beijing time) fills them in
    var query = r.from && r.to ? '?from=' + encodeURIComponent(r.from) + '&to=' + encodeURIComponent(r.to) : '';
    return Promise.all([
      api('GET', '/api/dashboard/metrics' + query),
      api('GET', '/api/followups')
    ]).then(function (res) {
      if (res[0].status === 401) return session.showLogin();
      if (res[0].status !== 200) { status(errorText(res[0])); return; }
      $('db-from').value = res[0].body.from;
      $('db-to').value = res[0].body.to;
      render(res[0].body);
      if (res[1].status === 200) renderFollowups(res[1].body.followups || []);
      $('db-board').hidden = false;
      status('数据范围：' + res[0].body.from + ' 至 ' + res[0].body.to);
    }, function () { status('网络错误，请稍后重试。'); });
  }

  function leave() {
    $('db-board').hidden = true;
    status('');
  }

  function start(me) {
    $('me-name').textContent = (me.display_name || me.username) + '（' + me.username + '）';
    load();
  }

  var session = Staff.session({
    allowed: function (me) { return (me.roles || []).indexOf('supervisor') >= 0; },
    denied: '该账号没有班长（质检）权限，无法查看运行看板。',
    leave: leave,
    enter: start
  });

  document.addEventListener('DOMContentLoaded', function () {
    $('db-range').addEventListener('submit', function (e) { e.preventDefault(); load(); });
    session.start();
  });
})();
