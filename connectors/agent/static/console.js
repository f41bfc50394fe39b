/*
 * 12345 agent console (坐席工作台). Plain ES2017, no dependencies, no build step.
 *
 * Logs in through the shared staff session (/staff/static/staff.js: the HttpOnly session cookie, X-CSRF-Token on
 * state-changing requests), reads /api/agent/... and follows WS /ws/agent for live
 * events. The bus never replays: whenever the socket says "subscribed", the queue and the open
 * conversation are read again over HTTP. Every piece of caller or staff text is rendered with
 * textContent, never innerHTML.
 */
(function () {
  'use strict';

  var RECONNECT_MS = [1000, 2000, 5000, 10000, 30000];
  var TYPING_IDLE_MS = 3000;
  var TYPING_REPEAT_MS = 4000;
  var CALLER_TYPING_MS = 8000;
  var OVERVIEW_REFRESH_MS = 15000;
  var PING_MS = 30000;
  var DUTY_KEY = 'hotline.agent.duty';

  var ROLE_LABELS = { caller: '市民', assistant: '智能助手', agent: '坐席', system: '系统' };
  var CHANNEL_LABELS = { web: '网页', voice: '电话', wechat: '微信', app: 'App' };

  var S = {
    me: null,
    view: 'agent',
    board: null,
    open: null,          // id of the conversation shown
    conv: null,          // its /api/agent/conversations/{id} answer
    seen: {},            // message ids shown in the transcript
    unread: {},          // conversation id -> unread caller messages
    watching: null,      // conversation id the socket follows beyond what we hold
    ws: null,
    wsAttempt: 0,
    wsTimer: null,
    pingTimer: null,
    typing: { on: false, sentAt: 0, idle: null },
    callerTypingTimer: null,
    boardTimer: null,
    overviewTimer: null,
    overviewLoop: null,
    canned: [],
    kbPrefill: ''
  };

  // ------------------------------------------------------------------ helpers

  var $ = Staff.$, el = Staff.el, clear = Staff.clear, announce = Staff.announce, showAlert = Staff.showAlert;
  var ApiFail = Staff.ApiFail, api = Staff.api, fail = Staff.fail;

  function duration(seconds) {
    seconds = Math.max(0, Math.floor(seconds || 0));
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    if (h) return h + '小时' + m + '分';
    if (m) return m + '分' + (s < 10 ? '0' : '') + s + '秒';
    return s + '秒';
  }

  function clock(iso) {
    if (!iso) return '';
    var d = new Date(iso);
    if (isNaN(d.getTime())) return '';
    function two(n) { return (n < 10 ? '0' : '') + n; }
    return two(d.getHours()) + ':' + two(d.getMinutes()) + ':' + two(d.getSeconds());
  }

  function stored(key) {
    try { return window.sessionStorage.getItem(key); } catch (e) { return null; }
  }

  function store(key, value) {
    try { window.sessionStorage.setItem(key, value); } catch (e) { /* private mode: not remembered */ }
  }

  function channelLabel(c) { return CHANNEL_LABELS[c] || c || ''; }

  function isSupervisor() { return !!S.me && S.me.roles.indexOf('supervisor') >= 0; }

  // ------------------------------------------------------------------ login

  function leave() {
    disconnect();
    stopTyping();
    window.clearInterval(S.overviewLoop);
    if (S.open) closeView();
    // nothing of the previous account's work stays on a shared screen
    S.me = null; S.board = null; S.unread = {}; S.canned = []; S.kbPrefill = '';
    clear($('kb-results'));
    $('kb-q').value = '';
    $('reply-text').value = '';
    $('note-text').value = '';
    ['mine-list', 'queue-list', 'callback-list', 'sup-agents', 'sup-conversations', 'sup-stats'].forEach(function (id) {
      clear($(id));
    });
    document.title = '12345 坐席工作台';
    $('tabs').hidden = true;
    $('agent-view').hidden = true;
    $('supervisor-view').hidden = true;
  }

  function enter(me) {
    S.me = me;
    $('me-name').textContent = (me.public_name || me.username) + '（' + me.username + '）';
    $('tabs').hidden = false;
    $('tab-supervisor').hidden = !isSupervisor();
    var duty = stored(DUTY_KEY + '.' + me.username);
    // agents answer by default; supervisors and admins mostly monitor and switch it on when they take calls
    $('duty').checked = duty === null ? me.role === 'agent' : duty === '1';
    switchView('agent');
    $('main').focus();
    loadCanned();
    loadBoard();
    connect();
  }

  var session = Staff.session({
    allowed: function (me) { return me.roles.indexOf('agent') >= 0; },
    denied: '该账号没有坐席权限。',
    leave: leave,
    enter: enter
  });

  // ------------------------------------------------------------------ views

  function switchView(view) {
    S.view = view;
    $('agent-view').hidden = view !== 'agent';
    $('supervisor-view').hidden = view !== 'supervisor';
    $('tab-agent').setAttribute('aria-pressed', String(view === 'agent'));
    $('tab-supervisor').setAttribute('aria-pressed', String(view === 'supervisor'));
    window.clearInterval(S.overviewLoop);
    if (view === 'supervisor') {
      loadOverview();
      S.overviewLoop = window.setInterval(loadOverview, OVERVIEW_REFRESH_MS);
    }
  }

  // ------------------------------------------------------------------ the queue

  function loadBoard() {
    return api('GET', '/api/agent/queue').then(function (board) {
      S.board = board;
      renderBoard();
    }).catch(fail);
  }

  function scheduleBoard() {
    window.clearTimeout(S.boardTimer);
    S.boardTimer = window.setTimeout(loadBoard, 250);
  }

  function askedOf(c) {
    var b = c.brief || {};
    if (b.asked && b.asked.length) return b.asked[b.asked.length - 1];
    if (b.guide) return b.guide;
    return b.reason || '（无摘要）';
  }

  function waitSpan(seconds, overdue) {
    return el('span', {
      className: 'wait' + (overdue ? ' over' : ''), 'data-since': String(Date.now() - seconds * 1000),
      text: '等待' + duration(seconds)
    });
  }

  function card(c, kind) {
    var b = c.brief || {};
    var badges = (b.priority || []).map(function (p) { return el('span', { className: 'badge', text: p }); });
    var buttons = [];
    var mineNow = kind === 'mine';
    buttons.push(el('button', {
      type: 'button', className: 'secondary small', text: mineNow ? '打开' : '查看', 'data-key': 'open-' + c.id,
      'aria-label': (mineNow ? '打开会话' : '查看会话') + ' #' + c.id,
      onclick: function () { openConversation(c.id); }
    }));
    if (kind === 'queue' || (kind === 'callback' && !c.agent_id)) {
      buttons.push(el('button', {
        type: 'button', className: 'primary small', text: kind === 'queue' ? '接入' : '受理回拨', 'data-key': 'claim-' + c.id,
        'aria-label': (kind === 'queue' ? '接入会话' : '受理回拨') + ' #' + c.id,
        onclick: function () { claim(c.id); }
      }));
    }
    var unread = S.unread[c.id] ? el('span', { className: 'unread', text: S.unread[c.id] + '条新消息' }) : null;
    var line1 = [el('span', { text: '#' + c.id + ' · ' + channelLabel(c.channel) })];
    if (kind === 'queue') line1.push(waitSpan(c.waiting_seconds, c.overdue));
    else if (kind === 'callback') line1.push(el('span', { text: c.agent_name ? '由' + c.agent_name + '受理' : '未受理' }));
    else line1.push(el('span', { text: c.state_label || c.state }));
    var extra = kind === 'callback' && c.callback_phone
      ? el('div', { className: 'meta', text: '回拨号码 ' + c.callback_phone + (c.callback_note ? '：' + c.callback_note : '') })
      : null;
    return el('li', {
      className: 'card' + (c.id === S.open ? ' current' : '') + (c.overdue ? ' overdue' : ''),
      'data-id': String(c.id)
    }, [
      el('div', { className: 'line1' }, line1),
      el('div', null, badges.concat(unread ? [unread] : [])),
      el('p', { className: 'asked', text: askedOf(c) }),
      extra,
      el('div', { className: 'buttons' }, buttons)
    ]);
  }

  function renderList(id, countId, items, kind) {
    var list = $(id);
    // a refresh must not take the keyboard focus away from the button the agent is on
    var focused = document.activeElement && list.contains(document.activeElement)
      ? document.activeElement.getAttribute('data-key') : null;
    clear(list);
    items.forEach(function (c) { list.appendChild(card(c, kind)); });
    if (!items.length) list.appendChild(el('li', { className: 'meta', text: '暂无' }));
    $(countId).textContent = String(items.length);
    var again = focused ? list.querySelector('[data-key="' + focused + '"]') : null;
    if (again) again.focus();
    else if (focused && list.firstChild) $(id.replace('-list', '-title')).focus();
  }

  function renderBoard() {
    var b = S.board;
    if (!b) return;
    renderList('mine-list', 'mine-count', b.mine, 'mine');
    renderList('queue-list', 'queue-count', b.conversations, 'queue');
    renderList('callback-list', 'callback-count', b.callbacks, 'callback');
    $('queue-meta').textContent = '在线坐席 ' + b.agents_on_duty + ' 人 · 我的接待 ' + b.load + '/' + b.capacity;
    var waiting = b.conversations.length, unread = Object.keys(S.unread).reduce(function (n, k) { return n + S.unread[k]; }, 0);
    document.title = (unread ? '(' + unread + ') ' : '') + (waiting ? '[排队' + waiting + '] ' : '') + '12345 坐席工作台';
  }

  function tick() {
    var now = Date.now();
    Array.prototype.forEach.call(document.querySelectorAll('.wait[data-since]'), function (node) {
      node.textContent = '等待' + duration((now - Number(node.getAttribute('data-since'))) / 1000);
    });
  }

  // ------------------------------------------------------------------ one conversation

  function held(id) {
    return !!(S.board && S.board.mine.some(function (c) { return c.id === id; }));
  }

  function watch(id) {
    var wanted = id && !held(id) ? id : null;
    if (wanted === S.watching) return;
    S.watching = wanted;
    wsSend({ type: 'watch', conversation_id: wanted });
  }

  function openConversation(id) {
    if (S.open !== id) {
      stopTyping();
      S.open = id;
      S.leaving = null;   // a conversation opened again (transferred back, say) is ours to be told about
      S.seen = {};
      clear($('transcript'));
      $('caller-typing').textContent = '';
    }
    delete S.unread[id];
    if (S.view !== 'agent') switchView('agent');
    return loadConversation(id).then(function () {
      renderBoard();
      watch(id);
      if (S.open === id && !$('conv').hidden) $('conv-title').focus();
    });
  }

  function closeView(message) {
    S.open = null; S.conv = null; S.seen = {};
    watch(null);
    $('conv').hidden = true;
    $('conv-empty').hidden = false;
    clear($('transcript'));
    $('caller-typing').textContent = '';
    renderSummary(null);
    clear($('notes'));
    renderBoard();
    if (message) announce(message);
  }

  function loadConversation(id) {
    return api('GET', '/api/agent/conversations/' + id).then(function (conv) {
      if (S.open !== id) return;
      S.conv = conv;
      renderConversation();
    }).catch(function (err) {
      if (S.open === id && err instanceof ApiFail && (err.status === 403 || err.status === 404)) {
        closeView(S.leaving === id ? null : err.message);  // no longer ours because we just transferred it
      } else {
        fail(err);
      }
    });
  }

  function renderConversation() {
    var conv = S.conv, c = conv.conversation, can = conv.can;
    $('conv-empty').hidden = true;
    $('conv').hidden = false;
    $('conv-title').textContent = '会话 #' + c.id + ' · ' + channelLabel(c.channel) + (c.large_text ? ' · 长辈模式' : '');
    var state = c.state_label || c.state;
    if (conv.holder) state += ' · ' + conv.holder;
    if (c.state === 'queued') state += ' · 已等待' + duration(c.waiting_seconds);
    if (c.wrap_up) state += ' · ' + c.wrap_up;
    $('conv-state').textContent = state;
    $('act-claim').hidden = !can.claim;
    $('act-claim').textContent = c.state === 'callback_requested' ? '受理回拨' : '接入';
    $('act-release').hidden = !can.release;
    $('act-transfer').hidden = !can.transfer;
    $('act-close').hidden = !can.close;
    $('act-reveal').hidden = !can.reveal;
    $('reply-form').hidden = !can.reply;
    $('readonly-hint').hidden = can.reply;
    $('readonly-hint').textContent = can.monitor ? '班长监听（只读）：您可以添加内部备注。'
      : (c.state === 'queued' ? '预览（只读）：接入后才能回复市民。' : '该会话当前不能回复。');
    $('note-form').hidden = !can.note;
    // the database order is the truth: rebuild (lines copied while the caller waited were never published)
    var t = $('transcript');
    var atBottom = !t.firstChild || t.scrollHeight - t.scrollTop - t.clientHeight < 40;
    clear(t);
    S.seen = {};
    conv.messages.forEach(function (m) { addMessage(m, false); });
    if (atBottom) scrollTranscript();
    renderSummary(conv);
    if (conv.summary && conv.summary.guide && (!$('kb-q').value || $('kb-q').value === S.kbPrefill)) {
      $('kb-q').value = S.kbPrefill = conv.summary.guide;
    }
    Array.prototype.forEach.call(document.querySelectorAll('.kb-send'), function (b) { b.disabled = !can.reply; });
  }

  function scrollTranscript() {
    var t = $('transcript');
    t.scrollTop = t.scrollHeight;
  }

  function guideCard(m) {
    var d = m.data || {};
    var count = Array.isArray(d.materials) ? d.materials.length : (typeof d.material_count === 'number' && d.material_count ? d.material_count : null);
    var title = '【' + (d.guide || '办事指南') + '】一次性告知' + (count !== null ? ' · 材料' + count + '项' : '');
    var children = [el('strong', { text: title })];
    if (d.items && d.items.length && d.all_items && d.items.length < d.all_items.length) {
      children.push(el('span', { className: 'meta', text: '事项：' + d.items.join('、') }));
    }
    if (m.text) {
      children.push(el('details', null, [el('summary', { text: '展开全文' }), el('div', { text: m.text })]));
    }
    return el('div', { className: 'guide-card' }, children);
  }

  function messageNode(m) {
    var internal = !!m.internal;
    var role = internal ? 'note' : (ROLE_LABELS[m.role] ? m.role : 'system');
    var who = internal ? '内部备注' : ROLE_LABELS[m.role] || m.role;
    if (m.staff_name && (m.role === 'agent' || internal)) who += ' · ' + m.staff_name;
    var time = clock(m.created_at);
    var body = m.kind === 'guide_answer' ? guideCard(m) : el('span', { text: m.text || '' });
    return el('li', { className: 'msg ' + role, 'data-id': String(m.id) }, [
      el('span', { className: 'who', text: who + (time ? ' ' + time : '') }), body
    ]);
  }

  function addMessage(m, live) {
    if (!m || m.id === undefined || S.seen[m.id]) return;
    S.seen[m.id] = true;
    $('transcript').appendChild(messageNode(m));
    if (m.internal) {
      $('notes').appendChild(el('li', { text: (m.staff_name ? m.staff_name + '：' : '') + m.text }));
    }
    if (live) scrollTranscript();
  }

  function summaryRow(dl, term, value) {
    if (value === null || value === undefined || value === '' || (Array.isArray(value) && !value.length)) return;
    var dd = el('dd');
    if (Array.isArray(value)) {
      dd.appendChild(el('ul', null, value.map(function (v) { return el('li', { text: v }); })));
    } else {
      dd.textContent = value;
    }
    dl.appendChild(el('dt', { text: term }));
    dl.appendChild(dd);
  }

  function renderSummary(conv) {
    var dl = $('summary');
    clear(dl);
    clear($('notes'));
    if (!conv) {
      summaryRow(dl, '提示', '未选择会话');
      return;
    }
    var c = conv.conversation, b = conv.summary || {};
    summaryRow(dl, '市民诉求', b.asked);
    summaryRow(dl, '关注指南', b.guide ? b.guide + (b.items && b.items.length ? '（' + b.items.join('、') + '）' : '') : '');
    summaryRow(dl, '办理情形', (b.situation || []).map(function (s) { return s.question + '：' + s.label; }));
    if (b.form) {
      var f = b.form, progress = '已填' + f.filled + '项';
      if (f.total !== null && f.total !== undefined) progress += '（共' + (f.total_estimated ? '约' : '') + f.total + '项）';
      if (f.state_label) progress += '，' + f.state_label;
      if (f.field_label) progress += '，正在填写“' + f.field_label + '”';
      summaryRow(dl, '一表申请', (f.guide || '') + ' ' + progress);
    }
    summaryRow(dl, '办件编号', b.applications);
    summaryRow(dl, '转人工原因', b.reason);
    summaryRow(dl, '优先', (b.priority || []).join('、'));
    summaryRow(dl, '回拨号码', c.callback_phone ? c.callback_phone + (c.callback_note ? '（' + c.callback_note + '）' : '') : '');
    summaryRow(dl, '来源', channelLabel(c.channel) + ' · 排队于 ' + clock(c.queued_at));
    if (!dl.firstChild) summaryRow(dl, '提示', '暂无摘要，请查看会话记录。');
    (conv.messages || []).forEach(function (m) {
      if (m.internal) $('notes').appendChild(el('li', { text: (m.staff_name ? m.staff_name + '：' : '') + m.text }));
    });
  }

  // ------------------------------------------------------------------ actions

  function claim(id) {
    api('POST', '/api/agent/conversations/' + id + '/claim').then(function () {
      announce('已接入会话 #' + id);
      return loadBoard();
    }).then(function () {
      return openConversation(id);
    }).then(function () {
      if (S.conv && S.conv.can.reply) $('reply-text').focus();
    }).catch(function (err) {
      fail(err);
      loadBoard();
    });
  }

  function send(body) {
    var id = S.open;
    return api('POST', '/api/agent/conversations/' + id + '/messages', body).then(function (r) {
      if (S.open === id) addMessage(r.message, true);
      return r;
    });
  }

  function onReply(event) {
    event.preventDefault();
    var box = $('reply-text'), text = box.value.trim();
    if (!text || !S.open) return;
    $('reply-send').disabled = true;
    send({ text: text }).then(function () {
      box.value = '';
      stopTyping();
    }).catch(fail).then(function () {
      $('reply-send').disabled = false;
      box.focus();
    });
  }

  function onReplyKey(event) {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      $('reply-form').requestSubmit ? $('reply-form').requestSubmit() : onReply(event);
    }
  }

  function postTyping(on) {
    if (!S.open) return;
    api('POST', '/api/agent/conversations/' + S.open + '/typing', { on: on }).catch(function () { /* best effort */ });
  }

  function onTyping() {
    if (!S.conv || !S.conv.can.reply) return;
    var now = Date.now();
    if (!S.typing.on || now - S.typing.sentAt > TYPING_REPEAT_MS) {
      S.typing.on = true;
      S.typing.sentAt = now;
      postTyping(true);
    }
    window.clearTimeout(S.typing.idle);
    S.typing.idle = window.setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  function stopTyping() {
    window.clearTimeout(S.typing.idle);
    if (S.typing.on) {
      S.typing.on = false;
      postTyping(false);
    }
  }

  function onNote(event) {
    event.preventDefault();
    var box = $('note-text'), text = box.value.trim(), id = S.open;
    if (!text || !id) return;
    api('POST', '/api/agent/conversations/' + id + '/notes', { text: text }).then(function (r) {
      box.value = '';
      if (S.open === id) addMessage(r.message, true);
      announce('备注已添加');
    }).catch(fail);
  }

  function dialog(id, onOk, onOpen) {
    var dlg = $(id);
    if (onOpen) onOpen(dlg);
    dlg.returnValue = '';
    dlg.showModal();
    dlg.addEventListener('close', function handler() {
      dlg.removeEventListener('close', handler);
      if (dlg.returnValue === 'ok') onOk(dlg);
    });
  }

  function release() {
    var id = S.open;
    dialog('dlg-release', function () {
      stopTyping();
      api('POST', '/api/agent/conversations/' + id + '/release').then(function () {
        announce('已交还智能助手');
        loadBoard();
        return loadConversation(id);
      }).catch(fail);
    });
  }

  function closeConversation() {
    var id = S.open;
    dialog('dlg-close', function () {
      stopTyping();
      api('POST', '/api/agent/conversations/' + id + '/close', {
        wrap_up: $('close-code').value, note: $('close-note').value.trim()
      }).then(function () {
        announce('会话已结束');
        loadBoard();
        return loadConversation(id);
      }).catch(fail);
    }, function () {
      var select = $('close-code');
      clear(select);
      ((S.board && S.board.wrap_up_codes) || ['咨询已解答', '其他']).forEach(function (code) {
        select.appendChild(el('option', { value: code, text: code }));
      });
      $('close-note').value = '';
    });
  }

  function transfer() {
    var id = S.open;
    api('GET', '/api/agent/agents').then(function (r) {
      dialog('dlg-transfer', function () {
        var to = Number($('transfer-to').value);
        if (!to) return;
        stopTyping();
        S.leaving = id;   // the transfer's own event may re-read the conversation after it stopped being ours
        api('POST', '/api/agent/conversations/' + id + '/transfer', { to_staff_id: to }).then(function (res) {
          loadBoard();
          if (S.open === id) closeView();
          announce('已转接给' + res.conversation.agent_name);
        }).catch(function (err) {
          S.leaving = null;
          fail(err);
        });
      }, function () {
        var select = $('transfer-to');
        clear(select);
        r.agents.forEach(function (a) {
          select.appendChild(el('option', {
            value: String(a.id), disabled: !a.available,
            text: a.name + '（接待 ' + a.load + '/' + a.capacity + (a.available ? '' : '，已满') + '）'
          }));
        });
        $('transfer-empty').hidden = r.agents.length > 0;
        select.hidden = !r.agents.length;
      });
    }).catch(fail);
  }

  function reveal() {
    $('reveal-value').textContent = '';
    $('reveal-reason').value = '';
    var dlg = $('dlg-reveal');
    dlg.showModal();
    $('reveal-reason').focus();
  }

  function onReveal(event) {
    var submitter = event.submitter;
    if (submitter && submitter.value !== 'ok') {
      $('reveal-value').textContent = '';
      return;                                  // the dialog closes
    }
    event.preventDefault();                    // stay open to show the number
    var reason = $('reveal-reason').value.trim();
    if (reason.length < 2) {
      $('reveal-value').textContent = '请填写查看原因。';
      $('reveal-reason').focus();
      return;
    }
    api('POST', '/api/agent/conversations/' + S.open + '/reveal', { field: 'callback_phone', reason: reason })
      .then(function (r) { $('reveal-value').textContent = r.value; })
      .catch(function (err) { $('reveal-value').textContent = err instanceof ApiFail ? err.message : '查看失败'; });
  }

  // ------------------------------------------------------------------ canned replies, knowledge

  function loadCanned() {
    api('GET', '/api/agent/canned').then(function (r) {
      var select = $('canned');
      clear(select);
      select.appendChild(el('option', { value: '', text: '— 选择常用语 —' }));
      S.canned = [];
      r.groups.forEach(function (g) {
        var group = el('optgroup', { label: g.group });
        g.replies.forEach(function (reply) {
          S.canned.push(reply);
          group.appendChild(el('option', { value: reply.id, text: reply.title + '：' + reply.text }));
        });
        select.appendChild(group);
      });
    }).catch(fail);
  }

  function onCanned() {
    var select = $('canned');
    var reply = S.canned.filter(function (r) { return r.id === select.value; })[0];
    select.value = '';
    if (!reply) return;
    var box = $('reply-text');
    box.value = box.value.trim() ? box.value.replace(/\s+$/, '') + reply.text : reply.text;
    box.focus();
    onTyping();
  }

  function kbSelection(item, form) {
    var items = Array.prototype.filter.call(form.querySelectorAll('input[name="item"]'), function (c) { return c.checked; })
      .map(function (c) { return c.value; });
    var situation = {};
    Array.prototype.forEach.call(form.querySelectorAll('select[data-situation]'), function (s) {
      if (s.value) situation[s.getAttribute('data-situation')] = s.value;
    });
    if (items.length === item.items.length) items = [];   // all covered items = the whole 一件事
    return { guide: item.name, items: items, situation: situation };
  }

  function kbResult(item, index, focus) {
    if (!item.kind) {
      return el('div', { className: 'kb-item' }, [el('strong', { text: item.name }), el('p', { className: 'meta', text: '该指南已下线' })]);
    }
    var chosen = focus && focus.guide === item.name ? focus.items || [] : [];
    var form = el('form', { className: 'kb-item' });
    form.appendChild(el('strong', { text: item.name }));
    form.appendChild(el('p', { className: 'meta', text: (item.kind === 'bundle' ? '一件事' : '单项') + ' · 承诺时限 ' +
      item.time_limit + (item.online_available ? ' · 可网办' : '') }));
    if (item.items.length > 1) {
      var fs = el('fieldset', null, [el('legend', { text: '办理事项' })]);
      var opts = el('div', { className: 'opts' });
      item.items.forEach(function (name, i) {
        var id = 'kb' + index + '-item' + i;
        opts.appendChild(el('span', null, [
          el('input', { type: 'checkbox', id: id, name: 'item', value: name, checked: !chosen.length || chosen.indexOf(name) >= 0 }),
          el('label', { 'for': id, text: ' ' + name })
        ]));
      });
      fs.appendChild(opts);
      form.appendChild(fs);
    }
    (item.situations || []).forEach(function (s, i) {
      var id = 'kb' + index + '-sit' + i;
      var select = el('select', { id: id, 'data-situation': s.id }, [el('option', { value: '', text: '（未确定）' })]);
      s.options.forEach(function (o) { select.appendChild(el('option', { value: o.value, text: o.label })); });
      form.appendChild(el('label', { 'for': id, className: 'meta', text: s.question }));
      form.appendChild(select);
    });
    var preview = el('div', { className: 'kb-preview', hidden: true, tabindex: '0' });
    var canSend = !!(S.conv && S.conv.can.reply);
    form.appendChild(el('div', { className: 'buttons' }, [
      el('button', {
        type: 'button', className: 'secondary small', text: '预览',
        onclick: function () {
          var sel = kbSelection(item, form);
          var q = '?guide=' + encodeURIComponent(sel.guide) + sel.items.map(function (i) { return '&items=' + encodeURIComponent(i); }).join('') +
            Object.keys(sel.situation).map(function (k) { return '&situation=' + encodeURIComponent(k + ':' + sel.situation[k]); }).join('');
          api('GET', '/api/agent/knowledge/card' + q).then(function (r) {
            preview.textContent = r.text;
            preview.hidden = false;
          }).catch(fail);
        }
      }),
      el('button', {
        type: 'submit', className: 'primary small kb-send', text: '发送办事指南', disabled: !canSend
      })
    ]));
    form.appendChild(preview);
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      if (!S.conv || !S.conv.can.reply) {
        showAlert('请先接入会话，再发送办事指南。');
        return;
      }
      send(kbSelection(item, form)).then(function () { announce('已发送《' + item.name + '》办事指南'); }).catch(fail);
    });
    return form;
  }

  function onSearch(event) {
    event.preventDefault();
    var q = $('kb-q').value.trim(), box = $('kb-results');
    if (!q) return;
    clear(box);
    box.appendChild(el('p', { className: 'meta', text: '搜索中…' }));
    api('GET', '/api/agent/knowledge/search?q=' + encodeURIComponent(q)).then(function (r) {
      clear(box);
      if (!r.results.length) {
        box.appendChild(el('p', { className: 'meta', text: '没有找到相关指南。' }));
        return;
      }
      if (!r.answerable) box.appendChild(el('p', { className: 'meta', text: '匹配度不高，以下仅供参考。' }));
      var focus = S.conv && S.conv.summary;
      r.results.forEach(function (item, i) { box.appendChild(kbResult(item, i, focus)); });
    }).catch(function (err) { clear(box); fail(err); });
  }

  // ------------------------------------------------------------------ supervisor

  function loadOverview() {
    if (!isSupervisor() || S.view !== 'supervisor') return;
    api('GET', '/api/supervisor/overview').then(renderOverview).catch(fail);
  }

  function scheduleOverview() {
    if (S.view !== 'supervisor') return;
    window.clearTimeout(S.overviewTimer);
    S.overviewTimer = window.setTimeout(loadOverview, 400);
  }

  function stat(label, value, bad) {
    return el('li', { className: bad ? 'bad' : '' }, [el('span', { className: 'num', text: String(value) }), label]);
  }

  function renderOverview(o) {
    $('sup-at').textContent = '更新于 ' + clock(o.at);
    var stats = $('sup-stats');
    clear(stats);
    [stat('排队人数', o.queue.length), stat('最长等待', duration(o.queue.longest_wait_seconds), o.queue.overdue > 0),
      stat('平均等待', duration(o.queue.average_wait_seconds)), stat('超时未接', o.queue.overdue, o.queue.overdue > 0),
      stat('在线坐席', o.agents_on_duty), stat('人工接待中', o.connected + '/' + o.slots),
      stat('待回拨', o.callbacks), stat('今日结束/交还/市民取消',
           o.ended_today.closed + '/' + o.ended_today.returned + '/' + (o.ended_today.cancelled || 0))
    ].forEach(function (li) { stats.appendChild(li); });

    var agents = $('sup-agents');
    clear(agents);
    o.agents.forEach(function (a) {
      agents.appendChild(el('tr', null, [
        el('td', { text: a.name }), el('td', { text: a.username }),
        el('td', { text: a.on_duty ? '在线' : '离线' }),
        el('td', { text: a.load + '/' + a.capacity + (a.conversation_ids.length ? '（#' + a.conversation_ids.join('、#') + '）' : '') }),
        el('td', { text: clock(a.last_seen_at) || '—' })
      ]));
    });
    if (!o.agents.length) agents.appendChild(el('tr', null, [el('td', { colspan: '5', text: '没有在线坐席' })]));

    var convs = $('sup-conversations');
    clear(convs);
    o.conversations.forEach(function (c) {
      var time = c.state === 'connected' ? '通话' + duration(c.talking_seconds) : '等待' + duration(c.waiting_seconds);
      convs.appendChild(el('tr', null, [
        el('td', { text: '#' + c.id + ' ' + channelLabel(c.channel) }),
        el('td', { text: c.state_label }),
        el('td', { text: c.agent_name || '—' }),
        el('td', { text: time }),
        el('td', { text: askedOf(c) }),
        el('td', null, [el('button', {
          type: 'button', className: 'secondary small', text: '监听', 'aria-label': '监听会话 #' + c.id,
          onclick: function () { openConversation(c.id); }
        })])
      ]));
    });
    if (!o.conversations.length) convs.appendChild(el('tr', null, [el('td', { colspan: '6', text: '当前没有进行中的会话' })]));
  }

  // ------------------------------------------------------------------ live events

  function setLink(state, text) {
    var link = $('link');
    link.className = 'link ' + state;
    link.textContent = text;
  }

  function wsSend(frame) {
    if (S.ws && S.ws.readyState === 1) S.ws.send(JSON.stringify(frame));
  }

  function connect() {
    disconnect();
    var duty = $('duty').checked ? '1' : '0';
    var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws/agent?duty=' + duty;
    var ws = new WebSocket(url);
    S.ws = ws;
    setLink('', '连接中…');
    ws.onmessage = function (msg) {
      var frame;
      try { frame = JSON.parse(msg.data); } catch (e) { return; }
      onFrame(frame);
    };
    ws.onopen = function () {
      S.wsAttempt = 0;
      S.pingTimer = window.setInterval(function () { wsSend({ type: 'ping' }); }, PING_MS);
    };
    ws.onclose = function (event) {
      window.clearInterval(S.pingTimer);
      if (S.ws !== ws) return;                  // replaced on purpose
      S.ws = null;
      S.watching = null;
      if (!S.me) return;
      if (event.code === 1008) {                 // session revoked or expired, or role changed
        api('GET', '/api/staff/me').then(function () { scheduleReconnect(); }).catch(function () { /* login shown */ });
        return;
      }
      setLink('down', '实时连接已断开，正在重连…');
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    window.clearTimeout(S.wsTimer);
    var delay = RECONNECT_MS[Math.min(S.wsAttempt, RECONNECT_MS.length - 1)];
    S.wsAttempt += 1;
    S.wsTimer = window.setTimeout(function () { if (S.me) connect(); }, delay);
  }

  function disconnect() {
    window.clearTimeout(S.wsTimer);
    window.clearInterval(S.pingTimer);
    var ws = S.ws;
    S.ws = null;
    S.watching = null;
    if (ws) ws.close(1000);
  }

  function onFrame(frame) {
    switch (frame.type) {
      case 'hello':
        setLink('live', '实时连接正常');
        $('duty').checked = !!frame.on_duty;
        break;
      case 'subscribed':                         // (re)subscribed: re-read what may have been missed
        S.watching = frame.watching;
        loadBoard().then(function () {
          if (S.open) {
            loadConversation(S.open);
            watch(S.open);
          }
        });
        scheduleOverview();
        break;
      case 'event':
        onEvent(frame.topic, frame.event || {});
        break;
      case 'duty':
        $('duty').checked = !!frame.on;
        announce(frame.on ? '已示闲：可以接入新会话' : '已示忙：暂不接入新会话');
        break;
      case 'watch_ended':
        S.watching = null;
        if (S.open === frame.conversation_id) closeView(frame.message);
        break;
      case 'error':
        if (frame.code === 'bus_unavailable') setLink('down', '实时通道不可用，请手动刷新');
        else if (frame.message) showAlert(frame.message);
        break;
      default:
        break;
    }
  }

  function onEvent(topic, ev) {
    var id = ev.conversation_id;
    if (ev.type === 'queue.changed') {
      scheduleBoard();
      scheduleOverview();
      if (ev.change === 'queued') {
        var asked = ev.conversation && ev.conversation.summary && ev.conversation.summary.asked;
        announce('新的市民排队' + (Array.isArray(asked) && asked.length ? '：' + asked[asked.length - 1] : ''));
      }
      if (id === S.open && ev.agent_id !== (S.me && S.me.id)) loadConversation(id);
      return;
    }
    if (ev.type === 'handoff.state') {
      if (id === S.open) {
        addMessage(ev.message, true);
        loadConversation(id);
      }
      scheduleBoard();
      return;
    }
    if (ev.type === 'handoff.message') {
      var m = ev.message || {};
      if (id === S.open) {
        addMessage(m, true);
        if (m.role === 'caller') {
          $('caller-typing').textContent = '';
          announce('市民：' + (m.text || ''));     // the transcript itself is not a live region (it is rebuilt)
        }
      } else if (m.role === 'caller') {
        S.unread[id] = (S.unread[id] || 0) + 1;
        renderBoard();
        announce('会话 #' + id + ' 有新消息');
      }
      return;
    }
    if (ev.type === 'handoff.typing' && id === S.open) {
      var mine = ev.role === 'agent' && S.conv && S.conv.conversation.agent_id === (S.me && S.me.id);
      if (mine) return;
      var box = $('caller-typing');
      window.clearTimeout(S.callerTypingTimer);
      if (ev.on) {
        box.textContent = ev.role === 'caller' ? '市民正在输入…' : (ev.name || '坐席') + '正在输入…';
        S.callerTypingTimer = window.setTimeout(function () { box.textContent = ''; }, CALLER_TYPING_MS);
      } else {
        box.textContent = '';
      }
    }
  }

  // ------------------------------------------------------------------ start

  function onDuty() {
    var on = $('duty').checked;
    if (S.me) store(DUTY_KEY + '.' + S.me.username, on ? '1' : '0');
    if (S.ws && S.ws.readyState === 1) wsSend({ type: 'duty', on: on });
    else api('POST', '/api/agent/heartbeat', { on_duty: on }).catch(fail);
  }

  function init() {
    $('tab-agent').addEventListener('click', function () { switchView('agent'); });
    $('tab-supervisor').addEventListener('click', function () { switchView('supervisor'); });
    $('duty').addEventListener('change', onDuty);
    $('refresh').addEventListener('click', function () { loadBoard(); if (S.open) loadConversation(S.open); });
    $('reply-form').addEventListener('submit', onReply);
    $('reply-text').addEventListener('keydown', onReplyKey);
    $('reply-text').addEventListener('input', onTyping);
    $('canned').addEventListener('change', onCanned);
    $('note-form').addEventListener('submit', onNote);
    $('kb-form').addEventListener('submit', onSearch);
    $('act-claim').addEventListener('click', function () { if (S.open) claim(S.open); });
    $('act-release').addEventListener('click', release);
    $('act-transfer').addEventListener('click', transfer);
    $('act-close').addEventListener('click', closeConversation);
    $('act-reveal').addEventListener('click', reveal);
    $('reveal-form').addEventListener('submit', onReveal);
    $('dlg-reveal').addEventListener('close', function () { $('reveal-value').textContent = ''; });
    window.setInterval(tick, 1000);
    window.addEventListener('beforeunload', function () { stopTyping(); disconnect(); });
    session.start();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
}());
