/*
 * What every staff console (/agent, /agent/tickets, /editor, /dashboard) shares in the browser. Plain ES2017,
 * no dependencies, no build step; loaded before the console's own script, which uses `window.Staff`.
 *
 *   Staff.api(method, path, body, contentType)  JSON in and out; state-changing requests send the readable
 *       staff_csrf cookie as X-CSRF-Token; a {"detail": {"code", "message"}} answer becomes an ApiFail (a 401
 *       other than the login's own shows the login form again: "登录已失效"); Staff.request gives the raw
 *       {status, ok, body} instead.
 *   Staff.session({allowed, denied, enter, leave})  the login form (built here into the page's #login-view;
 *       POST /api/staff/login), the session check (GET /api/staff/me), logout; `leave` clears the console's own
 *       views, `enter(me)` opens them.
 *   Staff.$, el, clear, cookie, announce (the polite notice line), showAlert (the alert line), fail,
 *       when(iso) (a server time as local YYYY-MM-DD HH:MM; '' when empty or invalid).
 * Every piece of caller or staff text is rendered with textContent, never innerHTML.
 */
(function () {
  'use strict';

  var CSRF_COOKIE = 'staff_csrf';
  var LOGIN = '/api/staff/login';
  var IDS = {
    view: 'login-view', form: 'login-form', username: 'login-username', password: 'login-password',
    error: 'login-error', me: 'me', logout: 'logout'
  };
  var expired = function () { /* until a console opens a session */ };

  function $(id) { return document.getElementById(id); }

  function el(tag, props, children) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (key) {
      var value = props[key];
      if (value === null || value === undefined || value === false) return;
      if (key === 'text') node.textContent = value;
      else if (key === 'className') node.className = value;
      else if (key === 'onclick') node.addEventListener('click', value);
      else if (key === 'hidden') node.hidden = true;
      else if (key === 'disabled') node.disabled = true;
      else if (key === 'checked') node.checked = true;
      else node.setAttribute(key, value === true ? '' : String(value));
    });
    (children || []).forEach(function (child) {
      if (!child) return;
      node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    });
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function when(iso) {
    if (!iso) return '';
    var d = new Date(iso);
    if (isNaN(d.getTime())) return '';
    function two(n) { return (n < 10 ? '0' : '') + n; }
    return d.getFullYear() + '-' + two(d.getMonth() + 1) + '-' + two(d.getDate()) + ' ' + two(d.getHours()) + ':' +
      two(d.getMinutes());
  }

  function cookie(name) {
    var parts = document.cookie ? document.cookie.split('; ') : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf('=');
      if (parts[i].slice(0, eq) === name) return decodeURIComponent(parts[i].slice(eq + 1));
    }
    return '';
  }

  function announce(text) {
    var box = $('notice');
    box.textContent = '';
    window.setTimeout(function () { box.textContent = text; }, 30);
  }

  function showAlert(text) {
    var box = $('alert');
    box.textContent = text;
    box.hidden = !text;
    if (text) window.setTimeout(function () { if (box.textContent === text) box.hidden = true; }, 8000);
  }

  function ApiFail(status, code, message, detail) {
    this.status = status; this.code = code; this.message = message; this.detail = detail || {};
  }

  /* The answer as {status, ok, body} (body: the parsed JSON or null); rejects with an ApiFail on a network error. */
  function request(method, path, body, contentType) {
    var headers = { Accept: 'application/json' };
    var payload;
    if (body !== undefined) {
      headers['Content-Type'] = contentType || 'application/json';
      payload = contentType ? body : JSON.stringify(body);
    }
    if (method !== 'GET') headers['X-CSRF-Token'] = cookie(CSRF_COOKIE);
    return fetch(path, { method: method, headers: headers, credentials: 'same-origin', cache: 'no-store', body: payload })
      .then(function (r) {
        return r.text().then(function (raw) {
          var data = null;
          try { data = raw ? JSON.parse(raw) : null; } catch (e) { data = null; }
          return { status: r.status, ok: r.ok, body: data };
        });
      }, function () { throw new ApiFail(0, 'network', '网络连接失败，请检查网络后重试。'); });
  }

  /* The first line of the server's message (the Chinese half of "中文 / English"). */
  function errorText(answer) {
    var detail = (answer && answer.body && answer.body.detail) || {};
    return typeof detail.message === 'string' ? detail.message.split(' / ')[0] : '请求失败（' + answer.status + '）';
  }

  function api(method, path, body, contentType) {
    return request(method, path, body, contentType).then(function (answer) {
      if (answer.ok) return answer.body;
      var detail = (answer.body && answer.body.detail) || {};
      if (answer.status === 401 && path !== LOGIN) expired('登录已失效，请重新登录。');
      throw new ApiFail(answer.status, detail.code || 'http_' + answer.status, errorText(answer), detail);
    });
  }

  function fail(err) {
    if (err instanceof ApiFail) {
      if (err.status !== 401) showAlert(err.message);
    } else {
      showAlert('操作失败，请重试。');
      if (window.console) window.console.error(err);
    }
  }

  /* The login form every console shows (the same ids as IDS), put after the login view's heading. */
  function loginForm(view) {
    var form = el('form', { id: IDS.form, novalidate: true }, [
      el('label', { 'for': IDS.username, text: '用户名' }),
      el('input', { id: IDS.username, name: 'username', autocomplete: 'username', required: true, maxlength: '64' }),
      el('label', { 'for': IDS.password, text: '密码' }),
      el('input', { id: IDS.password, name: 'password', type: 'password', autocomplete: 'current-password',
        required: true, maxlength: '256' }),
      el('p', { id: IDS.error, className: 'error', role: 'alert' }),
      el('button', { type: 'submit', className: 'primary', text: '登录' })
    ]);
    var heading = view.querySelector('h2');
    view.insertBefore(form, heading ? heading.nextSibling : view.firstChild);
  }

  /*
   * The console's staff session. opts: allowed(me) -> whether this account may use the console; denied: what the
   * login form says otherwise; leave(): clear the console's own state and views (nothing of the previous account's
   * work stays on a shared screen); enter(me): open them. The page has the elements named in IDS. Returns
   * {showLogin(message), start()}: start() wires the form and logout button and checks the session.
   */
  function session(opts) {
    var ids = IDS;

    function showLogin(message) {
      if (!$(ids.form)) loginForm($(ids.view));
      if (opts.leave) opts.leave();
      $(ids.me).hidden = true;
      $(ids.view).hidden = false;
      $(ids.error).textContent = message || '';
      $(ids.username).focus();
    }

    function enter(me) {
      if (!me || !opts.allowed(me)) {
        showLogin(opts.denied);
        return;
      }
      $(ids.view).hidden = true;
      $(ids.me).hidden = false;
      opts.enter(me);
    }

    function onLogin(event) {
      event.preventDefault();
      var username = $(ids.username).value.trim(), password = $(ids.password).value;
      if (!username || !password) {
        $(ids.error).textContent = '请输入用户名和密码。';
        return;
      }
      $(ids.error).textContent = '';
      api('POST', LOGIN, { username: username, password: password }).then(function () {
        $(ids.password).value = '';
        return api('GET', '/api/staff/me');
      }).then(enter).catch(function (err) {
        $(ids.error).textContent = err instanceof ApiFail ? err.message : '登录失败，请重试。';
      });
    }

    function logout() {
      api('POST', '/api/staff/logout', {}).catch(function () { /* the session may be gone already */ })
        .then(function () { showLogin('您已退出登录。'); });
    }

    function start() {
      if (!$(ids.form)) loginForm($(ids.view));
      $(ids.form).addEventListener('submit', onLogin);
      $(ids.logout).addEventListener('click', logout);
      // no session yet is the usual first visit: the login form, without a message
      request('GET', '/api/staff/me').then(function (answer) {
        if (answer.ok) enter(answer.body);
        else showLogin(answer.status === 401 ? '' : errorText(answer));
      }, function (err) { showLogin(err.message); });
    }

    expired = showLogin;
    return { showLogin: showLogin, start: start };
  }

  window.Staff = {
    $: $, el: el, clear: clear, cookie: cookie, announce: announce, showAlert: showAlert, ApiFail: ApiFail,
    request: request, errorText: errorText, api: api, fail: fail, session: session, when: when
  };
}());
