/* 12345 guide editor console (/editor). Plain JS, no build step, no inline script (strict CSP).
 *
 * Logs in through the shared staff session (/staff/static/staff.js: the HttpOnly session cookie, X-CSRF-Token on
 * state-changing requests) and works on /api/guides/... and /api/unanswered/... (docs/API.md,
 * "Guide editor"). The form is built from FIELDS, one control per field of the guide schema; the server's
 * per-field errors ("materials.0.form") are shown next to the control they name.
 */
(function () {
  'use strict';

  var STATES = {
    draft: '草稿', in_review: '待审核', published: '已发布', scheduled: '待生效', expiring: '即将失效',
    expired: '已失效', 'new': '未发布'
  };
  var REASONS = { not_found: '拒答', fallback: '没听懂', did_you_mean: '否定了“您是想问”' };
  var SOURCES = { seed: 'YAML初始', editor: '编辑', 'import': '导入', rollback: '回滚', queue: '未答问题' };
  var MATERIAL_FORMS = ['原件', '复印件', '原件及复印件', '电子证照或原件', '电子版'];
  var FIELD_TYPES = [['name', '姓名'], ['id_number', '身份证号'], ['phone', '手机号'], ['date', '日期'],
    ['address', '地址'], ['choice', '选项'], ['text', '文字']];

  var FIELDS = [
    { section: '基本信息' },
    { path: 'name', label: '事项名称', type: 'text' },
    { path: 'code', label: '事项编码', type: 'text' },
    { path: 'kind', label: '类型', type: 'select', options: [['item', '单个事项'], ['bundle', '一件事（多个事项）']] },
    { path: 'audience', label: '服务对象', type: 'select', options: [['person', '个人'], ['business', '法人/企业']] },
    { path: 'item_type', label: '事项类型', type: 'text', hint: '行政许可 / 行政确认 / 行政给付 / 公共服务 …' },
    { path: 'case_type', label: '办件类型', type: 'select', options: [['即办件', '即办件'], ['承诺件', '承诺件']] },
    { path: 'region_wide', label: '全区通办', type: 'bool' },
    { path: 'level', label: '行使层级', type: 'text' },
    { path: 'lead_department', label: '牵头部门', type: 'text' },
    { path: 'cooperating_departments', label: '协办部门', type: 'lines' },
    { path: 'legal_basis', label: '设定依据', type: 'lines' },
    { path: 'result.type', label: '审批结果类型', type: 'text' },
    { path: 'result.name', label: '审批结果名称', type: 'text' },
    { section: '受理与办理' },
    { path: 'conditions', label: '受理条件', type: 'lines' },
    { path: 'process', label: '办理流程', type: 'lines' },
    { path: 'time_limit.legal', label: '法定办理时限', type: 'text' },
    { path: 'time_limit.promised', label: '承诺办理时限', type: 'text' },
    { path: 'fee', label: '收费标准', type: 'text' },
    { path: 'items', label: '包含事项（一件事的各个事项）', type: 'rows', add: '添加事项', fields: [
      { key: 'name', label: '事项名称', type: 'text' }, { key: 'department', label: '部门', type: 'text' },
      { key: 'time_limit', label: '时限', type: 'text' }, { key: 'aliases', label: '别名（逗号分隔）', type: 'csv' }] },
    { path: 'situations', label: '办理情形', type: 'rows', add: '添加情形', fields: [
      { key: 'id', label: '编号', type: 'text' }, { key: 'question', label: '问题', type: 'text' },
      { key: 'options', label: '选项（每行：值=名称）', type: 'options' }] },
    { path: 'materials', label: '申请材料', type: 'rows', add: '添加材料', fields: [
      { key: 'name', label: '材料名称', type: 'text' },
      { key: 'form', label: '形式', type: 'select', options: MATERIAL_FORMS.map(function (f) { return [f, f]; }) },
      { key: 'count', label: '份数', type: 'number' }, { key: 'issuer', label: '出具单位', type: 'text' },
      { key: 'note', label: '说明', type: 'text' }, { key: 'items', label: '适用事项（逗号分隔，空=全部）', type: 'csv' },
      { key: 'when', label: '适用情形（情形编号=值,值；…）', type: 'when' },
      { key: 'deferrable', label: '可容缺', type: 'bool' }] },
    { path: 'review_points', label: '审查要点', type: 'lines' },
    { path: 'templates', label: '材料模板', type: 'lines' },
    { path: 'deferral_note', label: '容缺受理说明', type: 'textarea' },
    { section: '办理地点与网办' },
    { path: 'where.windows', label: '办理地点（每行一个）', type: 'lines' },
    { path: 'where.note', label: '地点说明', type: 'text' },
    { path: 'where.online.available', label: '可网上办理', type: 'bool' },
    { path: 'where.online.channels', label: '网办渠道', type: 'lines' },
    { path: 'where.online.note', label: '网办说明', type: 'text' },
    { section: '市民怎么问' },
    { path: 'aliases', label: '别名（每行一个）', type: 'lines' },
    { path: 'examples', label: '示例问题（每行一个）', type: 'lines' },
    { section: '一表申请字段' },
    { path: 'form', label: '表单字段', type: 'rows', add: '添加字段', fields: [
      { key: 'field', label: '字段名（英文）', type: 'text' }, { key: 'label', label: '名称', type: 'text' },
      { key: 'type', label: '类型', type: 'select', options: FIELD_TYPES },
      { key: 'options', label: '选项（逗号分隔）', type: 'csv' }, { key: 'items', label: '适用事项（逗号分隔）', type: 'csv' },
      { key: 'required', label: '必填', type: 'bool' }, { key: 'when', label: '条件（字段=值,值；…）', type: 'when' }] },
    { section: '声明' },
    { path: 'disclaimer', label: '免责声明', type: 'textarea' }
  ];
  var ROW_DEFAULTS = {
    items: { name: '', department: '', time_limit: '', aliases: [] },
    situations: { id: '', question: '', options: [] },
    materials: { name: '', form: '原件', count: 1, issuer: '', note: '', items: [], when: {}, deferrable: false },
    form: { field: '', label: '', type: 'text', options: [], items: [], required: true, when: {} }
  };
  var BLANK = {
    name: '', code: '', kind: 'item', audience: 'person', item_type: '', case_type: '即办件', region_wide: false,
    legal_basis: [], result: { type: '', name: '' }, level: '', time_limit: { legal: '', promised: '' }, fee: '',
    lead_department: '', cooperating_departments: [], items: [], conditions: [], process: [], situations: [],
    materials: [], review_points: [], templates: [],
    where: { windows: [], note: '', online: { available: false, channels: [], note: '' } },
    deferral_note: '', aliases: [], examples: [], form: [],
    disclaimer: '本指南仅供参考，以内蒙古政务服务网公布的办事指南为准。'
  };

  var S = { me: null, canPublish: false, list: [], current: null, isNew: false, draft: null, published: null };

  var $ = Staff.$, el = Staff.el, clear = Staff.clear, announce = Staff.announce, showAlert = Staff.showAlert;
  var ApiFail = Staff.ApiFail, api = Staff.api, fail = Staff.fail, when = Staff.when;
  function guideUrl(name, rest) { return '/api/guides/' + encodeURIComponent(name) + (rest || ''); }
  function missingAsNull(err) { if (err.status === 404) return null; throw err; }
  function table(headings, body) {
    return el('table', { className: 'table' }, [el('thead', {}, [el('tr', {}, headings.map(function (t) {
      return el('th', { text: t });
    }))]), body]);
  }

  // ------------------------------------------------------------------ login
  function leave() {
    S.me = null; S.current = null;
    ['guides-view', 'queue-view', 'transfer-view', 'tabs'].forEach(function (id) { $(id).hidden = true; });
    clear($('guide-list')); clear($('guide-form'));
  }
  function enter(me) {
    S.me = me;
    $('tabs').hidden = false;
    $('me-name').textContent = (me.display_name || me.username) + '（' + me.username + '）';
    switchView('guides');
    loadList();
    loadQueueCount();
  }
  var session = Staff.session({
    allowed: function (me) { return me.roles.indexOf('editor') >= 0 || me.roles.indexOf('supervisor') >= 0; },
    denied: '该账号没有编辑或审核办事指南的权限。',
    leave: leave,
    enter: enter
  });
  function switchView(name) {
    ['guides', 'queue', 'transfer'].forEach(function (v) {
      $(v + '-view').hidden = v !== name;
      $('tab-' + v).setAttribute('aria-pressed', v === name ? 'true' : 'false');
    });
    if (name === 'queue') loadQueue();
  }

  // ------------------------------------------------------------------ list
  function loadList() {
    var q = $('search-q').value.trim(), state = $('search-state').value;
    return api('GET', '/api/guides?q=' + encodeURIComponent(q) + '&state=' + encodeURIComponent(state)).then(function (data) {
      S.list = data.guides; S.canPublish = data.can_publish;
      if (!q && !state) S.names = data.guides.map(function (g) { return g.name; });  // every guide, for the queue
      var list = $('guide-list');
      clear(list);
      data.guides.forEach(function (g) {
        var button = el('button', { type: 'button', className: 'card' + (g.name === S.current ? ' active' : ''),
          'data-name': g.name }, [
          el('span', { className: 'card-title', text: g.name }),
          el('span', { className: 'badge badge-' + g.state, text: STATES[g.state] || g.state }),
          el('span', { className: 'meta', text: (g.version ? '第' + g.version + '版' : '未发布') +
            (g.expires_at ? ' · ' + when(g.expires_at) + '失效' : '') })]);
        button.addEventListener('click', function () { openGuide(g.name); });
        list.appendChild(el('li', {}, [button]));
      });
      if (!data.guides.length) list.appendChild(el('li', { className: 'meta', text: '没有符合条件的指南。' }));
    }).catch(fail);
  }

  // ------------------------------------------------------------------ one guide
  function openGuide(name) {
    S.current = name; S.isNew = false; S.draft = null; S.published = null;
    $('form-error').textContent = '';
    return Promise.all([
      api('GET', guideUrl(name, '/draft')).catch(missingAsNull),
      api('GET', guideUrl(name)).catch(missingAsNull)
    ]).then(function (found) {
      S.draft = found[0]; S.published = found[1];
      var shown = S.draft || S.published;
      if (!shown) { showAlert('没有找到该指南。'); return; }
      renderForm(strip(shown));
      showPanel();
      loadList();
      if (!$('pane-versions').hidden) loadVersions();
    }).catch(fail);
  }
  function strip(view) {
    var g = JSON.parse(JSON.stringify(view));
    delete g.version; delete g.meta;
    return g;
  }
  function newGuide() {
    S.current = null; S.isNew = true; S.draft = null; S.published = null;
    renderForm(JSON.parse(JSON.stringify(BLANK)));
    showPanel();
    $('f-name').focus();
  }
  function showPanel() {
    $('empty').hidden = true;
    $('guide-panel').hidden = false;
    var name = S.current || '新建指南';
    $('guide-title').textContent = name;
    var meta = [];
    if (S.published) meta.push('已发布第' + S.published.version + '版（' + when(S.published.meta.published_at) + '，审核人 ' +
      (S.published.meta.publisher || '') + '）');
    else meta.push('尚未发布');
    if (S.draft) meta.push((S.draft.meta.status === 'review' ? '草稿待审核' : '草稿编辑中') + '（' +
      (S.draft.meta.author || '') + '，' + when(S.draft.meta.updated_at) + '）');
    $('guide-meta').textContent = meta.join(' · ');
    $('act-submit').disabled = false;
    $('act-publish').hidden = !(S.canPublish && S.draft && S.draft.meta.status === 'review');
    $('act-discard').hidden = !S.draft;
    $('publish-box').hidden = true;
  }

  // ------------------------------------------------------------------ the form
  function fieldId(path) { return 'f-' + path.replace(/\./g, '-'); }
  function get(obj, path) {
    return path.split('.').reduce(function (o, k) { return o == null ? undefined : o[k]; }, obj);
  }
  function set(obj, path, value) {
    var keys = path.split('.'), o = obj;
    keys.slice(0, -1).forEach(function (k) { if (o[k] == null || typeof o[k] !== 'object') o[k] = {}; o = o[k]; });
    o[keys[keys.length - 1]] = value;
  }
  function toText(type, value) {
    if (type === 'lines') return (value || []).join('\n');
    if (type === 'csv') return (value || []).join('，');
    if (type === 'options') return (value || []).map(function (o) { return o.value + '=' + o.label; }).join('\n');
    if (type === 'when') {
      return Object.keys(value || {}).map(function (k) { return k + '=' + value[k].join(','); }).join('；');
    }
    return value == null ? '' : String(value);
  }
  function fromText(type, text) {
    if (type === 'lines') return text.split('\n').map(function (s) { return s.trim(); }).filter(Boolean);
    if (type === 'csv') return text.split(/[,，、]/).map(function (s) { return s.trim(); }).filter(Boolean);
    if (type === 'options') {
      return text.split('\n').map(function (s) { return s.trim(); }).filter(Boolean).map(function (line) {
        var at = line.indexOf('=');
        return at < 0 ? { value: line, label: line } : { value: line.slice(0, at).trim(), label: line.slice(at + 1).trim() };
      });
    }
    if (type === 'when') {
      var out = {};
      text.split(/[;；]/).map(function (s) { return s.trim(); }).filter(Boolean).forEach(function (part) {
        var at = part.indexOf('=');
        if (at > 0) out[part.slice(0, at).trim()] = part.slice(at + 1).split(/[,，、]/).map(function (s) { return s.trim(); }).filter(Boolean);
      });
      return out;
    }
    if (type === 'number') { var n = parseInt(text, 10); return isNaN(n) ? text : n; }
    return text;
  }
  function control(path, spec, value) {
    var id = fieldId(path), node;
    if (spec.type === 'select') {
      node = el('select', { id: id, 'data-path': path, 'data-type': 'select' });
      spec.options.forEach(function (o) { node.appendChild(el('option', { value: o[0], text: o[1] })); });
      node.value = value == null ? spec.options[0][0] : value;
    } else if (spec.type === 'bool') {
      node = el('input', { id: id, type: 'checkbox', 'data-path': path, 'data-type': 'bool' });
      node.checked = !!value;
    } else if (['lines', 'textarea', 'options'].indexOf(spec.type) >= 0) {
      node = el('textarea', { id: id, rows: spec.type === 'textarea' ? 2 : Math.min(8, Math.max(2, (value || []).length + 1)),
        'data-path': path, 'data-type': spec.type });
      node.value = toText(spec.type, value);
    } else {
      node = el('input', { id: id, 'data-path': path, 'data-type': spec.type,
        type: spec.type === 'number' ? 'number' : 'text' });
      if (spec.type === 'number') node.setAttribute('min', '1');
      node.value = toText(spec.type, value);
    }
    var label = el('label', { 'for': id, text: spec.label });
    var wrap = el('div', { className: 'field field-' + spec.type, 'data-field': path },
      spec.type === 'bool' ? [node, label] : [label, node]);
    if (spec.hint) wrap.appendChild(el('p', { className: 'hint', text: spec.hint }));
    wrap.appendChild(el('p', { className: 'field-error', 'data-error-for': path, role: 'alert' }));
    return wrap;
  }
  function renderForm(guide) {
    var form = $('guide-form');
    clear(form);
    var section = null;
    FIELDS.forEach(function (spec) {
      if (spec.section) {
        section = el('fieldset', {}, [el('legend', { text: spec.section })]);
        form.appendChild(section);
        return;
      }
      if (spec.type !== 'rows') {
        var c = control(spec.path, spec, get(guide, spec.path));
        if (spec.path === 'name' && !S.isNew) c.querySelector('input').readOnly = true;
        section.appendChild(c);
        return;
      }
      var rows = get(guide, spec.path) || [];
      var box = el('div', { className: 'rows', 'data-field': spec.path, 'data-rows': spec.path },
        [el('h3', { text: spec.label + '（' + rows.length + '）' }),
          el('p', { className: 'field-error', 'data-error-for': spec.path, role: 'alert' })]);
      rows.forEach(function (row, i) {
        var line = el('div', { className: 'row', 'data-field': spec.path + '.' + i });
        line.appendChild(el('span', { className: 'row-no', text: String(i + 1) }));
        spec.fields.forEach(function (f) { line.appendChild(control(spec.path + '.' + i + '.' + f.key, f, row[f.key])); });
        var remove = el('button', { type: 'button', className: 'secondary small', id: fieldId(spec.path + '.' + i) + '-remove',
          text: '删除' });
        remove.addEventListener('click', function () { editRows(spec.path, function (list) { list.splice(i, 1); }); });
        line.appendChild(remove);
        line.appendChild(el('p', { className: 'field-error', 'data-error-for': spec.path + '.' + i, role: 'alert' }));
        box.appendChild(line);
      });
      var add = el('button', { type: 'button', className: 'secondary small', id: fieldId(spec.path) + '-add', text: '＋ ' + spec.add });
      add.addEventListener('click', function () {
        editRows(spec.path, function (list) { list.push(JSON.parse(JSON.stringify(ROW_DEFAULTS[spec.path]))); });
      });
      box.appendChild(add);
      section.appendChild(box);
    });
  }
  function editRows(path, change) {
    var guide = collect();
    var list = get(guide, path) || [];
    change(list);
    set(guide, path, list);
    renderForm(guide);
  }
  function collect() {
    var guide = {};
    FIELDS.forEach(function (spec) {
      if (spec.section) return;
      if (spec.type === 'rows') set(guide, spec.path, []);
    });
    Array.prototype.forEach.call($('guide-form').querySelectorAll('[data-path]'), function (node) {
      var path = node.getAttribute('data-path'), type = node.getAttribute('data-type');
      var value = type === 'bool' ? node.checked : type === 'select' ? node.value : fromText(type, node.value);
      var parts = path.split('.');
      // rows: "materials.3.name" -> guide.materials[3].name
      var o = guide;
      for (var i = 0; i < parts.length - 1; i++) {
        var k = /^\d+$/.test(parts[i]) ? parseInt(parts[i], 10) : parts[i];
        if (o[k] == null) o[k] = /^\d+$/.test(parts[i + 1]) ? [] : {};
        o = o[k];
      }
      o[parts[parts.length - 1]] = value;
    });
    return guide;
  }
  function showErrors(errors) {
    Array.prototype.forEach.call(document.querySelectorAll('[data-error-for]'), function (p) { p.textContent = ''; });
    Array.prototype.forEach.call(document.querySelectorAll('.invalid'), function (n) { n.classList.remove('invalid'); });
    var general = [];
    (errors || []).forEach(function (e) {
      var parts = e.field.split('.'), target = null;
      while (parts.length && !target) {
        target = document.querySelector('[data-error-for="' + parts.join('.') + '"]');
        if (!target) parts.pop();
      }
      if (!target) { general.push(e.field + '：' + e.message); return; }
      target.textContent = (target.textContent ? target.textContent + '；' : '') +
        (parts.join('.') === e.field ? '' : e.field.slice(parts.join('.').length + 1) + '：') + e.message;
      var field = target.closest('[data-field]');
      if (field) field.classList.add('invalid');
    });
    $('form-error').textContent = errors && errors.length
      ? '有' + errors.length + '处需要修改' + (general.length ? '：' + general.join('；') : '（见标红的字段）') : '';
    var first = document.querySelector('.invalid input, .invalid textarea, .invalid select');
    if (first) first.focus();
  }

  // ------------------------------------------------------------------ workflow
  function save() {
    var guide = collect();
    var name = S.isNew ? (guide.name || '').trim() : S.current;
    if (!name) { showErrors([{ field: 'name', message: '必填' }]); return Promise.reject(null); }
    return api('PUT', guideUrl(name, '/draft'), guide).then(function (saved) {
      showErrors([]);
      S.current = name; S.isNew = false; S.draft = saved;
      announce('草稿已保存');
      showPanel();
      loadList();
      return saved;
    }).catch(function (err) {
      if (err instanceof ApiFail && err.detail && err.detail.errors) showErrors(err.detail.errors);
      else fail(err);
      throw null;
    });
  }
  function submit() {
    save().then(function () {
      return api('POST', guideUrl(S.current, '/submit'), { note: '' });
    }).then(function () {
      announce('已提交审核');
      return openGuide(S.current);
    }).catch(function (err) { if (err) fail(err); });
  }
  function publish() {
    var body = { note: $('publish-note').value.trim(), effective_from: $('publish-from').value || null,
      expires_at: $('publish-to').value || null };
    api('POST', guideUrl(S.current, '/publish'), body).then(function (v) {
      $('publish-note').value = ''; $('publish-from').value = ''; $('publish-to').value = '';
      announce('已发布第' + v.version + '版' + (body.effective_from ? '，将于' + body.effective_from.replace('T', ' ') + '生效' :
        '，几秒内市民即可查到'));
      return openGuide(S.current);
    }).catch(fail);
  }
  function discard() {
    if (!window.confirm('放弃这份草稿？已发布的版本不受影响。')) return;
    api('DELETE', guideUrl(S.current, '/draft')).then(function () {
      announce('草稿已放弃');
      return openGuide(S.current);
    }).catch(fail);
  }

  // ------------------------------------------------------------------ panes
  function showPane(name) {
    Array.prototype.forEach.call(document.querySelectorAll('.subtab'), function (b) {
      b.setAttribute('aria-pressed', b.getAttribute('data-pane') === name ? 'true' : 'false');
    });
    ['edit', 'preview', 'hit', 'versions'].forEach(function (p) { $('pane-' + p).hidden = p !== name; });
    if (name === 'preview') preview();
    if (name === 'versions') loadVersions();
  }
  function preview() {
    api('POST', '/api/guides/preview', { guide: collect() }).then(function (shown) {
      showErrors(shown.errors);
      $('preview-text').textContent = shown.valid ? shown.text : '指南有错误，修改后才能预览。';
      $('preview-speech').textContent = shown.valid ? shown.speech : '';
    }).catch(fail);
    var source = S.draft ? 'draft' : 'published';
    $('preview-source').textContent = S.draft ? '已保存的草稿' : '已发布版本';
    if (S.current && (S.draft || S.published)) $('preview-frame').src = guideUrl(S.current, '/notice?source=' + source);
  }
  function hitColumn(title, view) {
    var col = el('div', { className: 'hit-col' }, [el('h3', { text: title })]);
    if (!view) return col;
    col.appendChild(el('p', { className: view.answer ? 'ok' : 'warn',
      text: view.answer ? '回答：' + view.answer : (view.suggestions.length ? '不确定，会问“您是想问：' +
        view.suggestions.join('、') + '”' : '不回答（库中没有对应指南）') }));
    var list = el('ol', {});
    view.results.slice(0, 3).forEach(function (r) {
      list.appendChild(el('li', {}, [el('strong', { text: r.name }), ' 得分 ' + r.score.toFixed(3) +
        (r.passage ? '；最接近的段落：“' + r.passage + '”（相似度 ' + r.similarity.toFixed(3) + '）' : '')]));
    });
    col.appendChild(list);
    return col;
  }
  function hitTest(event) {
    event.preventDefault();
    var q = $('hit-q').value.trim();
    if (!q) return;
    var box = $('hit-result');
    box.textContent = '测试中…';
    api('POST', '/api/guides/hit-test', { question: q, draft: true, guide: S.current }).then(function (r) {
      clear(box);
      box.appendChild(hitColumn('已发布版本', r.published));
      box.appendChild(hitColumn(r.drafts.length ? '草稿（' + r.drafts.join('、') + '）' : '草稿（无草稿，同已发布）', r.draft));
    }).catch(function (err) { box.textContent = ''; fail(err); });
  }
  function runEval() {
    var box = $('eval-result');
    box.textContent = '正在用评测问题集检查，约需半分钟到一分钟…';
    api('POST', '/api/guides/evaluate', { guide: S.current }).then(function (r) {
      clear(box);
      var s = r.summary;
      box.appendChild(el('p', { text: '共' + s.questions + '个问题：已发布版本答对' + s.correct_published + '个，草稿答对' +
        s.correct_draft + '个；' + s.changed + '个答案会变化，其中变错' + s.broken + '个、变对' + s.fixed + '个。' }));
      if (!r.changes.length) return;
      var body = el('tbody', {});
      r.changes.forEach(function (c) {
        body.appendChild(el('tr', { className: 'verdict-' + c.verdict }, [el('td', { text: c.question }),
          el('td', { text: c.expected || '（库外问题）' }), el('td', { text: c.published || '不回答' }),
          el('td', { text: c.draft || '不回答' }),
          el('td', { text: { broken: '变错', fixed: '变对', changed: '变化' }[c.verdict] })]));
      });
      box.appendChild(table(['问题', '应答指南', '已发布', '草稿', '结论'], body));
    }).catch(function (err) { box.textContent = ''; fail(err); });
  }
  function loadVersions() {
    if (!S.current) return;
    api('GET', guideUrl(S.current, '/versions')).then(function (data) {
      var rows = $('version-rows');
      clear(rows);
      var from = $('diff-from'), to = $('diff-to');
      clear(from); clear(to);
      if (data.draft) {
        rows.appendChild(el('tr', {}, [el('td', { text: '草稿' }), el('td', { text: data.draft.status === 'review' ? '待审核' : '编辑中' }),
          el('td', { text: data.draft.author }), el('td', { text: when(data.draft.updated_at) }), el('td', { text: data.draft.note }), el('td')]));
        to.appendChild(el('option', { value: 'draft', text: '草稿' }));
        from.appendChild(el('option', { value: 'draft', text: '草稿' }));
      }
      data.versions.forEach(function (v) {
        var cell = el('td');
        if (S.canPublish && !v.live) {
          var back = el('button', { type: 'button', className: 'secondary small', 'data-version': v.version,
            text: '回滚到此版' });
          back.addEventListener('click', function () { rollback(v.version); });
          cell.appendChild(back);
        }
        var state = v.live ? '当前生效' : (v.effective_from && new Date(v.effective_from) > new Date() ? '待生效' : '历史版本');
        rows.appendChild(el('tr', { className: v.live ? 'live' : '' }, [el('td', { text: '第' + v.version + '版' }),
          el('td', { text: state + (v.expires_at ? '（' + when(v.expires_at) + '失效）' : '') }),
          el('td', { text: (v.author || '') + ' / ' + (v.publisher || '') + '（' + (SOURCES[v.source] || v.source) + '）' }),
          el('td', { text: when(v.published_at) }), el('td', { text: v.note || '' }), cell]));
        from.appendChild(el('option', { value: String(v.version), text: '第' + v.version + '版' }));
        to.appendChild(el('option', { value: String(v.version), text: '第' + v.version + '版' }));
      });
      if (data.live) from.value = String(data.live);
      if (!data.draft && data.versions.length > 1) { to.value = String(data.versions[0].version); from.value = String(data.versions[1].version); }
    }).catch(fail);
  }
  function showDiff(event) {
    event.preventDefault();
    var url = guideUrl(S.current, '/diff?from=' + encodeURIComponent($('diff-from').value) + '&to=' + encodeURIComponent($('diff-to').value));
    api('GET', url).then(function (d) {
      var rows = $('diff-rows');
      clear(rows);
      if (!d.changes.length) rows.appendChild(el('tr', {}, [el('td', { colspan: '4', text: '两个版本内容相同。' })]));
      d.changes.forEach(function (c) {
        rows.appendChild(el('tr', { className: 'change-' + c.change }, [el('td', { text: c.label }),
          el('td', { text: { added: '新增', removed: '删除', changed: '修改', reordered: '调整顺序' }[c.change] }),
          el('td', { text: show(c.old) }), el('td', { text: show(c['new']) })]));
      });
    }).catch(fail);
  }
  function show(value) {
    if (value == null) return '';
    if (typeof value === 'object') {
      if (value.name) return value.name + (value.form ? '（' + value.form + (value.count ? '，' + value.count + '份' : '') + '）' : '');
      return JSON.stringify(value);
    }
    return String(value);
  }
  function rollback(version) {
    if (!window.confirm('回滚到第' + version + '版？将以该版内容发布一个新版本，几秒内市民即可查到。')) return;
    api('POST', guideUrl(S.current, '/rollback'), { version: version }).then(function (v) {
      announce('已回滚：第' + v.version + '版（内容同第' + version + '版）已发布');
      return openGuide(S.current);
    }).catch(fail);
  }

  // ------------------------------------------------------------------ unanswered queue
  function loadQueueCount() {
    api('GET', '/api/unanswered?status=open').then(function (d) {
      $('queue-count').textContent = d.questions ? String(d.questions) : '';
    }).catch(function () { /* shown when opened */ });
  }
  function loadQueue() {
    var status = $('queue-status').value;
    api('GET', '/api/unanswered?status=' + status).then(function (d) {
      var rows = $('queue-rows');
      clear(rows);
      if (status === 'open') $('queue-count').textContent = d.questions ? String(d.questions) : '';
      if (!d.groups.length) rows.appendChild(el('tr', {}, [el('td', { colspan: '4', text: '没有问题。' })]));
      d.groups.forEach(function (g) {
        var reasons = Object.keys(g.reasons).map(function (k) { return (REASONS[k] || k) + ' ' + g.reasons[k]; }).join('，');
        var cell = el('td', { className: 'queue-actions' });
        if (status === 'open') cell.appendChild(queueActions(g));
        else cell.textContent = JSON.stringify(g.resolution || {});
        var others = g.texts.filter(function (t) { return t !== g.text; });
        rows.appendChild(el('tr', { 'data-group': g.id }, [el('td', { text: String(g.count) }),
          el('td', {}, [el('strong', { text: g.text }), others.length ? el('div', { className: 'meta', text: '类似：' + others.join('；') }) : null]),
          el('td', { text: reasons + (g.suggestions.length ? '；曾建议：' + g.suggestions.join('、') : '') }), cell]));
      });
    }).catch(fail);
  }
  function queueActions(g) {
    var box = el('div', {});
    var select = el('select', { 'aria-label': '加到哪份指南', id: 'queue-guide-' + g.id });
    // no guide is preselected unless the search suggested one: a click must never file the question under a guess
    select.appendChild(el('option', { value: '', text: '请选择指南…' }));
    (S.names || S.list.map(function (item) { return item.name; })).forEach(function (name) {
      select.appendChild(el('option', { value: name, text: name }));
    });
    select.value = g.suggestions.length ? g.suggestions[0] : '';
    var question = el('input', { 'aria-label': '示例问题', id: 'queue-question-' + g.id, maxlength: '300' });
    question.value = g.text;
    function act(action, extra) {
      var body = { ids: g.ids, action: action };
      Object.keys(extra || {}).forEach(function (k) { body[k] = extra[k]; });
      api('POST', '/api/unanswered/resolve', body).then(function (r) {
        announce(action === 'example' ? '已加为“' + body.guide + '”的示例问题（草稿，需审核发布）' :
          action === 'request' ? '已记录新指南需求' : '已忽略');
        loadQueue();
        loadList();
      }).catch(fail);
    }
    var asExample = el('button', { type: 'button', className: 'primary small', text: '加为示例问题' });
    asExample.addEventListener('click', function () {
      if (!select.value) { showAlert('请先选择要把这个问题加到哪份指南。'); select.focus(); return; }
      act('example', { guide: select.value, question: question.value.trim() });
    });
    var request = el('button', { type: 'button', className: 'secondary small', text: '提新指南需求' });
    request.addEventListener('click', function () { act('request', { question: question.value.trim() }); });
    var dismiss = el('button', { type: 'button', className: 'secondary small', text: '忽略' });
    dismiss.addEventListener('click', function () { act('dismiss'); });
    [question, select, asExample, request, dismiss].forEach(function (n) { box.appendChild(n); });
    return box;
  }

  // ------------------------------------------------------------------ import / export
  function importFile(event) {
    event.preventDefault();
    var file = $('import-file').files[0];
    if (!file) { showAlert('请选择文件。'); return; }
    var csv = /\.csv$/i.test(file.name);
    var reader = new FileReader();
    reader.onload = function () {
      api('POST', '/api/guides/import?format=' + (csv ? 'csv' : 'yaml'), reader.result,
        csv ? 'text/csv; charset=utf-8' : 'application/yaml; charset=utf-8').then(function (r) {
        var box = $('import-result');
        clear(box);
        box.appendChild(el('p', { text: '保存为草稿' + r.saved + '份，无变化' + r.unchanged + '份，有错误' + r.failed + '份。' }));
        var body = el('tbody', {});
        r.rows.forEach(function (row) {
          body.appendChild(el('tr', { className: 'import-' + row.status }, [el('td', { text: String(row.row) }),
            el('td', { text: row.name }), el('td', { text: { draft_saved: '已存草稿', unchanged: '无变化', error: '有错误' }[row.status] }),
            el('td', { text: row.errors.map(function (e) { return e.field + '：' + e.message; }).join('；') })]));
        });
        box.appendChild(table(['行', '事项名称', '结果', '错误'], body));
        loadList();
      }).catch(fail);
    };
    reader.readAsText(file, 'utf-8');
  }

  // ------------------------------------------------------------------ start
  document.addEventListener('DOMContentLoaded', function () {
    $('tab-guides').addEventListener('click', function () { switchView('guides'); });
    $('tab-queue').addEventListener('click', function () { switchView('queue'); });
    $('tab-transfer').addEventListener('click', function () { switchView('transfer'); });
    $('search-form').addEventListener('submit', function (e) { e.preventDefault(); loadList(); });
    $('search-q').addEventListener('input', function () { loadList(); });
    $('search-state').addEventListener('change', function () { loadList(); });
    $('new-guide').addEventListener('click', newGuide);
    $('act-save').addEventListener('click', function () { save().catch(function () { /* shown */ }); });
    $('act-submit').addEventListener('click', submit);
    $('act-publish').addEventListener('click', function () { $('publish-box').hidden = false; $('publish-note').focus(); });
    $('publish-confirm').addEventListener('click', publish);
    $('publish-cancel').addEventListener('click', function () { $('publish-box').hidden = true; });
    $('act-discard').addEventListener('click', discard);
    Array.prototype.forEach.call(document.querySelectorAll('.subtab'), function (b) {
      b.addEventListener('click', function () { showPane(b.getAttribute('data-pane')); });
    });
    $('hit-form').addEventListener('submit', hitTest);
    $('eval-run').addEventListener('click', runEval);
    $('diff-form').addEventListener('submit', showDiff);
    $('queue-status').addEventListener('change', loadQueue);
    $('export-yaml').addEventListener('click', function () { window.location.href = '/api/guides/export?format=yaml'; });
    $('export-csv').addEventListener('click', function () { window.location.href = '/api/guides/export?format=csv'; });
    $('import-form').addEventListener('submit', importFile);
    session.start();
  });
}());
