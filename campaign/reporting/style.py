"""The reports' one stylesheet (inline in every page: no fonts, no network), shared by the campaign report and the A/B page."""

__all__ = ["CSS"]

# The font stack names CJK fonts explicitly: Japanese requests must not render as boxes.
CSS = """
:root{--ink:#1f2933;--muted:#6b7785;--line:#e3e8ee;--bg:#f5f7fa;--ok:#1a7f37;--bad:#b42318}*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.5 system-ui,-apple-system,"Segoe UI",
 "Noto Sans CJK JP","Noto Sans JP","Hiragino Sans","Yu Gothic",Meiryo,sans-serif}
main{max-width:1240px;margin:0 auto;padding:24px 24px 48px}h1{font-size:26px;margin:0 0 2px}
h2{font-size:19px;margin:0 0 10px}h3{font-size:15px;margin:18px 0 6px}.sub{color:var(--muted);margin:0 0 16px}
.line{margin:4px 0}.muted{color:var(--muted)}nav{display:flex;flex-wrap:wrap;gap:6px;margin:0 0 18px}
nav a{color:var(--ink);text-decoration:none;background:#fff;border:1px solid var(--line);border-radius:14px;
 padding:2px 12px;font-size:13px}
section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:18px 22px;margin:0 0 18px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(200px,1fr));gap:12px;margin:0 0 16px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 14px;background:#fbfcfd}
.card b{display:block;font-size:24px;line-height:1.2}.card span{color:var(--muted);font-size:12px}
table{border-collapse:collapse;width:100%;margin:8px 0 4px;font-size:13px}
th{text-align:left;color:var(--muted);font-weight:600;border-bottom:2px solid var(--line);padding:5px 8px;
 white-space:nowrap}
td{border-bottom:1px solid var(--line);padding:5px 8px;vertical-align:top}tr:nth-child(even) td{background:#fafbfc}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code,.mono{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12px}
.wrap{overflow-wrap:anywhere}.nw{white-space:nowrap}
.kv{display:inline-block;background:#eef2f7;border-radius:4px;padding:0 5px;margin:1px 2px 1px 0;white-space:nowrap}
tr.errrow td{background:#fff5f4;padding-top:0}
pre.mono{white-space:pre-wrap;overflow-wrap:anywhere;margin:4px 0;color:#5c1a14}
.badge{display:inline-block;border-radius:10px;padding:0 9px;font-size:12px;font-weight:600;color:#fff;
 white-space:nowrap}
.b-ok{background:var(--ok)}.b-bad{background:var(--bad)}.b-wait{background:#c9a227;color:#2b2100}
.b-na{background:#9aa5b1}.b-info{background:#4e79a7}.good{color:var(--ok);font-weight:600}
.worse{color:var(--bad);font-weight:600}.err{color:var(--bad);font-size:12px}
.chart{max-width:100%;height:auto;display:block;margin:6px 0 10px}
.row{display:flex;flex-wrap:wrap;gap:8px 32px;align-items:flex-start}.row>div{min-width:0}.grow{flex:1 1 360px}
details summary{cursor:pointer}table.gate{table-layout:fixed}table.gate th:nth-child(1){width:22%}
table.gate th:nth-child(2){width:8%}table.gate th:nth-child(3),table.gate th:nth-child(4){width:9%}
table.gate th:nth-child(5){width:15%}table.gate td{overflow-wrap:anywhere}
"""
