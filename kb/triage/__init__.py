"""Log triage: a whole log in, one line per distinct problem out, each with kb's best match.

The pipeline, one small module a step:

- `reading`: bytes to text (gzip, binary refused, bad UTF-8 replaced and counted, lines
  without breaks split at their timestamps), within a cap;
- `prefixes` and `records`: lines to records (stack traces, `Caused by:` chains and JSON lines
  folded into one record each), the timestamp / host / level prefix stripped, a level each;
- `masking` and `mining`: records at the chosen levels to templates (Drain, from the
  `drain3-improved` package), error codes, exception names, SQLSTATEs and HTTP statuses kept;
- `analysis` runs those in one pass (in a worker process on a server: `worker`);
- `run` matches every template against the index, their texts embedded in one batch;
- `result` holds the options and what a triage answers; `jobs` runs the site's triages.

Nothing here imports click or Flask; `KnowledgeBase.triage` is the one entry point.
"""

from __future__ import annotations
