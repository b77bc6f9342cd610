"""URLs for the admin's browser test: the admin, and a page that logs a user in and measures the admin's layout.

``/browser/measure/?user=<username>&next=<admin path>`` logs ``user`` in (test only), then shows ``next`` in a
1400x900 frame and writes the measurements of its change list (widths, column edges, row heights) as JSON
into ``<pre id="measure">``, which ``chromium --dump-dom`` prints.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model, login
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.utils.html import format_html

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>measure</title></head>
<body style="margin:0">
<iframe id="frame" src="{}" style="border:0;width:1400px;height:900px;display:block"></iframe>
<pre id="measure"></pre>
<script>
document.getElementById("frame").addEventListener("load", function () {{
  var doc = document.getElementById("frame").contentDocument;
  var table = doc.getElementById("result_list");
  var results = doc.querySelector(".results");
  var out = {{
    resultsRight: results ? results.getBoundingClientRect().right : null,
    resultsScrollWidth: results ? results.scrollWidth : null,
    resultsClientWidth: results ? results.clientWidth : null,
    scrollWidth: doc.documentElement.scrollWidth,
    clientWidth: doc.documentElement.clientWidth,
    heads: table ? Array.from(table.querySelectorAll("thead th")).map(function (th) {{
      var box = th.getBoundingClientRect();
      return {{text: th.innerText.trim(), left: box.left, right: box.right}};
    }}) : [],
    rows: table ? Array.from(table.querySelectorAll("tbody tr")).map(function (tr) {{
      return tr.getBoundingClientRect().height;
    }}) : [],
    pre: Array.from(doc.querySelectorAll("pre")).map(function (pre) {{ return pre.innerText; }})
  }};
  document.getElementById("measure").textContent = "MEASURE" + JSON.stringify(out);
}});
</script>
</body></html>"""


def measure(request: HttpRequest) -> HttpResponse:
    """Log the named user in, then frame and measure ``next``."""
    user = get_user_model().objects.get(username=request.GET["user"])
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return HttpResponse(format_html(PAGE, request.GET["next"]))


urlpatterns = [
    path("admin/", admin.site.urls),
    path("browser/measure/", measure),
]
