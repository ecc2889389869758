'use strict'

// The page's inline CSS and its one script: nothing is fetched from anywhere else.

const STYLE = `
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:10px 24px;display:flex;gap:24px;align-items:center}
header a{color:#fff;text-decoration:none}header .who{margin-left:auto;opacity:.75}
main{padding:16px 24px;max-width:1200px}h1{font-size:20px;margin:8px 0 16px}h2{font-size:16px;margin:24px 0 8px}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:10px 16px;min-width:120px;
text-decoration:none;color:inherit}
.card b{display:block;font-size:24px}.pending b{color:#b26b00}.delivered b{color:#1a7f37}.dead b{color:#c62828}
.superseded b{color:#6e7781}
table{border-collapse:collapse;background:#fff;width:100%}
td,th{border-bottom:1px solid #e5e8ec;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#eef0f3;font-weight:600}code,pre{font:12px/1.4 ui-monospace,monospace}
pre{background:#fff;border:1px solid #dde1e7;padding:10px;overflow:auto;white-space:pre-wrap;word-break:break-all}
.notice{padding:10px 14px;border-radius:6px;margin-bottom:16px;background:#e6f4ea;border:1px solid #1a7f37}
.notice.error{background:#fdecea;border-color:#c62828}
form.inline{display:inline}button{font:inherit;padding:4px 12px;cursor:pointer}.muted{color:#6e7781}
.state{font-weight:600}
.filters{display:flex;gap:8px;align-items:center;margin-bottom:12px;flex-wrap:wrap}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px}dt{color:#6e7781}dd{margin:0}
.actions{display:flex;gap:24px;flex-wrap:wrap}
.actions form{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:10px 14px}`

// Asks before every action: forms carry their question in data-confirm.
const CONFIRM_SCRIPT =
  "document.querySelectorAll('form[data-confirm]').forEach(function(f){f.addEventListener('submit'," +
  "function(e){if(!confirm(f.getAttribute('data-confirm')))e.preventDefault()})})"

module.exports = { STYLE, CONFIRM_SCRIPT }
