//! The HTML page around the SVG: inline CSS, a header with the reproduction command, the
//! failure list as text, and a small inline script for zoom. Nothing is loaded from anywhere:
//! no external script, stylesheet, image or font, so the file opens offline in any browser. The
//! picture reads without the script (it only adds the zoom buttons' behaviour).

use std::fmt::Write as _;

use super::Picture;
use super::svg::esc;
use crate::trace::format_ms;

const STYLE: &str = "\
body{margin:0;padding:12px 16px;background:#f8f9fa;color:#212529;\
font-family:'DejaVu Sans','Liberation Sans',Arial,Helvetica,sans-serif;font-size:13px}\
h1{font-size:18px;margin:0 0 4px}\
p.meta{margin:2px 0;color:#495057}\
code{background:#e9ecef;padding:1px 4px;border-radius:3px;font-family:'DejaVu Sans Mono',monospace;font-size:12px}\
.scroll{overflow:auto;border:1px solid #dee2e6;background:#fff;max-height:85vh;margin-top:8px}\
.scroll svg{display:block}\
.zoom{margin-top:8px}\
.zoom button{font-size:12px;margin-right:4px}\
ol.failures{margin:6px 0;padding-left:22px}\
ol.failures li{margin-bottom:6px}\
ol.failures .where{font-weight:bold}\
.fail{color:#e03131}\
.pass{color:#2b8a3e}\
.lane:hover>rect:first-child{fill:#e7f5ff}\
";

/// Zoom buttons: scale the SVG's width and height (its viewBox keeps the drawing intact).
const SCRIPT: &str = "\
(function(){var s=document.querySelector('svg.timeline');if(!s)return;\
var w=+s.getAttribute('width'),h=+s.getAttribute('height'),z=1;\
function set(k){z=Math.max(0.25,Math.min(8,k));s.setAttribute('width',w*z);s.setAttribute('height',h*z);\
document.getElementById('zoom-level').textContent=Math.round(z*100)+'%';}\
document.getElementById('zoom-in').onclick=function(){set(z*1.5);};\
document.getElementById('zoom-out').onclick=function(){set(z/1.5);};\
document.getElementById('zoom-fit').onclick=function(){var c=s.parentNode.clientWidth;set(c/w);};\
document.getElementById('zoom-reset').onclick=function(){set(1);};\
document.querySelector('.zoom').hidden=false;})();";

/// The whole page for `picture`, with `svg` (from [`super::svg::render`]) inline.
pub(crate) fn page(picture: &Picture<'_>, svg: &str) -> String {
    let mut out = String::with_capacity(svg.len() + 8192);
    let verdict = if picture.failures.is_empty() {
        "<span class=\"pass\">all expectations held</span>".to_owned()
    } else {
        format!(
            "<span class=\"fail\">{} expectation(s) failed</span>",
            picture.failures.len()
        )
    };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{name} (seed {seed}): vmcp-sim timeline</title>\n<style>{STYLE}</style>\n</head>\n\
         <body>\n<p class=\"meta\">{verdict} · reproduce: <code>{repro}</code></p>\n\
         <p class=\"meta\">Hover a mark for details. Lanes: probes (top row), status, circuit \
         band, connections (colour = pod), the backend's status in each report (diamonds).</p>\n",
        name = esc(picture.scenario),
        seed = picture.seed,
        repro = esc(&picture.reproduce),
    );
    if !picture.failures.is_empty() {
        out.push_str("<h2 class=\"fail\">Failed expectations</h2>\n<ol class=\"failures\">\n");
        for f in picture.failures {
            let _ = writeln!(
                out,
                "<li><span class=\"where\">{}</span> {} · window {} – {}{}<br>{}</li>",
                esc(&f.location),
                esc(f.kind),
                esc(&format_ms(f.window_ms.0)),
                esc(&format_ms(f.window_ms.1)),
                f.description
                    .as_deref()
                    .map(|d| format!(" · <em>{}</em>", esc(d)))
                    .unwrap_or_default(),
                esc(&f.message)
            );
        }
        out.push_str("</ol>\n");
    }
    out.push_str(
        "<div class=\"zoom\" hidden><button id=\"zoom-out\">−</button><button id=\"zoom-in\">+\
         </button><button id=\"zoom-fit\">fit width</button><button id=\"zoom-reset\">100%\
         </button> <span id=\"zoom-level\">100%</span></div>\n<div class=\"scroll\">\n",
    );
    out.push_str(svg);
    let _ = write!(out, "</div>\n<script>{SCRIPT}</script>\n</body>\n</html>\n");
    out
}
