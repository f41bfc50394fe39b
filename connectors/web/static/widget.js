/*
 * 12345 government-service hotline chat widget (蒙速办 web channel).
 *
 * Embed with a single tag:
 *   <script src="https://host/static/widget.js" data-endpoint="https://host" defer></script>
 *
 * Optional attributes on the script tag:
 *   data-endpoint     HTTP base of the gateway (default: the script's origin)
 *   data-ws-endpoint  WebSocket base (default: derived from data-endpoint)
 *   data-open="true"  start with the panel open
 *
 * Plain ES2017, no dependencies, no build step. Every piece of message content
 * is rendered with createElement/textContent, never innerHTML, and every URL is
 * parsed and restricted to http(s), tel: or a relative path on the gateway.
 */
(function () {
  'use strict';

  if (window.__hotline12345Widget) return;
  window.__hotline12345Widget = true;

  // ---------------------------------------------------------------- config

  var MAX_CHARS = 2000;
  var MAX_TRANSCRIPT = 100;
  var REPLY_TIMEOUT_MS = 60000;
  var RECONNECT_MIN_MS = 1000;
  var RECONNECT_MAX_MS = 30000;
  var KEY = 'hotline12345.';

  var script = document.currentScript || (function () {
    var all = document.querySelectorAll('script[src*="widget.js"]');
    return all.length ? all[all.length - 1] : null;
  })();

  var scriptSrc = script && script.src ? script.src : location.href;

  function stripSlash(s) {
    return String(s || '').replace(/\/+$/, '');
  }

  var endpoint = stripSlash((script && script.getAttribute('data-endpoint')) ||
    new URL(scriptSrc, location.href).origin);
  var wsEndpoint = stripSlash((script && script.getAttribute('data-ws-endpoint')) ||
    endpoint.replace(/^http(s?):/i, 'ws$1:'));
  var startOpen = !!script && script.getAttribute('data-open') === 'true';

  // --------------------------------------------------------------- storage

  var memoryStore = {};

  function storeGet(area, key) {
    try {
      var v = window[area].getItem(KEY + key);
      return v === null ? null : v;
    } catch (e) {
      return Object.prototype.hasOwnProperty.call(memoryStore, area + key) ? memoryStore[area + key] : null;
    }
  }

  function storeSet(area, key, value) {
    try {
      if (value === null) window[area].removeItem(KEY + key);
      else window[area].setItem(KEY + key, value);
    } catch (e) {
      if (value === null) delete memoryStore[area + key];
      else memoryStore[area + key] = value;
    }
  }

  // The conversation id and its token are issued by the gateway (session frame or /api/chat answer); the
  // token proves the conversation is this browser's. Without both, the next connection starts a new one.
  var SENDER_RE = /^[A-Za-z0-9_.:-]{1,128}$/;
  var TOKEN_RE = /^[A-Za-z0-9_-]{16,128}$/;

  function loadSession() {
    var id = storeGet('localStorage', 'sender');
    var tok = storeGet('localStorage', 'token');
    if (id && tok && SENDER_RE.test(id) && TOKEN_RE.test(tok)) return { sender: id, token: tok };
    return { sender: '', token: '' };
  }

  function adoptSession(id, tok) {
    id = str(id);
    tok = str(tok);
    if (!SENDER_RE.test(id) || !TOKEN_RE.test(tok)) return;
    sender = id;
    token = tok;
    storeSet('localStorage', 'sender', id);
    storeSet('localStorage', 'token', tok);
  }

  function forgetSession() {
    sender = '';
    token = '';
    storeSet('localStorage', 'sender', null);
    storeSet('localStorage', 'token', null);
  }

  function loadTranscript() {
    var raw = storeGet('localStorage', 'transcript');
    if (!raw) return [];
    try {
      var list = JSON.parse(raw);
      return Array.isArray(list) ? list.filter(function (e) { return e && typeof e === 'object'; }) : [];
    } catch (e) {
      return [];
    }
  }

  /** ID and mobile numbers typed by the caller are not kept in the browser (shared terminals). */
  function maskPersonal(text) {
    // the same forms core/privacy.py masks: grouped, dashed, +86, full-width digits
    var sep = '[ \\t\\-·.]?';
    var id = new RegExp('(^|[^0-9])[1-9](?:' + sep + '[0-9]){16}' + sep + '[0-9Xx](?![0-9A-Za-z])', 'g');
    var mobile = new RegExp('(^|[^0-9+])(?:\\+?86' + sep + ')?1[3-9](?:' + sep + '[0-9]){9}(?![0-9])', 'g');
    var digitsOf = function (s) { return s.replace(/[^0-9Xx]/g, ''); };
    return str(text)
      .replace(/[\uff10-\uff19]/g, function (c) { return String.fromCharCode(c.charCodeAt(0) - 0xfee0); })
      .replace(/[\uff38\uff58]/g, 'X')
      .replace(id, function (m, pre) {
        var d = digitsOf(m.slice(pre.length));
        return pre + d.slice(0, 4) + '**********' + d.slice(-4);
      })
      .replace(mobile, function (m, pre) {
        var d = digitsOf(m.slice(pre.length)).slice(-11);
        return pre + d.slice(0, 3) + '****' + d.slice(-4);
      });
  }

  // A print link's token opens the filled form (full ID number, phone): it stays on screen, never in storage.
  var PRINT_TOKEN = /([?&])token=[A-Za-z0-9_\-]{6,}&?/g;

  function scrubbed(value, depth) {
    if (typeof value === 'string') return maskPersonal(value.replace(PRINT_TOKEN, '$1'));
    if (!value || typeof value !== 'object' || depth > 8) return value;
    var copy = Array.isArray(value) ? [] : {};
    Object.keys(value).forEach(function (k) { copy[k] = scrubbed(value[k], depth + 1); });
    return copy;
  }

  function storedEntry(entry) {
    if (entry.role !== 'user') return scrubbed(entry, 0);
    var copy = {};
    Object.keys(entry).forEach(function (k) { copy[k] = entry[k]; });
    copy.text = maskPersonal(entry.text);
    return copy;
  }

  function saveTranscript() {
    if (transcript.length > MAX_TRANSCRIPT) transcript = transcript.slice(-MAX_TRANSCRIPT);
    var keep = transcript.map(storedEntry);
    // On a full storage quota keep the newer half of the history rather than nothing.
    for (var attempt = 0; attempt < 6; attempt++) {
      try {
        window.localStorage.setItem(KEY + 'transcript', JSON.stringify(keep));
        return;
      } catch (e) {
        if (!keep.length) break;
        keep = keep.slice(Math.ceil(keep.length / 2));
      }
    }
    storeSet('localStorage', 'transcript', JSON.stringify(transcript.map(storedEntry))); // in-memory fallback
  }

  var session = loadSession();
  var sender = session.sender;
  var token = session.token;
  var generation = 0; // bumped by restart(): answers to an older conversation are ignored
  var transcript = loadTranscript();

  // ------------------------------------------------------------- utilities

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function str(v) {
    return typeof v === 'string' ? v : (typeof v === 'number' ? String(v) : '');
  }

  function charCount(s) {
    return Array.from(s).length;
  }

  /** Parse a URL and allow only http(s) (relative paths resolve against the gateway) and, optionally, tel:. */
  function safeUrl(raw, allowTel) {
    if (typeof raw !== 'string') return null;
    var s = raw.trim();
    if (!s || /[\u0000-\u001F\u007F]/.test(s)) return null;
    var u;
    try {
      u = new URL(s, endpoint + '/');
    } catch (e) {
      return null;
    }
    if (u.protocol === 'http:' || u.protocol === 'https:') return u.href;
    if (allowTel && u.protocol === 'tel:' && /^tel:\+?[0-9-]{2,20}$/.test(u.href)) return u.href;
    return null;
  }

  function link(href, text) {
    var a = el('a', 'hotline-link', text);
    a.href = href;
    if (!/^tel:/.test(href)) {
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
    }
    return a;
  }

  function telLink(number, className) {
    var n = str(number).replace(/\s+/g, '');
    if (!/^\+?[0-9-]{2,20}$/.test(n)) return null;
    var a = el('a', className || 'hotline-tel', n);
    a.href = 'tel:' + n;
    return a;
  }

  // Absolute http(s) URLs, or relative paths such as /notice/abc that follow whitespace/punctuation.
  var STOP = '\\s<>"\'\u201c\u201d\u2018\u2019\uff08\uff09()\\[\\]{}\uff0c\u3002\uff1b\uff01\uff1f\u3001';
  var URL_RE = new RegExp(
    '(https?:\\/\\/[^' + STOP + ']+)' +
    '|(^|[\\s(\uff08:\uff1a\uff0c,\u3001;\uff1b])(\\/[A-Za-z0-9_][^' + STOP + ']*)', 'g');

  /** Append text to parent, turning URLs into safe links. */
  /** Long URLs (print links carry access tokens) are shown by a short label, not in full. */
  var PRINT_GONE = '（为保护个人信息，打印链接不在本机保存；需要时可凭受理编号到办事窗口打印）';
  function isFormLink(url) {
    return /\/api\/applications\/[^/?#]+\/form(\?|$)/.test(url);
  }

  function linkLabel(url) {
    if (url.length <= 40) return url;
    if (/\/form(\?|$)/.test(url)) return '打开可打印的申请表';
    if (/^\/notice\?/.test(url)) return '打开一次性告知单';
    return url.slice(0, 32) + '…';
  }

  function appendLinkified(parent, text) {
    var last = 0;
    var m;
    URL_RE.lastIndex = 0;
    while ((m = URL_RE.exec(text)) !== null) {
      var start, candidate;
      if (m[1]) {
        start = m.index;
        candidate = m[1];
      } else {
        start = m.index + m[2].length;
        candidate = m[3];
      }
      var trimmed = candidate.replace(/[.,:;!?'"]+$/, '');
      var isRelative = trimmed.charAt(0) === '/';
      var href = null;
      // A bare "/word" is more likely a command than a link: require a second segment or a query.
      if (!isRelative || /^\/[^/?#]+[/?#.]./.test(trimmed)) href = safeUrl(trimmed, false);
      if (href && isFormLink(trimmed) && !/[?&]token=/.test(trimmed)) {
        // a print link read back from storage, its token removed (storedEntry): say where to print instead
        if (start > last) parent.appendChild(document.createTextNode(text.slice(last, start)));
        parent.appendChild(el('span', 'hotline-print-gone', PRINT_GONE));
        last = start + trimmed.length;
      } else if (href) {
        if (start > last) parent.appendChild(document.createTextNode(text.slice(last, start)));
        parent.appendChild(link(href, linkLabel(trimmed)));
        last = start + trimmed.length;
      }
      if (URL_RE.lastIndex === m.index) URL_RE.lastIndex++;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  /** Render multi-line text: paragraphs, line breaks, and "• " / "- " bullet lists. */
  function renderRichText(container, text, linkify) {
    var lines = str(text).replace(/\r\n?/g, '\n').split('\n');
    var para = null;
    var list = null;
    lines.forEach(function (line) {
      var bullet = /^\s*(?:\u2022|-)\s+(.*)$/.exec(line);
      if (bullet) {
        para = null;
        if (!list) {
          list = el('ul', 'hotline-bullets');
          container.appendChild(list);
        }
        var li = el('li');
        if (linkify) appendLinkified(li, bullet[1]);
        else li.textContent = bullet[1];
        list.appendChild(li);
        return;
      }
      list = null;
      if (!line.trim()) {
        para = null;
        return;
      }
      if (!para) {
        para = el('p', 'hotline-text');
        container.appendChild(para);
      } else {
        para.appendChild(el('br'));
      }
      if (!linkify) {
        para.appendChild(document.createTextNode(line));
        return;
      }
      // Bot lines such as "办理地点：..." or "【事项名称】..." get their label in bold.
      var label = /^(【[^】]{1,40}】|[^\s：:]{2,10}：)/.exec(line);
      if (label) {
        para.appendChild(el('strong', 'hotline-label', label[1]));
        line = line.slice(label[1].length);
      }
      appendLinkified(para, line);
    });
  }

  function chinesePart(message) {
    var s = str(message).trim();
    var i = s.indexOf(' / ');
    if (i > 0) s = s.slice(0, i).trim();
    return /[\u4e00-\u9fff]/.test(s) ? s : '';
  }

  var STATUS_TEXT = {
    400: '消息内容无法处理，请修改后重新发送。',
    413: '消息太长了，请控制在' + MAX_CHARS + '字以内后重新发送。',
    422: '消息内容无效（可能为空或过长），请修改后重新发送。',
    429: '您发送得太快了，请稍等片刻再试。'
  };

  var CODE_TEXT = {
    rate_limited: STATUS_TEXT[429],
    too_many_requests: STATUS_TEXT[429],
    too_long: STATUS_TEXT[413],
    message_too_long: STATUS_TEXT[413],
    empty: '消息不能为空，请输入内容后再发送。',
    empty_message: '消息不能为空，请输入内容后再发送。'
  };

  function httpErrorText(status, body) {
    var detail = body && body.detail;
    var msg = '';
    if (typeof detail === 'string') msg = chinesePart(detail);
    else if (detail && typeof detail === 'object') {
      msg = chinesePart(detail.message) || CODE_TEXT[str(detail.code)] || '';
    }
    if (msg) return msg;
    if (STATUS_TEXT[status]) return STATUS_TEXT[status];
    if (status >= 500) return '服务暂时繁忙，请稍后再试。如有紧急情况请直接拨打 12345。';
    return '消息未能发送（错误 ' + status + '），请稍后重试。';
  }

  // ------------------------------------------------------------- DOM shell

  var root = el('div', 'hotline-root');
  root.id = 'hotline-root';
  root.setAttribute('lang', 'zh-CN');
  root.style.display = 'none'; // shown once the stylesheet has loaded

  var cssLink = document.createElement('link');
  cssLink.rel = 'stylesheet';
  cssLink.href = new URL('widget.css', scriptSrc).href;
  function reveal() { root.style.display = ''; }
  cssLink.addEventListener('load', reveal);
  cssLink.addEventListener('error', reveal);
  setTimeout(reveal, 4000);
  (document.head || document.documentElement).appendChild(cssLink);

  var SVG_NS = 'http://www.w3.org/2000/svg';
  function icon(pathD) {
    var svg = document.createElementNS(SVG_NS, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    svg.setAttribute('class', 'hotline-icon');
    var p = document.createElementNS(SVG_NS, 'path');
    p.setAttribute('d', pathD);
    svg.appendChild(p);
    return svg;
  }
  var ICON_CHAT = 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01z';
  var ICON_PRINT = 'M6 2h12v5H6zM4 8h16a2 2 0 0 1 2 2v6h-4v6H6v-6H2v-6a2 2 0 0 1 2-2zm4 8v4h8v-4z';
  var ICON_CLOSE = 'M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4-5.6-5.6L6.4 19 5 17.6 10.6 12 5 6.4z';

  // Launcher
  var launcher = el('button', 'hotline-launcher');
  launcher.id = 'hotline-launcher';
  launcher.type = 'button';
  launcher.setAttribute('aria-haspopup', 'dialog');
  launcher.setAttribute('aria-expanded', 'false');
  launcher.setAttribute('aria-controls', 'hotline-panel');
  launcher.appendChild(icon(ICON_CHAT));
  var launcherLabel = el('span', 'hotline-launcher-text', '12345 在线咨询');
  launcher.appendChild(launcherLabel);
  var unreadDot = el('span', 'hotline-unread');
  unreadDot.hidden = true;
  unreadDot.appendChild(el('span', 'hotline-sr', '（有新消息）'));
  launcher.appendChild(unreadDot);

  // Panel
  var panel = el('section', 'hotline-panel');
  panel.id = 'hotline-panel';
  panel.setAttribute('role', 'dialog');
  panel.setAttribute('aria-modal', 'false');
  panel.setAttribute('aria-labelledby', 'hotline-title');
  panel.setAttribute('aria-describedby', 'hotline-subtitle');
  panel.hidden = true;

  var header = el('div', 'hotline-header');
  var brand = el('div', 'hotline-brand');
  var badge = el('span', 'hotline-logo', '12345');
  badge.setAttribute('aria-hidden', 'true');
  brand.appendChild(badge);
  var titles = el('div', 'hotline-titles');
  var title = el('h2', 'hotline-title', '12345政务服务便民热线');
  title.id = 'hotline-title';
  var subtitle = el('p', 'hotline-subtitle');
  subtitle.id = 'hotline-subtitle';
  var whoAnswers = el('span', 'hotline-who', '蒙速办智能助手');
  whoAnswers.id = 'hotline-who';
  whoAnswers.setAttribute('aria-live', 'polite');
  subtitle.appendChild(whoAnswers);
  subtitle.appendChild(document.createTextNode(' · '));
  var connState = el('span', 'hotline-conn', '未连接');
  connState.id = 'hotline-conn';
  subtitle.appendChild(connState);
  titles.appendChild(title);
  titles.appendChild(subtitle);
  brand.appendChild(titles);
  header.appendChild(brand);

  var actions = el('div', 'hotline-actions');
  var largeBtn = el('button', 'hotline-action', '大字模式');
  largeBtn.id = 'hotline-large-text';
  largeBtn.type = 'button';
  largeBtn.setAttribute('aria-pressed', 'false');
  var restartBtn = el('button', 'hotline-action', '新对话');
  restartBtn.id = 'hotline-restart';
  restartBtn.type = 'button';
  var closeBtn = el('button', 'hotline-action hotline-close');
  closeBtn.id = 'hotline-close';
  closeBtn.type = 'button';
  closeBtn.setAttribute('aria-label', '关闭对话窗口');
  closeBtn.title = '关闭（Esc）';
  closeBtn.appendChild(icon(ICON_CLOSE));
  actions.appendChild(largeBtn);
  actions.appendChild(restartBtn);
  actions.appendChild(closeBtn);
  header.appendChild(actions);

  var log = el('div', 'hotline-log');
  log.id = 'hotline-log';
  log.setAttribute('role', 'log');
  log.setAttribute('aria-live', 'polite');
  log.setAttribute('aria-relevant', 'additions');
  log.setAttribute('aria-label', '对话记录');
  log.tabIndex = 0;

  var typing = el('div', 'hotline-typing');
  typing.id = 'hotline-typing';
  typing.setAttribute('role', 'status');
  typing.setAttribute('aria-live', 'polite');
  var dots = el('span', 'hotline-dots');
  dots.setAttribute('aria-hidden', 'true');
  dots.appendChild(el('i'));
  dots.appendChild(el('i'));
  dots.appendChild(el('i'));
  var typingText = el('span', 'hotline-sr');
  typing.appendChild(dots);
  typing.appendChild(typingText);

  var form = el('form', 'hotline-composer');
  form.id = 'hotline-form';
  form.setAttribute('novalidate', '');
  var inputLabel = el('label', 'hotline-sr', '输入您要咨询的问题');
  inputLabel.htmlFor = 'hotline-input';
  var input = el('textarea', 'hotline-input');
  input.id = 'hotline-input';
  input.rows = 1;
  var DEFAULT_PLACEHOLDER = '请输入您的问题';
  input.placeholder = DEFAULT_PLACEHOLDER;
  input.setAttribute('aria-describedby', 'hotline-keys hotline-counter hotline-hint');
  input.setAttribute('enterkeyhint', 'send');
  input.autocomplete = 'off';
  var sendBtn = el('button', 'hotline-send', '发送');
  sendBtn.id = 'hotline-send';
  sendBtn.type = 'submit';
  var meta = el('div', 'hotline-meta');
  var hint = el('span', 'hotline-hint');
  hint.id = 'hotline-hint';
  hint.setAttribute('aria-live', 'polite');
  var counter = el('span', 'hotline-counter', '0/' + MAX_CHARS);
  counter.id = 'hotline-counter';
  meta.appendChild(hint);
  meta.appendChild(counter);
  var row = el('div', 'hotline-row');
  row.appendChild(input);
  row.appendChild(sendBtn);
  // Voice: a spoken conversation over WS /ws/voice (see "voice" below)
  var micBtn = el('button', 'hotline-mic', '语音');
  micBtn.id = 'hotline-mic';
  micBtn.type = 'button';
  micBtn.setAttribute('aria-pressed', 'false');
  micBtn.setAttribute('aria-label', '语音通话：说话咨询，回答会朗读出来');
  row.insertBefore(micBtn, sendBtn);
  var keysHelp = el('span', 'hotline-sr', '按回车发送，Shift加回车换行，Esc关闭对话窗口。');
  keysHelp.id = 'hotline-keys';
  form.appendChild(inputLabel);
  form.appendChild(keysHelp);
  form.appendChild(row);
  form.appendChild(meta);

  var footnote = el('p', 'hotline-footnote');
  footnote.appendChild(document.createTextNode('紧急情况请直接拨打 '));
  ['110', '119', '120'].forEach(function (n, i) {
    if (i) footnote.appendChild(document.createTextNode(' / '));
    footnote.appendChild(telLink(n, 'hotline-tel-inline'));
  });

  panel.appendChild(header);
  panel.appendChild(log);
  panel.appendChild(typing);
  panel.appendChild(form);
  panel.appendChild(footnote);
  root.appendChild(panel);
  root.appendChild(launcher);

  // ----------------------------------------------------------- rendering

  // Keep the log pinned to the newest message unless the user scrolled up to read.
  var pinned = true;
  function scrollToEnd() {
    log.scrollTop = log.scrollHeight;
    pinned = true;
  }
  log.addEventListener('scroll', function () {
    pinned = log.scrollHeight - log.scrollTop - log.clientHeight < 48;
  });
  if ('ResizeObserver' in window) {
    new window.ResizeObserver(function () {
      if (pinned) log.scrollTop = log.scrollHeight;
    }).observe(log);
  }

  function renderIntro() {
    var intro = el('div', 'hotline-intro');
    intro.appendChild(el('p', 'hotline-intro-title', '您好！我是12345政务服务便民热线智能助手。'));
    intro.appendChild(el('p', null, '可以为您解答办事指南、所需材料，帮您在线填报申请、查询办理进度，或转接人工服务。'));
    intro.appendChild(el('p', null, '请直接输入您的问题，例如“个体工商户怎么办营业执照”。'));
    log.appendChild(intro);
  }

  function removeIntro() {
    var intro = log.querySelector('.hotline-intro');
    if (intro) intro.parentNode.removeChild(intro);
  }

  function normalizeBot(m) {
    m = m && typeof m === 'object' ? m : {};
    var buttons = Array.isArray(m.buttons) ? m.buttons : [];
    return {
      text: str(m.text),
      kind: str(m.kind) || 'text',
      data: m.data && typeof m.data === 'object' && !Array.isArray(m.data) ? m.data : {},
      buttons: buttons.filter(function (b) { return b && typeof b === 'object'; }).map(function (b) {
        var t = str(b.title);
        var p = str(b.payload);
        return { title: t || p, payload: p || t };
      }).filter(function (b) { return b.title && b.payload; })
    };
  }

  function renderButtons(bubble, entry, buttons) {
    if (!buttons.length) return;
    var group = el('div', 'hotline-buttons');
    group.setAttribute('role', 'group');
    group.setAttribute('aria-label', '快捷回复');
    var nodes = buttons.map(function (b) {
      var btn = el('button', 'hotline-quick', b.title);
      btn.type = 'button';
      btn.addEventListener('click', function () {
        if (entry.used) return;
        setGroupUsed(entry, nodes, true, b.title);
        var ok = sendMessage(b.payload, b.title, { buttons: { entry: entry, nodes: nodes } });
        if (!ok) setGroupUsed(entry, nodes, false);
        input.focus();
      });
      return btn;
    });
    nodes.forEach(function (n) { group.appendChild(n); });
    bubble.appendChild(group);
    if (entry.used) setGroupUsed(entry, nodes, true, entry.chosen);
  }

  function setGroupUsed(entry, nodes, used, chosen) {
    entry.used = used;
    if (used) entry.chosen = chosen || entry.chosen || '';
    else delete entry.chosen;
    nodes.forEach(function (n) {
      n.disabled = used;
      n.classList.toggle('hotline-chosen', used && n.textContent === entry.chosen);
    });
    saveTranscript();
  }

  /**
   * The materials card. If the text already listed the materials as a bullet list with the
   * same number of lines, the card replaces that list in place instead of repeating it.
   */
  function renderMaterials(bubble, data) {
    var materials = (Array.isArray(data.materials) ? data.materials : []).filter(function (mat) {
      return mat && typeof mat === 'object' && str(mat.name);
    });
    if (!materials.length) return;
    var box = el('div', 'hotline-card hotline-materials');
    box.appendChild(el('h3', 'hotline-card-title', '所需材料（' + materials.length + '项）'));
    var list = el('ol', 'hotline-material-list');
    materials.forEach(function (mat) {
      var li = el('li', 'hotline-material');
      var head = el('div', 'hotline-material-head');
      head.appendChild(el('span', 'hotline-material-name', str(mat.name)));
      if (mat.deferrable === true) {
        var b = el('span', 'hotline-badge', '容缺');
        b.title = '可容缺受理：暂缺时可先受理，承诺后补交';
        head.appendChild(b);
      }
      li.appendChild(head);
      var formText = str(mat.form);
      var count = typeof mat.count === 'number' && mat.count > 0 ? mat.count : 1;
      var facts = [];
      if (formText) facts.push(formText + ' × ' + count + '份');
      if (str(mat.issuer)) facts.push(str(mat.issuer));
      if (facts.length) li.appendChild(el('div', 'hotline-material-form', facts.join(' · ')));
      if (str(mat.condition)) li.appendChild(el('div', 'hotline-material-cond', '仅限：' + str(mat.condition)));
      if (str(mat.note)) li.appendChild(el('div', 'hotline-material-note', str(mat.note)));
      list.appendChild(li);
    });
    box.appendChild(list);
    var lists = bubble.querySelectorAll('.hotline-bullets');
    var same = Array.prototype.filter.call(lists, function (ul) {
      return ul.children.length === materials.length;
    });
    if (same.length === 1) {
      box.removeChild(box.firstChild); // the text already has a heading for the list
      bubble.replaceChild(box, same[0]);
    } else {
      bubble.appendChild(box);
    }
  }

  function renderGuideFacts(bubble, data, text) {
    if (/办理地点|办理时限|收费标准/.test(text)) return; // the text already says it
    var facts = [];
    var where = Array.isArray(data.where) ? data.where.map(str).filter(Boolean) : [];
    if (where.length) facts.push(['办理地点', where]);
    if (str(data.time_limit)) facts.push(['办理时限', [str(data.time_limit)]]);
    if (str(data.fee)) facts.push(['收费标准', [str(data.fee)]]);
    if (str(data.online)) facts.push(['网上办理', [str(data.online)]]);
    if (!facts.length) return;
    var details = el('details', 'hotline-facts');
    details.appendChild(el('summary', null, '办理地点、时限与收费'));
    var dl = el('dl');
    facts.forEach(function (f) {
      dl.appendChild(el('dt', null, f[0]));
      f[1].forEach(function (v) {
        var dd = el('dd');
        appendLinkified(dd, v);
        dl.appendChild(dd);
      });
    });
    details.appendChild(dl);
    bubble.appendChild(details);
  }

  function renderNotice(bubble, data) {
    var href = safeUrl(str(data.notice_url), false);
    if (!href) return;
    var p = el('p', 'hotline-notice-link');
    var a = link(href, '打印一次性告知单');
    a.className = 'hotline-link hotline-print';
    a.insertBefore(icon(ICON_PRINT), a.firstChild);
    p.appendChild(a);
    bubble.appendChild(p);
  }

  function renderTable(bubble, rows, caption) {
    if (!Array.isArray(rows) || !rows.length) return;
    var wrap = el('div', 'hotline-table-wrap');
    var table = el('table', 'hotline-table');
    if (caption) table.appendChild(el('caption', 'hotline-sr', caption)); // the text already says it
    var tbody = el('tbody');
    rows.forEach(function (r) {
      if (!r || typeof r !== 'object') return;
      var tr = el('tr');
      var th = el('th', null, str(r.label));
      th.scope = 'row';
      tr.appendChild(th);
      tr.appendChild(el('td', null, str(r.value)));
      tbody.appendChild(tr);
    });
    table.appendChild(tbody);
    wrap.appendChild(table);
    bubble.appendChild(wrap);
  }

  function renderEmergency(bubble, data) {
    var numbers = Array.isArray(data.numbers) ? data.numbers : [];
    var card = el('div', 'hotline-emergency-card');
    card.setAttribute('role', 'alert');
    card.appendChild(el('p', 'hotline-emergency-title', '紧急情况，请立即拨打'));
    var list = el('div', 'hotline-emergency-numbers');
    numbers.forEach(function (n) {
      var a = telLink(n, 'hotline-emergency-tel');
      if (a) {
        a.setAttribute('aria-label', '拨打 ' + a.textContent);
        list.appendChild(a);
      }
    });
    if (list.childNodes.length) card.appendChild(list);
    // Right after the screen-reader label, before the text: the numbers come first.
    bubble.insertBefore(card, bubble.children[1] || null);
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).then(function () { return true; }, function () { return fallbackCopy(text); });
    }
    return Promise.resolve(fallbackCopy(text));
  }

  function fallbackCopy(text) {
    var ta = el('textarea');
    ta.value = text;
    ta.setAttribute('readonly', '');
    ta.className = 'hotline-offscreen';
    root.appendChild(ta);
    ta.select();
    var ok = false;
    try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
    root.removeChild(ta);
    return ok;
  }

  function renderSubmitted(bubble, data, title) {
    var number = str(data.number);
    if (!number) return;
    var card = el('div', 'hotline-card hotline-submitted');
    card.appendChild(el('p', 'hotline-card-title', title));
    var numEl = el('p', 'hotline-appno', number);
    card.appendChild(numEl);
    var copy = el('button', 'hotline-copy', '复制编号');
    copy.type = 'button';
    copy.addEventListener('click', function () {
      copyText(number).then(function (ok) {
        copy.textContent = ok ? '已复制' : '复制失败，请手动选择';
        setHint(ok ? title + '已复制。' : '复制失败，请长按或手动选择编号复制。');
        if (ok) {
          setTimeout(function () { copy.textContent = '复制编号'; }, 2500);
        } else {
          var range = document.createRange();
          range.selectNodeContents(numEl);
          var sel = window.getSelection();
          sel.removeAllRanges();
          sel.addRange(range);
        }
      });
    });
    card.appendChild(copy);
    card.appendChild(el('p', 'hotline-card-note', '请妥善保存编号，可随时发送“查询进度 + 编号”查询办理状态。'));
    bubble.appendChild(card);
  }

  function renderLinks(bubble, links) {
    if (!Array.isArray(links) || !links.length) return;
    var ul = el('ul', 'hotline-links');
    links.forEach(function (l) {
      if (!l || typeof l !== 'object') return;
      var titleText = str(l.title) || str(l.url);
      var href = safeUrl(str(l.url), false);
      var li = el('li');
      if (href) li.appendChild(link(href, titleText));
      else li.textContent = titleText;
      ul.appendChild(li);
    });
    bubble.appendChild(ul);
  }

  var FIELD_HINTS = {
    name: { placeholder: '请输入姓名', mode: 'text', autocomplete: 'name' },
    id_number: { placeholder: '请输入18位公民身份号码', mode: 'text', autocomplete: 'off' },
    phone: { placeholder: '请输入11位手机号码', mode: 'tel', autocomplete: 'tel' },
    date: { placeholder: '请输入日期，如 2024-05-01', mode: 'text', autocomplete: 'off' },
    address: { placeholder: '请输入详细地址', mode: 'text', autocomplete: 'street-address' }
  };

  function applyFieldHint(data) {
    var h = FIELD_HINTS[str(data && data.type)];
    var label = str(data && data.label);
    if (!h && !label) return resetFieldHint();
    if (str(data.type) === 'choice') input.placeholder = '请点选上方选项' + (label ? '，或输入' + label : '');
    else input.placeholder = label ? '请输入' + label : h.placeholder;
    input.setAttribute('inputmode', h ? h.mode : 'text');
    input.setAttribute('autocomplete', h ? h.autocomplete : 'off');
  }

  function resetFieldHint() {
    input.placeholder = DEFAULT_PLACEHOLDER;
    input.removeAttribute('inputmode');
    input.setAttribute('autocomplete', 'off');
  }

  function kindClass(kind) {
    return 'hotline-kind-' + (str(kind).toLowerCase().replace(/[^a-z0-9_-]/g, '') || 'text');
  }

  function renderBot(entry) {
    var m = normalizeBot(entry);
    var bubble = el('div', 'hotline-msg bot ' + kindClass(m.kind));
    var data = m.data;
    var fromAgent = m.kind === 'agent_message' || !!str(data.agent) && m.kind !== 'handoff';
    if (fromAgent) {
      bubble.classList.add('hotline-from-agent');
      bubble.appendChild(el('span', 'hotline-sr', '人工客服：'));
      bubble.appendChild(el('p', 'hotline-tag hotline-agent-tag', '人工客服 ' + (str(data.agent) || '')));
    } else {
      bubble.appendChild(el('span', 'hotline-sr', '助手：'));
    }
    if (m.kind === 'handoff') bubble.appendChild(el('p', 'hotline-tag', '人工服务'));
    var text = m.text;
    if (m.kind === 'form_summary' && Array.isArray(data.rows) && data.rows.length) {
      text = text.split('\n').filter(function (line) { return !/^\s*(?:\u2022|-)\s+/.test(line); }).join('\n');
    }
    if (m.kind === 'ticket_summary' && Array.isArray(data.rows) && data.rows.length) {
      var lines = text.split('\n');  // the rows are shown as a table: keep the first and last line
      text = lines.length > 2 ? lines[0] + '\n' + lines[lines.length - 1] : text;
    }
    if (text) renderRichText(bubble, text, true);
    if (m.kind === 'emergency') renderEmergency(bubble, data);
    if (m.kind === 'guide_answer') {
      renderMaterials(bubble, data);
      renderGuideFacts(bubble, data, m.text);
      renderNotice(bubble, data);
    }
    if (m.kind === 'form_summary' || Array.isArray(data.rows)) {
      renderTable(bubble, data.rows, m.kind === 'form_summary' ? '请核对填报信息' :
        (m.kind === 'ticket_summary' ? '请核对诉求信息' : ''));
    }
    if (m.kind === 'application_submitted') renderSubmitted(bubble, data, '申请编号');
    if (m.kind === 'ticket_created') renderSubmitted(bubble, data, '工单编号');
    renderLinks(bubble, data.links);
    var buttons = m.buttons;
    if (!buttons.length && m.kind === 'form_question' && Array.isArray(data.options)) {
      buttons = data.options.map(function (o) {
        if (typeof o === 'string') return { title: o, payload: o };
        if (o && typeof o === 'object') {
          var label = str(o.label) || str(o.value);
          return { title: label, payload: str(o.value) || label };
        }
        return null;
      }).filter(function (b) { return b && b.title; });
    }
    if (m.kind === 'handoff' && data.offer_callback && str(data.callback_payload)) {
      renderCallbackForm(bubble, entry, data);
    }
    if (m.kind === 'rating_request' && Array.isArray(data.levels) && data.levels.length) {
      renderRating(bubble, entry, data);
    } else if (m.kind === 'clarify' && data.multi && Array.isArray(data.options) && data.options.length) {
      renderMultiChoice(bubble, entry, data);
    } else {
      renderButtons(bubble, entry, buttons);
    }
    return bubble;
  }

  /**
   * Leave a number for a call-back (no agent on duty, or a long wait): phone and a short description,
   * sent as data.callback_payload + {"phone", "description"}. The gateway validates the number.
   */
  function renderCallbackForm(bubble, entry, data) {
    var box = el('form', 'hotline-callback');
    box.setAttribute('aria-label', '留下电话，工作人员回电');
    var phoneId = 'hotline-cb-phone-' + Math.random().toString(36).slice(2, 8);
    var phoneLabel = el('label', 'hotline-cb-label', '手机号码');
    phoneLabel.htmlFor = phoneId;
    var phone = el('input', 'hotline-cb-input');
    phone.id = phoneId;
    phone.type = 'tel';
    phone.inputMode = 'tel';
    phone.autocomplete = 'tel';
    phone.maxLength = 20;
    var descId = phoneId + '-d';
    var descLabel = el('label', 'hotline-cb-label', '要办的事（选填）');
    descLabel.htmlFor = descId;
    var desc = el('input', 'hotline-cb-input');
    desc.id = descId;
    desc.maxLength = 100;
    var submit = el('button', 'hotline-quick hotline-confirm', '请工作人员回电');
    submit.type = 'submit';
    [phoneLabel, phone, descLabel, desc, submit].forEach(function (n) { box.appendChild(n); });
    var disable = function () {
      [phone, desc, submit].forEach(function (n) { n.disabled = true; });
    };
    if (entry.used) disable();   // answered, cancelled, or shown again after a reload
    box.addEventListener('submit', function (e) {
      e.preventDefault();
      if (entry.used) { disable(); return; }
      var number = phone.value.replace(/\s+/g, '');
      if (!number) { phone.focus(); return; }
      var payload = str(data.callback_payload) + JSON.stringify({ phone: number, description: desc.value.trim() });
      if (sendMessage(payload, '请回电：' + maskPersonal(number))) {
        entry.used = true;
        saveTranscript();
        disable();
      }
    });
    bubble.appendChild(box);
  }

  /**
   * A multiple choice (e.g. which covered items of a 一件事): toggle buttons and a confirm button.
   * The confirm sends data.payload_template with {values} replaced by the chosen values joined by
   * data.separator, so nobody has to type exact item names.
   */
  function renderMultiChoice(bubble, entry, data) {
    var options = data.options.map(function (o) {
      if (typeof o === 'string') return { value: o, label: o };
      return o && typeof o === 'object' ? { value: str(o.value), label: str(o.label) || str(o.value) } : null;
    }).filter(function (o) { return o && o.value; });
    var picked = {};
    var group = el('div', 'hotline-buttons hotline-multi');
    group.setAttribute('role', 'group');
    group.setAttribute('aria-label', '可多选，选好后点“确定”');
    var toggles = options.map(function (o) {
      var btn = el('button', 'hotline-quick hotline-toggle', o.label);
      btn.type = 'button';
      btn.setAttribute('aria-pressed', 'false');
      btn.addEventListener('click', function () {
        if (entry.used) return;
        picked[o.value] = !picked[o.value];
        btn.setAttribute('aria-pressed', picked[o.value] ? 'true' : 'false');
        btn.classList.toggle('hotline-chosen', !!picked[o.value]);
        confirm.disabled = !options.some(function (x) { return picked[x.value]; });
      });
      return btn;
    });
    var confirm = el('button', 'hotline-quick hotline-confirm', '确定');
    confirm.type = 'button';
    confirm.disabled = true;
    var nodes = toggles.concat([confirm]);
    confirm.addEventListener('click', function () {
      if (entry.used) return;
      var chosen = options.filter(function (x) { return picked[x.value]; });
      if (!chosen.length) return;
      var values = chosen.map(function (x) { return x.value; }).join(str(data.separator) || '|');
      var template = str(data.payload_template) || '{values}';
      var title = '只办：' + chosen.map(function (x) { return x.label; }).join('、');
      setGroupUsed(entry, nodes, true, title);
      var ok = sendMessage(template.replace('{values}', values), title, { buttons: { entry: entry, nodes: nodes } });
      if (!ok) setGroupUsed(entry, nodes, false);
      input.focus();
    });
    nodes.forEach(function (n) { group.appendChild(n); });
    bubble.appendChild(group);
    if (entry.used) setGroupUsed(entry, nodes, true, entry.chosen);
  }

  /**
   * 好差评: five level buttons; after one is picked, optional reason tags and a comment, then 提交评价 posts
   * to POST /api/ratings (data.post) with this conversation's sender and token. Never required: the caller
   * may simply go on. A rating already given (409) or given once here disables the card for good.
   */
  function renderRating(bubble, entry, data) {
    var box = el('div', 'hotline-rating');
    box.setAttribute('role', 'group');
    box.setAttribute('aria-label', '服务评价（自愿）');
    if (entry.used) {
      box.appendChild(el('p', 'hotline-rating-done', '已评价：' + (str(entry.chosen) || '感谢您的反馈')));
      bubble.appendChild(box);
      return;
    }
    var levels = data.levels.map(function (o) {
      return o && typeof o === 'object' ? { level: Number(o.level), label: str(o.label) } : null;
    }).filter(function (o) { return o && o.level >= 1 && o.level <= 5 && o.label; });
    var picked = null;
    var tags = {};
    var row = el('div', 'hotline-buttons hotline-rating-levels');
    var levelNodes = levels.map(function (o) {
      var btn = el('button', 'hotline-quick hotline-rate', o.label);
      btn.type = 'button';
      btn.setAttribute('aria-pressed', 'false');
      btn.setAttribute('data-level', String(o.level));
      btn.addEventListener('click', function () {
        if (entry.used) return;
        picked = o;
        levelNodes.forEach(function (n) {
          var on = n === btn;
          n.setAttribute('aria-pressed', on ? 'true' : 'false');
          n.classList.toggle('hotline-chosen', on);
        });
        details.hidden = false;
        submit.disabled = false;
      });
      row.appendChild(btn);
      return btn;
    });
    box.appendChild(row);
    var details = el('div', 'hotline-rating-details');
    details.hidden = true;
    var tagList = (Array.isArray(data.tags) ? data.tags : []).map(str).filter(Boolean);
    var tagNodes = [];
    if (tagList.length) {
      details.appendChild(el('p', 'hotline-rating-label', '原因（可多选，选填）'));
      var tagRow = el('div', 'hotline-buttons hotline-rating-tags');
      tagNodes = tagList.map(function (t) {
        var tb = el('button', 'hotline-quick hotline-toggle', t);
        tb.type = 'button';
        tb.setAttribute('aria-pressed', 'false');
        tb.addEventListener('click', function () {
          if (entry.used) return;
          tags[t] = !tags[t];
          tb.setAttribute('aria-pressed', tags[t] ? 'true' : 'false');
          tb.classList.toggle('hotline-chosen', !!tags[t]);
        });
        tagRow.appendChild(tb);
        return tb;
      });
      details.appendChild(tagRow);
    }
    var commentId = 'hotline-rating-c-' + Math.random().toString(36).slice(2, 8);
    var commentLabel = el('label', 'hotline-rating-label', '意见建议（选填）');
    commentLabel.htmlFor = commentId;
    var comment = el('textarea', 'hotline-rating-comment');
    comment.id = commentId;
    comment.rows = 2;
    comment.maxLength = Number(data.comment_max) > 0 ? Number(data.comment_max) : 300;
    details.appendChild(commentLabel);
    details.appendChild(comment);
    var submit = el('button', 'hotline-quick hotline-confirm hotline-rating-submit', '提交评价');
    submit.type = 'button';
    submit.disabled = true;
    details.appendChild(submit);
    box.appendChild(details);
    var all = levelNodes.concat(tagNodes, [comment, submit]);
    function finish(text) {
      entry.used = true;
      entry.chosen = text;
      saveTranscript();
      all.forEach(function (n) { n.disabled = true; });
      details.hidden = true;
    }
    submit.addEventListener('click', function () {
      if (entry.used || !picked || submit.disabled) return;
      if (!sender || !token) { setHint('请先发送一条消息后再评价。'); return; }
      var body = { sender: sender, token: token, level: picked.level,
        tags: tagList.filter(function (t) { return tags[t]; }), comment: comment.value.trim() };
      if (str(data.number)) body.number = str(data.number);
      submit.disabled = true;
      var status = 0;
      fetch(endpoint + '/api/ratings', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        credentials: 'omit',
        body: JSON.stringify(body)
      }).then(function (res) {
        status = res.status;
        return res.json().then(function (b) { return b; }, function () { return null; });
      }).then(function (res) {
        if (status === 201) {
          finish(picked.label);
          if (res && res.message) addBot(res.message);
        } else if (status === 409) {
          finish(picked.label);
          systemNotice('您已经评价过了，感谢您的反馈。');
        } else {
          submit.disabled = false;
          systemNotice(httpErrorText(status, res), 'error');
        }
      }, function () {
        submit.disabled = false;
        systemNotice('评价未能提交，请检查网络后重试。', 'error');
      });
    });
    bubble.appendChild(box);
  }

  function renderUser(entry) {
    var bubble = el('div', 'hotline-msg user');
    bubble.appendChild(el('span', 'hotline-sr', '我：'));
    renderRichText(bubble, entry.text, false);
    if (entry.failed) markFailed(bubble, entry);
    return bubble;
  }

  function markFailed(bubble, entry) {
    entry.failed = true;
    bubble.classList.add('hotline-failed');
    if (!bubble.querySelector('.hotline-failed-note')) {
      bubble.appendChild(el('span', 'hotline-failed-note', '未送达'));
    }
  }

  function renderEntry(entry) {
    if (entry.role === 'user') return renderUser(entry);
    if (entry.role === 'bot') return renderBot(entry);
    return null;
  }

  function addEntry(entry) {
    removeIntro();
    transcript.push(entry);
    saveTranscript();
    var node = renderEntry(entry);
    if (node) {
      log.appendChild(node);
      scrollToEnd();
    }
    return node;
  }

  // Who answers now: the assistant, or a named agent (from the latest handoff state in the transcript).
  var agentName = null;
  function setAgent(name) {
    agentName = name || null;
    whoAnswers.textContent = agentName ? '人工客服 ' + agentName + ' 正在为您服务' : '蒙速办智能助手';
    root.classList.toggle('hotline-agent-mode', !!agentName);
  }
  function trackAgent(m) {
    if (m.kind !== 'handoff') return;
    var state = str(m.data.state);
    if (state === 'connected') setAgent(str(m.data.agent) || '人工客服');
    else if (state === 'returned' || state === 'closed') setAgent(null);
  }

  // An agent-side message shown live is sent again after a reconnect or with the next reply: shown once.
  function shownBefore(m) {
    var id = m.data && m.data.message_id;
    if (typeof id !== 'number') return false;
    return transcript.some(function (e) {
      return e.role === 'bot' && e.data && e.data.message_id === id;
    });
  }

  function addBot(message) {
    var m = normalizeBot(message);
    if (shownBefore(m)) return;
    trackAgent(m);
    var entry = { role: 'bot', text: m.text, kind: m.kind, data: m.data, buttons: m.buttons };
    addEntry(entry);
    if (m.kind === 'form_question') applyFieldHint(m.data);
    else resetFieldHint();
    if (panel.hidden) {
      unreadDot.hidden = false;
      launcher.setAttribute('aria-label', '12345 在线咨询（有新消息）');
    }
  }

  function systemNotice(text, tone) {
    removeIntro();
    var note = el('div', 'hotline-msg system' + (tone ? ' hotline-' + tone : ''));
    note.appendChild(el('span', 'hotline-sr', '系统提示：'));
    note.appendChild(document.createTextNode(text));
    log.appendChild(note);
    scrollToEnd();
  }

  function renderAll() {
    while (log.firstChild) log.removeChild(log.firstChild);
    if (!transcript.length) {
      renderIntro();
      return;
    }
    setAgent(null);
    transcript.forEach(function (entry) {
      if (entry.role === 'bot') trackAgent(normalizeBot(entry));
      var node = renderEntry(entry);
      if (node) log.appendChild(node);
    });
    var lastBot = null;
    for (var i = transcript.length - 1; i >= 0; i--) {
      if (transcript[i].role === 'bot') { lastBot = transcript[i]; break; }
    }
    if (lastBot && lastBot.kind === 'form_question') applyFieldHint(lastBot.data);
    scrollToEnd();
  }

  // ------------------------------------------------------ typing & status

  var inflight = 0;
  var serverTyping = false;
  var agentTyping = false;

  function updateTyping() {
    var on = inflight > 0 || serverTyping || agentTyping;
    typing.classList.toggle('hotline-typing-on', on);
    var text = agentTyping ? '人工客服正在输入…' : (on ? '正在输入…' : '');
    if (typingText.textContent !== text) typingText.textContent = text;
    if (on) scrollToEnd();
  }

  var hintTimer = null;
  function setHint(text, sticky) {
    clearTimeout(hintTimer);
    hint.textContent = text || '';
    if (text && !sticky) hintTimer = setTimeout(function () { hint.textContent = ''; }, 6000);
  }

  var httpOk = false; // the last HTTP fallback request succeeded
  function setConn(state) {
    if (httpOk && (state === 'retry' || state === 'connecting')) state = 'http';
    var labels = { open: '在线', http: '在线', connecting: '连接中…', retry: '连接中断，正在重连', off: '未连接' };
    connState.textContent = labels[state] || '';
    connState.className = 'hotline-conn hotline-conn-' + state;
  }

  // ------------------------------------------------------------ transport

  var ws = null;
  var wsOpen = false;
  var retries = 0;
  var retryTimer = null;
  var wantSocket = false;
  var pendingWs = []; // messages sent over the socket awaiting "typing off"

  function connect() {
    wantSocket = true;
    clearTimeout(retryTimer);
    retryTimer = null;
    if (ws || !('WebSocket' in window)) return;
    var sock;
    try {
      sock = new WebSocket(wsEndpoint + '/ws/chat' + (sender && token ?
        '?sender=' + encodeURIComponent(sender) + '&token=' + encodeURIComponent(token) : ''));
    } catch (e) {
      scheduleReconnect();
      return;
    }
    ws = sock;
    setConn(retries ? 'retry' : 'connecting');
    sock.onopen = function () {
      if (sock !== ws) return;
      wsOpen = true;
      retries = 0;
      setConn('open');
    };
    sock.onmessage = function (ev) {
      if (sock !== ws) return;
      handleFrame(ev.data);
    };
    sock.onclose = function () {
      if (sock !== ws) return;
      ws = null;
      wsOpen = false;
      socketLost();
      scheduleReconnect();
    };
    sock.onerror = function () { /* a close event follows */ };
  }

  function scheduleReconnect() {
    if (!wantSocket || retryTimer) return;
    var base = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * Math.pow(2, retries));
    retries++;
    var delay = base / 2 + Math.random() * base / 2;
    setConn('retry');
    retryTimer = setTimeout(function () {
      retryTimer = null;
      connect();
    }, delay);
  }

  function disconnect() {
    wantSocket = false;
    clearTimeout(retryTimer);
    retryTimer = null;
    if (ws) {
      var old = ws;
      ws = null;
      wsOpen = false;
      try { old.close(1000, 'restart'); } catch (e) { /* ignore */ }
    }
    lastResolved = null;
    failPending(null);
  }

  function socketLost() {
    if (!pendingWs.length) return;
    var gotReply = pendingWs.some(function (p) { return p.replied; });
    failPending(gotReply ? null : '连接中断，最后一条消息可能未送达，请重新发送。');
  }

  function failPending(message) {
    var list = pendingWs;
    pendingWs = [];
    list.forEach(function (p) {
      clearTimeout(p.timer);
      inflight = Math.max(0, inflight - 1);
      if (message && !p.replied) sendFailed(p);
    });
    serverTyping = false;
    updateTyping();
    if (message && list.length) systemNotice(message, 'warn');
  }

  // The last message whose "typing off" arrived: its bot messages or its error frame may
  // still follow, depending on the order in which the gateway sends them.
  var lastResolved = null;

  function resolvePending() {
    var p = pendingWs.shift();
    if (p) {
      clearTimeout(p.timer);
      inflight = Math.max(0, inflight - 1);
      lastResolved = p;
    }
    return p;
  }

  function handleFrame(raw) {
    var frame;
    try { frame = JSON.parse(raw); } catch (e) { return; }
    if (!frame || typeof frame !== 'object') return;
    if (frame.type === 'session') {
      // The gateway names the conversation (a new one when it had none) and its token; keep both.
      adoptSession(frame.sender, frame.token);
    } else if (frame.type === 'typing' && frame.who === 'agent') {
      agentTyping = frame.on === true;
      updateTyping();
    } else if (frame.type === 'typing') {
      serverTyping = frame.on === true;
      if (!serverTyping) resolvePending();
      updateTyping();
    } else if (frame.type === 'bot') {
      if (frame.message && frame.message.kind === 'agent_message') agentTyping = false;
      var replied = pendingWs.length ? pendingWs[0] : lastResolved;
      if (replied) {
        replied.replied = true;
        answered(replied);
      }
      addBot(frame.message);
    } else if (frame.type === 'error' && frame.code === 'sender_forbidden') {
      // The stored conversation cannot be resumed (e.g. the gateway's secret changed): the socket closes
      // and the reconnect starts a new conversation.
      forgetSession();
      systemNotice('之前的对话已无法继续，已为您开始新的对话。', 'warn');
    } else if (frame.type === 'error') {
      var p = pendingWs.length && !serverTyping ? resolvePending() : null;
      if (!p && lastResolved && !lastResolved.replied) p = lastResolved;
      lastResolved = null;
      serverTyping = false;
      updateTyping();
      var text = chinesePart(frame.message) || CODE_TEXT[str(frame.code)] || '消息未能处理，请稍后重试。';
      systemNotice(text, 'error');
      if (p) sendFailed(p);
    }
  }

  // The message whose reply did not arrive. Sent again with the same text, it keeps its id (the gateway's
  // message_id), so if the first one did get through the assistant answers it once, not twice.
  var unanswered = null;

  function messageId(text) {
    if (unanswered && unanswered.text === text) return unanswered.id;
    var bytes = new Uint8Array(12);
    var c = window.crypto || window.msCrypto;
    if (c && c.getRandomValues) c.getRandomValues(bytes);
    else for (var i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
    return Array.prototype.map.call(bytes, function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
  }

  function answered(p) {
    if (unanswered && unanswered.id === p.id) unanswered = null;
  }

  function notAnswered(p) {
    unanswered = { text: p.text, id: p.id };
  }

  /** Mark a message as not delivered and give its text back to the user. */
  function sendFailed(p) {
    notAnswered(p);
    if (p.node) markFailed(p.node, p.entry);
    saveTranscript();
    if (p.opts && p.opts.buttons) {
      setGroupUsed(p.opts.buttons.entry, p.opts.buttons.nodes, false);
    } else if (p.fromInput && !input.value.trim()) {
      input.value = p.text;
      updateCounter();
      autoGrow();
      setHint('您输入的内容已保留在输入框中，可修改后重新发送。');
    }
  }

  function postMessage(p) {
    inflight++;
    updateTyping();
    var status = 0;
    fetch(endpoint + '/api/chat', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      credentials: 'omit',
      body: JSON.stringify(p.sender && p.token ? { sender: p.sender, token: p.token, message: p.text, message_id: p.id }
        : { message: p.text, message_id: p.id })
    }).then(function (res) {
      status = res.status;
      return res.json().then(function (body) { return body; }, function () { return null; });
    }).then(function (body) {
      inflight = Math.max(0, inflight - 1);
      updateTyping();
      if (p.gen !== generation || p.sender !== sender) return; // conversation was restarted meanwhile
      if (status === 403 && body && body.detail && body.detail.code === 'sender_forbidden') forgetSession();
      else if (body && !p.sender) adoptSession(body.sender, body.token); // a new conversation was issued
      if (!wsOpen && status > 0 && (status < 500) !== httpOk) {
        httpOk = status < 500;
        setConn('retry');
      }
      if (status >= 200 && status < 300) {
        answered(p);
        var msgs = body && Array.isArray(body.messages) ? body.messages : [];
        msgs.forEach(addBot);
      } else {
        systemNotice(httpErrorText(status, body), 'error');
        sendFailed(p);
      }
    }).catch(function () {
      inflight = Math.max(0, inflight - 1);
      updateTyping();
      if (!wsOpen && httpOk) {
        httpOk = false;
        setConn('retry');
      }
      if (p.gen !== generation || p.sender !== sender) return;
      systemNotice('网络连接异常，消息未能发送，请检查网络后重试。', 'error');
      sendFailed(p);
    });
  }

  /**
   * Send text to the bot. `display` is what the user bubble shows (a button's title).
   * Returns false when nothing was sent.
   */
  function sendMessage(text, display, opts) {
    opts = opts || {};
    var clean = str(text).trim();
    if (!clean) {
      setHint('请输入内容后再发送。');
      return false;
    }
    if (charCount(clean) > MAX_CHARS) {
      setHint('内容超过' + MAX_CHARS + '字，请精简后再发送。', true);
      return false;
    }
    var entry = { role: 'user', text: str(display).trim() || clean };
    var node = addEntry(entry);
    var p = { text: clean, entry: entry, node: node, opts: opts, fromInput: !!opts.fromInput, sender: sender,
      token: token, gen: generation, id: messageId(clean) };
    if (wsOpen && ws) {
      try {
        ws.send(JSON.stringify({ type: 'message', text: clean, message_id: p.id,
          large_text: root.classList.contains('hotline-large') }));
        inflight++;
        p.timer = setTimeout(function () {
          var i = pendingWs.indexOf(p);
          if (i < 0) return;
          pendingWs.splice(i, 1);
          inflight = Math.max(0, inflight - 1);
          serverTyping = false;
          updateTyping();
          lastResolved = p; // a reply that still comes late is this message's
          if (!p.replied) {
            notAnswered(p);
            systemNotice('回复超时，请稍后再试。', 'warn');
          }
        }, REPLY_TIMEOUT_MS);
        pendingWs.push(p);
        updateTyping();
        return true;
      } catch (e) {
        /* fall through to HTTP */
      }
    }
    postMessage(p);
    if (wantSocket && !ws && !retryTimer) connect();
    return true;
  }

  // --------------------------------------------------------------- input

  function updateCounter() {
    var n = charCount(input.value);
    counter.textContent = n + '/' + MAX_CHARS;
    var over = n > MAX_CHARS;
    counter.classList.toggle('hotline-over', over);
    input.setAttribute('aria-invalid', over ? 'true' : 'false');
    if (over) setHint('已超出' + MAX_CHARS + '字上限（当前' + n + '字），请精简后再发送。', true);
    else if (/超出|超过/.test(hint.textContent)) setHint('');
  }

  function autoGrow() {
    if (panel.hidden || root.style.display === 'none') return;
    var before = input.style.height;
    input.style.height = 'auto';
    // border-box sizing: scrollHeight excludes the borders, so add them back.
    var h = input.scrollHeight + (input.offsetHeight - input.clientHeight);
    var max = parseFloat(window.getComputedStyle(input).maxHeight) || 240;
    input.style.height = Math.min(h, max) + 'px';
    input.style.overflowY = h > max ? 'auto' : 'hidden';
    if (input.style.height !== before) scrollToEnd();
  }

  // While an agent answers, tell them the caller is typing (on at the first key, off after 3 s quiet).
  var typingSent = false;
  var typingTimer = null;
  function sendTyping(on) {
    if (!ws || !wsOpen || typingSent === on) return;
    typingSent = on;
    try { ws.send(JSON.stringify({ type: 'typing', on: on })); } catch (e) { /* ignore */ }
  }
  input.addEventListener('input', function () {
    if (agentName) {
      sendTyping(!!input.value.trim());
      clearTimeout(typingTimer);
      typingTimer = setTimeout(function () { sendTyping(false); }, 3000);
    }
  });
  input.addEventListener('input', function () {
    updateCounter();
    autoGrow();
  });

  input.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      submitInput();
    }
  });

  form.addEventListener('submit', function (e) {
    e.preventDefault();
    submitInput();
  });

  function submitInput() {
    var text = input.value;
    if (sendMessage(text, text, { fromInput: true })) {
      input.value = '';
      updateCounter();
      autoGrow();
    }
    input.focus();
  }

  // ------------------------------------------------------- open / close

  function openPanel(focusInput) {
    panel.hidden = false;
    root.classList.add('hotline-open');
    launcher.setAttribute('aria-expanded', 'true');
    unreadDot.hidden = true;
    launcher.removeAttribute('aria-label');
    storeSet('sessionStorage', 'open', '1');
    connect();
    autoGrow();
    scrollToEnd();
    if (focusInput !== false) input.focus();
  }

  function closePanel() {
    panel.hidden = true;
    root.classList.remove('hotline-open');
    launcher.setAttribute('aria-expanded', 'false');
    storeSet('sessionStorage', 'open', null);
    launcher.focus();
  }

  launcher.addEventListener('click', function () {
    if (panel.hidden) openPanel();
    else closePanel();
  });
  closeBtn.addEventListener('click', closePanel);
  panel.addEventListener('keydown', function (e) {
    if ((e.key === 'Escape' || e.key === 'Esc') && !e.isComposing) {
      e.preventDefault();
      closePanel();
    }
  });

  // ---------------------------------------------------------- large text

  function setLarge(on) {
    root.classList.toggle('hotline-large', on);
    largeBtn.setAttribute('aria-pressed', on ? 'true' : 'false');
    storeSet('localStorage', 'largeText', on ? '1' : null);
    autoGrow();
    scrollToEnd();
  }
  largeBtn.addEventListener('click', function () {
    setLarge(!root.classList.contains('hotline-large'));
  });

  // ------------------------------------------------------------- restart

  var confirmTimer = null;
  function resetRestartButton() {
    clearTimeout(confirmTimer);
    confirmTimer = null;
    restartBtn.textContent = '新对话';
    restartBtn.classList.remove('hotline-confirm');
  }

  restartBtn.addEventListener('click', function () {
    if (transcript.length && !confirmTimer) {
      restartBtn.textContent = '确认清空';
      restartBtn.classList.add('hotline-confirm');
      setHint('再次点击“确认清空”将清除当前对话记录并开始新对话。');
      confirmTimer = setTimeout(resetRestartButton, 5000);
      return;
    }
    resetRestartButton();
    restart();
  });

  function restart() {
    disconnect();
    transcript = [];
    storeSet('localStorage', 'transcript', null);
    generation++;
    unanswered = null;
    forgetSession(); // the next connection or message starts a new conversation
    inflight = 0;
    serverTyping = false;
    updateTyping();
    resetFieldHint();
    renderAll();
    setHint('已开始新对话。');
    retries = 0;
    connect();
    input.focus();
  }

  // ----------------------------------------------------------------- boot

  window.addEventListener('online', function () {
    if (wantSocket && !ws) {
      retries = 0;
      connect();
    }
  });

  // ---------------------------------------------------------------- voice
  // The microphone button talks to WS /ws/voice (docs/API.md "Voice line"): microphone audio goes up as
  // 16 kHz 16-bit PCM in 20 ms frames, the assistant's speech comes back and is played, and what was
  // heard and answered appears in the chat. A `clear` frame (the caller talks over it) stops playback.
  var VOICE_RATE = 16000;
  var VOICE_FRAME = 320;
  var voice = null;

  function voiceSupported() {
    return !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia && 'WebSocket' in window &&
      (window.AudioContext || window.webkitAudioContext));
  }

  function setMic(on) {
    micBtn.setAttribute('aria-pressed', on ? 'true' : 'false');
    micBtn.textContent = on ? '挂断' : '语音';
    micBtn.classList.toggle('hotline-mic-on', on);
  }

  function stopPlayback(v) {
    v.sources.forEach(function (src) { try { src.stop(); } catch (e) { /* already ended */ } });
    v.sources = [];
    v.playAt = 0;
  }

  function playPcm(v, data) {
    var pcm = new Int16Array(data);
    if (!pcm.length || !v.ctx) return;
    var buffer = v.ctx.createBuffer(1, pcm.length, VOICE_RATE);
    var channel = buffer.getChannelData(0);
    for (var i = 0; i < pcm.length; i++) channel[i] = pcm[i] / 32768;
    var src = v.ctx.createBufferSource();
    src.buffer = buffer;
    src.connect(v.ctx.destination);
    var now = v.ctx.currentTime;
    if (v.playAt < now + 0.05) v.playAt = now + 0.05;
    src.start(v.playAt);
    v.playAt += buffer.duration;
    v.sources.push(src);
    src.onended = function () {
      var k = v.sources.indexOf(src);
      if (k >= 0) v.sources.splice(k, 1);
    };
  }

  function voiceFrame(v, ev) {
    if (typeof ev.data !== 'string') { playPcm(v, ev.data); return; }
    var f;
    try { f = JSON.parse(ev.data); } catch (e) { return; }
    if (f.type === 'transcript' && f.text) addEntry({ role: 'user', text: str(f.text) });
    else if (f.type === 'bot' && f.message) addBot(f.message);
    else if (f.type === 'clear') stopPlayback(v);
    else if (f.type === 'transfer') {
      systemNotice('语音转人工：请直接拨打12345与人工客服通话，或在文字对话中输入“转人工”。');
      stopVoice();
    } else if (f.type === 'hangup') stopVoice();
    else if (f.type === 'error') { setHint(str(f.message) || '语音服务暂不可用', true); stopVoice(); }
  }

  function captureTo(v, ws) {
    var source = v.ctx.createMediaStreamSource(v.stream);
    // ScriptProcessor works everywhere without a separate worklet file; 4096 samples ~ 85 ms at 48 kHz
    var node = v.ctx.createScriptProcessor(4096, 1, 1);
    var ratio = v.ctx.sampleRate / VOICE_RATE;
    var pending = [];
    var pos = 0;
    node.onaudioprocess = function (e) {
      var input = e.inputBuffer.getChannelData(0);
      for (; pos < input.length; pos += ratio) {   // average each 1/16000 s window: decimation with a box filter
        var a = Math.floor(pos);
        var b = Math.max(a + 1, Math.min(input.length, Math.floor(pos + ratio)));
        var sum = 0;
        for (var k = a; k < b; k++) sum += input[k];
        pending.push(sum / (b - a));
      }
      pos -= input.length;
      while (pending.length >= VOICE_FRAME) {
        var frame = new Int16Array(VOICE_FRAME);
        for (var j = 0; j < VOICE_FRAME; j++) frame[j] = Math.max(-1, Math.min(1, pending[j])) * 32767;
        pending = pending.slice(VOICE_FRAME);
        if (ws.readyState === 1 && v.ready) ws.send(frame.buffer);
      }
      var out = e.outputBuffer.getChannelData(0);
      for (var z = 0; z < out.length; z++) out[z] = 0;
    };
    source.connect(node);
    node.connect(v.ctx.destination);
    v.node = node;
    v.source = source;
  }

  function startVoice() {
    if (voice) return;
    if (!voiceSupported()) { setHint('当前浏览器不支持语音通话，请使用文字咨询', true); return; }
    var Ctx = window.AudioContext || window.webkitAudioContext;
    var v = { ctx: new Ctx(), ws: null, stream: null, node: null, source: null, sources: [], playAt: 0, ready: false };
    voice = v;
    setMic(true);
    setHint('语音通话中，请直接说话；再按一次“挂断”结束', true);
    navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true,
      autoGainControl: true, channelCount: 1 } }).then(function (stream) {
      if (voice !== v) { stream.getTracks().forEach(function (t) { t.stop(); }); return; }
      v.stream = stream;
      var ws = new WebSocket(wsEndpoint + '/ws/voice');
      ws.binaryType = 'arraybuffer';
      v.ws = ws;
      ws.onopen = function () {
        ws.send(JSON.stringify({ sample_rate: VOICE_RATE, channel: 'widget' }));
        v.ready = true;
      };
      ws.onmessage = function (ev) { voiceFrame(v, ev); };
      ws.onclose = function () { if (voice === v) stopVoice(); };
      captureTo(v, ws);
    }, function () {
      setHint('无法使用麦克风，请检查浏览器的麦克风权限', true);
      stopVoice();
    });
  }

  function stopVoice() {
    var v = voice;
    if (!v) return;
    voice = null;
    setMic(false);
    setHint('');
    if (v.ws && v.ws.readyState <= 1) {
      try { if (v.ws.readyState === 1) v.ws.send(JSON.stringify({ type: 'hangup' })); v.ws.close(); } catch (e) { /* closed */ }
    }
    if (v.node) v.node.disconnect();
    if (v.source) v.source.disconnect();
    if (v.stream) v.stream.getTracks().forEach(function (t) { t.stop(); });
    stopPlayback(v);
    try { v.ctx.close(); } catch (e) { /* closed */ }
  }

  micBtn.addEventListener('click', function () {
    if (voice) stopVoice();
    else startVoice();
  });

  function boot() {
    document.body.appendChild(root);
    if (storeGet('localStorage', 'largeText') === '1') setLarge(true);
    renderAll();
    updateCounter();
    setConn('off');
    if (startOpen || storeGet('sessionStorage', 'open') === '1') openPanel(false);
  }

  if (document.body) boot();
  else document.addEventListener('DOMContentLoaded', boot);
})();
