"""The inspector: a live page at ``/ui/`` over the server's own journal and metrics.

A person debugging an app against this server watches here what came in, what
went back, which fixture answered, which fault fired and how long the first
token took. The page adds no bookkeeping of its own: it reads the request
journal (``RuntimeStore.entries``, what ``GET /admin/requests`` serves) and
the Prometheus registry (``ServingMetrics.collecting_registry``, what
``GET /metrics`` serves), so with several workers it sees what a scrape sees.

- ``entries``: a journal entry's one-line summary for the list (route,
  model, prompt, status, timings, fixture or ``"echo"``, injected fault);
- ``charts``: the histograms and counters as JSON, and ``CounterSamples``, a
  small ring of periodic counter snapshots from which requests/s and
  tokens/s over the last minutes are read;
- ``routes``: the page, its two assets and the data routes under
  ``/ui/api`` (behind the server's key, like ``/metrics``);
- ``static/``: the page itself (HTML, JS, CSS; package data, no build step,
  nothing loaded from another host: its Content-Security-Policy says so).

Design choices:

- **Polling, not SSE.** The page asks ``GET /ui/api/requests`` every 1.5 s
  and ``GET /ui/api/metrics`` every 3 s. A browser's ``EventSource`` cannot
  send a header, and the key must not travel in the URL; a plain GET is also
  what scripts read, works whichever worker answers, holds no connection
  open, and stops when the tab is hidden. A second or two of delay is
  nothing to a person reading a list.
- **Hand-drawn SVG charts.** Two bar charts (histogram buckets) and two line
  charts (rates) are some 80 lines of JavaScript; a vendored library would be
  larger than the whole page, need its licence kept and updated, and draw
  nothing more.
- **Rates from a ring of snapshots.** Prometheus counters only grow; a rate
  is a difference over time. ``CounterSamples`` keeps one snapshot of the
  request and token counters every 2 s for 5 minutes (150 small tuples), taken
  by a task the app's lifespan runs, and also when the rates are read (so
  the newest point is fresh, and an app served without its lifespan, as in
  tests, still has points). The past minutes are there when the page opens
  after a run, not only from when someone started watching.
- **Auth.** The page and its assets hold no data and load without the key
  (the HTML only says whether one is needed); the data routes answer 401
  without it. The page asks once, keeps the key in ``sessionStorage``
  (gone with the tab) and sends it as ``X-API-Key``; it sends no credentials
  of the browser's own (``credentials: "omit"``), so a wrong key brings back
  the page's prompt, not the browser's Basic login.
"""

from echo_model.serving.inspector.charts import CounterSamples, metrics_view
from echo_model.serving.inspector.entries import summarize
from echo_model.serving.inspector.routes import Inspector

__all__ = ["CounterSamples", "Inspector", "metrics_view", "summarize"]
