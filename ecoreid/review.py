"""A self-contained static HTML page on which a person reviews the proposed identities.

Each query photo is shown beside its top-5 candidate individuals (the best-matching
catalogue photo of each, as a thumbnail), with the scores and the new-individual flag; the
page ends with the picture of the similarity network. Thumbnails and the picture are
embedded as base64 data URIs, so the page is one file that opens anywhere without a
server. Every user-provided string (file names, ids, dates) is HTML-escaped.

A small script lets the reviewer pick, for every query, a candidate, "new individual" or
"skip", and download the choices as ``decisions.csv`` for ``ecoreid confirm``.

Examples
--------
>>> from ecoreid.review import esc
>>> esc('<script>alert("x")</script>.jpg')
'&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;.jpg'
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["render_review", "esc"]

_PLACEHOLDER = (
    "data:image/svg+xml;base64,"
    + base64.b64encode(
        b'<svg xmlns="http://www.w3.org/2000/svg" width="96" height="72"><rect width="96" height="72" '
        b'fill="#ddd"/><text x="48" y="40" font-size="10" text-anchor="middle" fill="#666">no image</text></svg>'
    ).decode()
)


def esc(value) -> str:
    """HTML-escape any value (quotes included); None and NaN become an empty string.

    Examples
    --------
    >>> esc("<b>")
    '&lt;b&gt;'
    """
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    return html.escape(str(value), quote=True)


def _data_uri(jpeg: bytes | None) -> str:
    if not jpeg:
        return _PLACEHOLDER
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.4em} table.summary td{padding:2px 10px}
.warning{background:#fff3cd;border:1px solid #e0b000;padding:8px;border-radius:6px}
.query{background:#fff;border:1px solid #ccc;border-radius:6px;margin:12px 0;padding:10px;display:flex;gap:14px;
 align-items:flex-start;flex-wrap:wrap}
.query.new{border-color:#c0392b;box-shadow:0 0 0 2px #f5b7b1}
.qimg{text-align:center;min-width:140px}
.flag{display:inline-block;background:#c0392b;color:#fff;border-radius:3px;padding:1px 6px;font-size:.85em}
.known{display:inline-block;background:#1e8449;color:#fff;border-radius:3px;padding:1px 6px;font-size:.85em}
.cands{display:flex;gap:8px;flex-wrap:wrap}
.cand{text-align:center;font-size:.85em;border:1px solid #eee;padding:4px;border-radius:4px}
.cand.top{border-color:#1e8449}
img.thumb{max-width:128px;max-height:128px;display:block;margin:auto}
.name{font-size:.8em;color:#555;word-break:break-all;max-width:140px}
.choice{font-size:.85em;margin-top:4px}
#network img{max-width:100%}
"""

_JS = """
function downloadDecisions(){
  var rows=[["image","decision","individual_id"]];
  document.querySelectorAll('div.query').forEach(function(q){
    var img=q.getAttribute('data-image');
    var sel=q.querySelector('select');
    var v=sel?sel.value:'skip';
    if(v==='skip')return;
    if(v==='new'){rows.push([img,'new',q.getAttribute('data-proposed')]);}
    else{rows.push([img,'confirm',v]);}
  });
  var csv=rows.map(function(r){return r.map(function(c){return '"'+String(c).replace(/"/g,'""')+'"';}).join(',');}).join('\\n')+'\\n';
  var a=document.createElement('a');
  a.href=URL.createObjectURL(new Blob([csv],{type:'text/csv'}));
  a.download='decisions.csv';document.body.appendChild(a);a.click();a.remove();
}
"""


def _fmt(v) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return ""
    return "" if np.isnan(f) else f"{f:.3f}"


