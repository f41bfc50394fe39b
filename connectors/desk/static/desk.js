/*
 * 12345 ticket desk (工单台). Plain ES2017, no dependencies, no build step.
 *
 * Logs in through the shared staff session (/staff/static/staff.js: the HttpOnly session cookie, X-CSRF-Token on
 * state-changing requests) and works tickets through /api/staff/tickets/... (docs/API.md, "Ticket
 * desk (staff)"). Every piece of caller or staff text is rendered with textContent, never innerHTML.
 */
(function () {
  'use strict';

  var REFRESH_MS = 30000;
  var PER_PAGE = 20;
  var ADVANCE_LABELS = { dispatched: '派单', in_progress: '开始办理', resolved: '办结', visited: '已回访' };
  var CHANNEL_LABELS = { web: '网页', voice: '电话', wechat: '微信', app: 'App', callback: '回拨' };
  var FIELD_LABELS = { phone: '联系电话', caller_name: '姓名' };

  var S = { me: null, options: null, page: 1, pages: 1, open: null, ticket: null, loop: null, reveal: null };

  // ------------------------------------------------------------------ helpers

  var $ = Staff.$, el = Staff.el, clear = Staff.clear, announce = Staff.announce, showAlert = Staff.showAlert;
  var ApiFail = Staff.ApiFail, api = Staff.api, fail = Staff.fail, when = Staff.when;

  function dueText(t) {
    if (t.state === 'resolved' || t.state === 'visited') return t.due;
    if (t.overdue) return t.due + '（已超期' + (t.overdue_working_days ? t.overdue_working_days + '个工作日' : '') + '）';
    if (t.working_days_left === 0) return t.due + '（今天到期）';
    if (t.working_days_left !== null && t.working_days_left !== undefined) {
      return t.due + '（剩' + t.working_days_left + '个工作日）';
    }
    return t.due;
  }

  function category(t) {
    return t.level1 ? [t.level1, t.level2, t.level3].filter(Boolean).join(' / ') : '待人工分类';
  }

  function fillSelect(select, values, first) {
    var keep = select.value;
    clear(select);
    if (first !== null) select.appendChild(el('option', { value: '', text: first }));
    values.forEach(function (v) {
      var value = typeof v === 'string' ? v : v.value;
      select.appendChild(el('option', { value: value, text: typeof v === 'string' ? v : v.label }));
    });
    if (keep && Array.prototype.some.call(select.options, function (o) { return o.value === keep; })) select.value = keep;
  }

  // ------------------------------------------------------------------ login

  function leave() {
    window.clearInterval(S.loop);
    S.me = null; S.open = null; S.ticket = null;
    clear($('ticket-list')); clear($('hot-list')); clear($('t-events')); clear($('stats'));
    $('ticket').hidden = true; $('t-empty').hidden = false;
    $('reply-text').value = ''; $('note-text').value = '';
    $('desk-view').hidden = true;
  }

  function enter(me) {
    S.me = me;
    $('me-name').textContent = (me.public_name || me.username) + '（' + me.username + '）';
    $('desk-view').hidden = false;
    $('main').focus();
    api('GET', '/api/staff/tickets/options').then(function (options) {
      S.options = options;
      fillOptions();
      var wanted = new URLSearchParams(window.location.search).get('number');
      if (wanted) openTicket(wanted);
    }).catch(fail);
    loadList();
    loadHot();
    window.clearInterval(S.loop);
    S.loop = window.setInterval(function () { loadList(true); loadHot(); }, REFRESH_MS);
  }

  var session = Staff.session({
    allowed: function (me) { return me.roles.indexOf('agent') >= 0; },
    denied: '该账号没有处理工单的权限（需要坐席、班长或管理员账号）。',
    leave: leave,
    enter: enter
  });

  // ------------------------------------------------------------------ pickers

  function fillOptions() {
    var o = S.options;
    var level1s = Object.keys(o.taxonomy);
    fillSelect($('filter-level1'), level1s, '全部');
    fillSelect($('filter-department'), o.departments, '全部');
    fillSelect($('filter-type'), o.appeal_types, '全部');
    fillSelect($('rc-level1'), level1s, '一级分类');
    fillSelect($('rc-department'), o.departments, '按派单表自动确定');
    fillSelect($('ra-department'), o.departments, '选择承办单位');
    if (o.routing_error) showAlert('派单表有误，请联系管理员：' + o.routing_error);
  }

  function fillLevel2(level2) {
    var tree = S.options ? S.options.taxonomy[$('rc-level1').value] || {} : {};
    fillSelect($('rc-level2'), Object.keys(tree), '二级分类');
    if (level2 !== undefined) $('rc-level2').value = level2;
    fillLevel3();
  }

  function fillLevel3(level3) {
    var tree = S.options ? S.options.taxonomy[$('rc-level1').value] || {} : {};
    fillSelect($('rc-level3'), tree[$('rc-level2').value] || [], '三级分类');
    if (level3 !== undefined) $('rc-level3').value = level3;
  }

  // ------------------------------------------------------------------ the list

  function filterQuery() {
    var p = new URLSearchParams();
    var state = $('filter-state').value;
    if (state) p.set('state', state);
    [['level1', 'filter-level1'], ['department', 'filter-department'], ['appeal_type', 'filter-type'],
      ['q', 'filter-q']].forEach(function (pair) {
      var v = $(pair[1]).value.trim();
      if (v) p.set(pair[0], v);
    });
    if ($('filter-overdue').checked) p.set('overdue', 'true');
    if ($('filter-pending').checked) p.set('pending', 'true');
    if ($('filter-duplicates').checked) p.set('duplicates', 'true');
    p.set('page', String(S.page));
    p.set('per_page', String(PER_PAGE));
    return p.toString();
  }

  function loadList(quiet) {
    return api('GET', '/api/staff/tickets?' + filterQuery()).then(function (result) {
      S.pages = result.pages;
      renderList(result);
    }).catch(function (err) { if (!quiet) fail(err); });
  }

  function renderStats(counts) {
    var list = $('stats');
    clear(list);
    [['accepted', '已受理'], ['dispatched', '已派单'], ['in_progress', '办理中'], ['returned', '退回'],
      ['pending', '待分类'], ['overdue', '已超期']].forEach(function (pair) {
      var n = counts[pair[0]] || 0;
      list.appendChild(el('li', { className: (pair[0] === 'overdue' || pair[0] === 'returned') && n ? 'bad' : '' },
        [pair[1] + ' ', el('b', { text: String(n) })]));
    });
  }

  function card(t) {
    var tags = [el('span', { className: 'tag', text: t.state_label })];
    if (t.overdue) tags.push(el('span', { className: 'tag late', text: '超期' }));
    if (t.classification === 'pending') tags.push(el('span', { className: 'tag pending', text: '待分类' }));
    if (t.urgent) tags.push(el('span', { className: 'tag late', text: '加急' }));
    if (t.duplicate_of) tags.push(el('span', { className: 'tag', text: '并入' + t.duplicate_of }));
    var open = el('button', {
      type: 'button', className: 'open', 'data-number': t.number, 'aria-label': '打开工单 ' + t.number,
      onclick: function () { openTicket(t.number); }
    }, [
      el('div', { className: 'line1' }, [el('span', { text: t.number + ' · ' + t.appeal_type }),
        el('span', { className: 'callers', text: t.callers > 1 ? t.callers + '人反映' : '' })]),
      el('div', null, tags),
      el('p', { className: 'desc', text: t.description }),
      el('div', { className: 'meta', text: (t.department || '未派单位') + ' · 期限 ' + dueText(t) })
    ]);
    return el('li', { className: 'card' + (t.number === S.open ? ' current' : ''), 'data-number': t.number }, [open]);
  }

  function renderList(result) {
    var list = $('ticket-list');
    clear(list);
    result.tickets.forEach(function (t) { list.appendChild(card(t)); });
    if (!result.tickets.length) list.appendChild(el('li', { className: 'meta', text: '没有符合条件的工单' }));
    $('list-total').textContent = String(result.total);
    $('page-info').textContent = '第' + result.page + '/' + result.pages + '页';
    $('page-prev').disabled = result.page <= 1;
    $('page-next').disabled = result.page >= result.pages;
    if (result.counts) renderStats(result.counts);
  }

  // ------------------------------------------------------------------ one ticket

  function openTicket(number) {
    return api('GET', '/api/staff/tickets/' + encodeURIComponent(number)).then(function (t) {
      var first = S.open !== t.number;
      show(t);
      if (first) $('t-title').focus();
    }).catch(fail);
  }

  function fact(list, label, value, extra) {
    list.appendChild(el('dt', { text: label }));
    list.appendChild(el('dd', null, [value === null || value === undefined || value === '' ? '—' : String(value)]
      .concat(extra ? [' ', extra] : [])));
  }

  function show(t) {
    S.open = t.number;
    S.ticket = t;
    $('t-empty').hidden = true;
    $('ticket').hidden = false;
    $('t-number').textContent = '工单 ' + t.number;
    var pill = $('t-state');
    pill.textContent = t.state_label;
    pill.className = 'state-pill ' + t.state + (t.overdue ? ' late' : '');
    var badges = $('t-badges');
    clear(badges);
    if (t.overdue) badges.appendChild(el('span', { className: 'badge', text: '已超期' }));
    if (t.urgent) badges.appendChild(el('span', { className: 'badge', text: '加急' }));
    if (t.classification === 'pending') badges.appendChild(el('span', { className: 'badge', text: '待人工分类' }));
    if (t.callers > 1) badges.appendChild(el('span', { className: 'badge', text: t.callers + '位市民反映' }));

    var facts = $('t-facts');
    clear(facts);
    fact(facts, '诉求类型', t.appeal_type);
    fact(facts, '分类', category(t) + (t.classification === 'auto' ? '（自动，置信度' + Math.round(t.confidence * 100) + '%）'
      : t.classification === 'manual' ? '（人工）' : ''));
    fact(facts, '承办单位', t.department || (t.returned_by.length ? '（已被' + t.returned_by.join('、') + '退回）' : ''));
    fact(facts, '答复期限', dueText(t));
    fact(facts, '事发地址', t.address);
    fact(facts, '发生时间', t.occurred);
    fact(facts, '来电人', t.anonymous ? '匿名' : t.caller_name, t.caller_name ? revealButton('caller_name') : null);
    fact(facts, '联系电话', t.phone, t.phone ? revealButton('phone') : null);
    fact(facts, '是否需要答复', t.reply_wanted ? '需要' : '不需要');
    fact(facts, '渠道', (CHANNEL_LABELS[t.channel] || t.channel) + ' · 受理于 ' + when(t.created_at));
    if (t.original) fact(facts, '已并入', t.original.number + '（' + t.original.state_label + '）');
    if (t.linked.length) fact(facts, '同一问题', t.linked.map(function (l) { return l.number; }).join('、'));
    if (t.external_id) fact(facts, '工单平台编号', t.external_id);
    $('t-description').textContent = t.description;

    renderActions(t);
    renderEvents(t.events);
    markCurrent();
  }

  function revealButton(field) {
    return el('button', {
      type: 'button', className: 'secondary small', text: '查看完整' + FIELD_LABELS[field], 'data-reveal': field,
      onclick: function () { openReveal(field); }
    });
  }

  function markCurrent() {
    Array.prototype.forEach.call($('ticket-list').children, function (li) {
      li.classList.toggle('current', li.getAttribute('data-number') === S.open);
    });
  }

  function act(path, body, done) {
    return api('POST', '/api/staff/tickets/' + encodeURIComponent(S.open) + path, body).then(function (t) {
      show(t);
      loadList(true);
      if (done) announce(done);
      if (t.platform && !t.platform.ok) showAlert('已在本地派单，但转工单平台失败：' + t.platform.message);
      return t;
    }).catch(fail);
  }

  function renderActions(t) {
    var bar = $('t-advance');
    clear(bar);
    t.can.advance.forEach(function (state) {
      var label = (t.state === 'returned' && state === 'dispatched' ? '重新派单' : ADVANCE_LABELS[state]) +
        '（→' + stateLabel(state) + '）';
      bar.appendChild(el('button', {
        type: 'button', className: 'primary small', text: label, 'data-state': state,
        onclick: function () { act('/advance', { state: state }, '工单已变为“' + stateLabel(state) + '”。'); }
      }));
    });
    if (t.can['return']) {
      bar.appendChild(el('button', { type: 'button', className: 'danger small', text: '承办单位退回', id: 'act-return',
        onclick: openReturn }));
    }
    if (t.can.forward) {
      bar.appendChild(el('button', { type: 'button', className: 'secondary small', text: '转工单平台',
        onclick: function () { act('/forward', undefined).then(function () { openTicket(S.open); }); } }));
    }
    if (t.can.sync) {
      bar.appendChild(el('button', { type: 'button', className: 'secondary small', text: '同步平台进度',
        onclick: function () { act('/sync', undefined, '已同步工单平台进度。'); } }));
    }
    if (t.can.unlink) {
      bar.appendChild(el('button', { type: 'button', className: 'secondary small', text: '取消合并',
        onclick: function () {
          var reason = window.prompt('取消合并的原因（例如：不是同一问题）');
          if (reason) act('/unlink', { reason: reason }, '已取消合并。');
        } }));
    }
    if (!bar.firstChild) bar.appendChild(el('span', { className: 'hint', text: '当前没有可进行的流转。' }));
    var hint = $('t-linked-hint');
    hint.hidden = !t.original;
    hint.textContent = t.original ? '该工单已并入工单' + t.original.number + '统一办理，请在原工单上派单和答复。' : '';

    $('rc-form').hidden = !t.can.reclassify;
    $('ra-form').hidden = !t.can.reassign;
    $('reply-form').hidden = !t.can.reply;
    $('rc-level1').value = t.level1 || '';
    fillLevel2(t.level2 || '');
    fillLevel3(t.level3 || '');
    $('rc-department').value = '';
    $('ra-department').value = '';
  }

  function stateLabel(state) {
    var found = (S.options ? S.options.states : []).filter(function (s) { return s.state === state; })[0];
    return found ? found.label : state;
  }

  function renderEvents(events) {
    var list = $('t-events');
    clear(list);
    events.slice().reverse().forEach(function (e) {
      var who = e.staff_name || (e.actor && e.actor.indexOf('platform:') === 0 ? '工单平台' : e.actor === 'system' ? '系统' : '');
      var extra = e.kind === 'return' && e.data.reason ? '\n退回单位：' + (e.data.department || '') + '；原因：' + e.data.reason : '';
      list.appendChild(el('li', { className: e.public ? 'public' : 'internal', 'data-kind': e.kind }, [
        el('span', { className: 'when' }, [when(e.at) + ' · ' + e.kind_label + (who ? ' · ' + who : ''),
          el('span', { className: 'vis', text: e.public ? '市民可见' : '仅内部' })]),
        e.text + extra
      ]));
    });
  }

  function onReclassify(event) {
    event.preventDefault();
    var body = { level1: $('rc-level1').value, level2: $('rc-level2').value, level3: $('rc-level3').value };
    if (!body.level1 || !body.level2 || !body.level3) { showAlert('请选择完整的三级分类。'); return; }
    if ($('rc-department').value) body.department = $('rc-department').value;
    act('/reclassify', body, '分类已保存。');
  }

  function onReassign(event) {
    event.preventDefault();
    if (!$('ra-department').value) { showAlert('请选择新的承办单位。'); return; }
    act('/reassign', { department: $('ra-department').value, note: $('ra-note').value.trim() }, '已改派。')
      .then(function (t) { if (t) $('ra-note').value = ''; });
  }

  function onText(path, box, done) {
    return function (event) {
      event.preventDefault();
      var text = $(box).value.trim();
      if (!text) { showAlert('请先填写内容。'); return; }
      act(path, { text: text }, done).then(function (t) { if (t) $(box).value = ''; });
    };
  }

  function openReturn() {
    $('return-department').value = S.ticket ? S.ticket.department : '';
    $('return-reason').value = '';
    $('dlg-return').showModal();
  }

  function onReturnClose() {
    if ($('dlg-return').returnValue !== 'ok') return;
    var reason = $('return-reason').value.trim();
    if (!reason) { showAlert('请填写退回原因。'); return; }
    act('/return', { reason: reason, department: $('return-department').value.trim() || null },
      '工单已退回，回到人工分类队列。');
  }

  function openReveal(field) {
    S.reveal = field;
    $('dlg-reveal-title').textContent = '查看完整' + FIELD_LABELS[field];
    $('reveal-reason').value = '';
    $('reveal-value').textContent = '';
    $('dlg-reveal').showModal();
  }

  function onReveal(event) {
    if (event.submitter && event.submitter.value !== 'ok') return;
    event.preventDefault();
    api('POST', '/api/staff/tickets/' + encodeURIComponent(S.open) + '/reveal',
      { field: S.reveal, reason: $('reveal-reason').value.trim() }).then(function (r) {
      $('reveal-value').textContent = r.value;
    }).catch(function (err) { $('reveal-value').textContent = err instanceof ApiFail ? err.message : '查看失败'; });
  }

  // ------------------------------------------------------------------ hot issues

  function loadHot(event) {
    if (event) event.preventDefault();
    return api('GET', '/api/staff/tickets/hot?days=' + encodeURIComponent($('hot-days').value)).then(function (hot) {
      var list = $('hot-list');
      clear(list);
      $('hot-meta').textContent = '近' + hot.days + '天共' + hot.tickets_seen + '件工单';
      hot.clusters.forEach(function (c) {
        list.appendChild(el('li', null, [
          el('span', { className: 'size', text: c.callers + '人反映' }), ' ',
          el('span', { text: c.title }),
          el('div', { className: 'meta', text: [c.place, c.level2 || c.level1, c.departments.join('、'),
            '未办结' + c.open + '件'].filter(Boolean).join(' · ') }),
          el('button', { type: 'button', className: 'secondary small', text: '查看' + c.lead, 'data-lead': c.lead,
            onclick: function () { openTicket(c.lead); } })
        ]));
      });
      if (!hot.clusters.length) list.appendChild(el('li', { className: 'meta', text: '暂无多人反映的同类问题' }));
    }).catch(function () { /* the list shows errors; the panel stays as it was */ });
  }

  // ------------------------------------------------------------------ start

  document.addEventListener('DOMContentLoaded', function () {
    $('filter-form').addEventListener('submit', function (event) { event.preventDefault(); S.page = 1; loadList(); });
    $('filter-reset').addEventListener('click', function () {
      $('filter-form').reset();
      S.page = 1;
      loadList();
    });
    ['filter-state', 'filter-level1', 'filter-department', 'filter-type', 'filter-overdue', 'filter-pending',
      'filter-duplicates'].forEach(function (id) {
      $(id).addEventListener('change', function () { S.page = 1; loadList(); });
    });
    $('page-prev').addEventListener('click', function () { if (S.page > 1) { S.page -= 1; loadList(); } });
    $('page-next').addEventListener('click', function () { if (S.page < S.pages) { S.page += 1; loadList(); } });
    $('rc-level1').addEventListener('change', function () { fillLevel2(); });
    $('rc-level2').addEventListener('change', function () { fillLevel3(); });
    $('rc-form').addEventListener('submit', onReclassify);
    $('ra-form').addEventListener('submit', onReassign);
    $('reply-form').addEventListener('submit', onText('/reply', 'reply-text', '答复已发送，市民查询进度时可见。'));
    $('note-form').addEventListener('submit', onText('/notes', 'note-text', '备注已添加。'));
    $('dlg-return').addEventListener('close', onReturnClose);
    $('reveal-form').addEventListener('submit', onReveal);
    $('hot-form').addEventListener('submit', loadHot);
    session.start();
  });
}());