def render_review(result, *, network_png: str | os.PathLike | None = None,
                  title: str = "ecoreid review", max_queries: int | None = None) -> str:
    """Render the review page of a :class:`~ecoreid.results.ReidResult` as one HTML string.

    Parameters
    ----------
    result : ReidResult
        Needs ``assignments`` and, for pictures, ``thumbnails`` and ``pairs``.
    network_png : path-like, optional
        Picture of the similarity network to embed.
    title : str
        Page title.
    max_queries : int, optional
        Show at most this many queries (new individuals first).

    Returns
    -------
    str
        The HTML document.

    Examples
    --------
    >>> html = render_review(result)  # doctest: +SKIP
    """
    thumbs = result.thumbnails or {}
    a = result.assignments
    photos = result.photos
    pairs = result.pairs
    # The catalogue photo shown for (query, candidate individual): its best-scoring verified photo.
    best_photo: dict[tuple[str, str], str] = {}
    prob_col = f"prob_{result.config.score_mode}"
    if len(pairs) and prob_col in pairs.columns and "catalogue_image" in pairs.columns:
        top = pairs.sort_values(prob_col, ascending=False).drop_duplicates(["query_image", "catalogue_individual"])
        best_photo = {(q, i): c for q, i, c in zip(top["query_image"], top["catalogue_individual"],
                                                    top["catalogue_image"])}
    first_photo: dict[str, str] = {}
    if len(photos):
        lab = photos[~photos["is_query"]]
        for img, ind in zip(lab["image"], lab["individual_id"].astype(str)):
            first_photo.setdefault(ind, img)
    order = a.sort_values(["is_new", "score"], ascending=[False, True]) if len(a) else a
    if max_queries is not None:
        order = order.head(max_queries)
    m = result.report
    ev = m.get("evaluation", {})
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title>",
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">",
        f"<style>{_CSS}</style><script>{_JS}</script></head><body>",
        f"<h1>{esc(title)}</h1>",
        *_calibration_warning(m),
        '<table class="summary">',
        f"<tr><td>photos</td><td>{esc(m.get('n_photos'))}</td></tr>",
        f"<tr><td>catalogue photos / individuals</td><td>{esc(m.get('n_catalogue_photos'))} / "
        f"{esc(m.get('n_catalogue_individuals'))}</td></tr>",
        f"<tr><td>queries</td><td>{esc(len(a))}</td></tr>",
        f"<tr><td>flagged as new individuals</td><td id=\"n-new\">{esc(int(a['is_new'].sum()) if len(a) else 0)}</td></tr>",
        f"<tr><td>new-individual threshold</td><td>{esc(_fmt(m.get('threshold')))}</td></tr>",
    ]
    for key in ("top1", "top5", "mAP", "baks", "baus", "sqrt_baks_baus", "ari"):
        if key in ev:
            parts.append(f"<tr><td>{esc(key)}</td><td>{esc(_fmt(ev[key]))}</td></tr>")
    parts.append("</table>")
    parts.append('<p><button id="download" onclick="downloadDecisions()">Download decisions.csv</button> '
                 "(for <code>ecoreid confirm</code>)</p>")
    parts.append('<div id="queries">')
    for rec in order.to_dict("records"):
        parts += _query_html(rec, thumbs, best_photo, first_photo)
    parts.append("</div>")
    if network_png is not None and Path(network_png).is_file():
        b64 = base64.b64encode(Path(network_png).read_bytes()).decode("ascii")
        parts.append(f'<h2>Similarity network</h2><div id="network"><img alt="similarity network" '
                     f'src="data:image/png;base64,{b64}"></div>')
    parts.append("</body></html>")
    return "\n".join(parts)


def _calibration_warning(report: dict) -> list[str]:
    """A warning paragraph when no new-individual threshold could be calibrated."""
    cal = report.get("calibration") or {}
    if cal.get("status") != "impossible":
        return []
    return [f'<p class="warning" id="calibration-warning"><strong>Warning:</strong> {esc(cal.get("message", ""))}</p>']


def _query_html(rec: dict, thumbs: dict, best_photo: dict, first_photo: dict) -> list[str]:
    """One query's block: its photo, its candidates with their best catalogue photos, the decision menu."""
    parts: list[str] = []
    img = str(rec["image"])
    is_new = bool(rec["is_new"])
    cls = "query new" if is_new else "query"
    parts.append(f'<div class="{cls}" data-image="{esc(img)}" data-proposed="{esc(rec["proposed_individual"])}">')
    flag = ('<span class="flag">new individual?</span>' if is_new
            else f'<span class="known">{esc(rec["proposed_individual"])}</span>')
    truth = f'<div class="name">truth: {esc(rec["true_individual"])}</div>' if "true_individual" in rec else ""
    parts.append(f'<div class="qimg"><img class="thumb query-img" alt="{esc(img)}" src="{_data_uri(thumbs.get(img))}">'
                 f'<div class="name">{esc(img)}</div>{flag}<div class="name">score {esc(_fmt(rec["score"]))}'
                 f' &middot; proposed {esc(rec["proposed_individual"])}</div>{truth}</div>')
    parts.append('<div class="cands">')
    options = ['<option value="skip">skip</option>', f'<option value="new"{" selected" if is_new else ""}>'
               f"new individual</option>"]
    for r in range(1, 6):
        ind = rec.get(f"candidate_{r}", "")
        if not isinstance(ind, str) or not ind:
            continue
        photo = best_photo.get((img, ind)) or first_photo.get(ind)
        top_cls = "cand top" if r == 1 else "cand"
        parts.append(f'<div class="{top_cls}" data-rank="{r}"><img class="thumb" alt="{esc(ind)}" '
                     f'src="{_data_uri(thumbs.get(photo) if photo else None)}">'
                     f'<div><b>#{r}</b> <span class="cand-id">{esc(ind)}</span></div>'
                     f'<div class="cand-score">{esc(_fmt(rec.get(f"score_{r}")))}</div>'
                     f'<div class="name">{esc(photo or "")}</div></div>')
        sel = " selected" if (r == 1 and not is_new) else ""
        options.append(f'<option value="{esc(ind)}"{sel}>{esc(ind)}</option>')
    if not any(isinstance(rec.get(f"candidate_{r}"), str) and rec.get(f"candidate_{r}") for r in range(1, 6)):
        parts.append('<div class="cand">no candidate in the catalogue</div>')
    parts.append("</div>")
    parts.append(f'<div class="choice">decision: <select aria-label="decision for {esc(img)}">'
                 + "".join(options) + "</select></div>")
    parts.append("</div>")
    return parts
