"""deploy/prometheus/alerts.yml under Prometheus's own rule tester (`promtool test rules`, Debian's
`prometheus` package): each rule fires on the series it is written for, after its `for:`, and
stays quiet otherwise."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

from tests.availability import unavailable

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"

CASES = """
rule_files:
  - {rules}
evaluation_interval: 5s
tests:
  # Redis stops on one of two replicas at minute 1: pending at once, firing 30 s later, for it alone.
  - interval: 5s
    input_series:
      - series: 'shop_session_store_up{{instance="10.0.0.2:9400", job="shop"}}'
        values: '1x12 0x24'
      - series: 'shop_session_store_up{{instance="10.0.0.3:9400", job="shop"}}'
        values: '1x36'
    alert_rule_test:
      - eval_time: 70s
        alertname: SessionStoreUnavailable
        exp_alerts: []
      - eval_time: 95s
        alertname: SessionStoreUnavailable
        exp_alerts:
          - exp_labels: {{severity: page, instance: "10.0.0.2:9400", job: shop}}
            exp_annotations:
              summary: "Session store unavailable on 10.0.0.2:9400: logins and carts answer 503"

  # 2% of requests answer 503 from the start: the 5xx rate fires only after 2 minutes of it.
  - interval: 15s
    input_series:
      - series: 'shop_http_requests_total{{route="/", status="200", instance="a", job="shop"}}'
        values: '0+98x20'
      - series: 'shop_http_requests_total{{route="/cart", status="503", instance="a", job="shop"}}'
        values: '0+2x20'
    alert_rule_test:
      - eval_time: 2m
        alertname: HighErrorRate
        exp_alerts: []
      - eval_time: 4m
        alertname: HighErrorRate
        exp_alerts:
          - exp_labels: {{severity: page}}
            exp_annotations:
              summary: "More than 1% of requests answered 5xx for 2 minutes"

  # A worker restarted: a ticket, at once.
  - interval: 15s
    input_series:
      - series: 'shop_worker_restarts_total{{instance="a", job="shop"}}'
        values: '0 0 0 1 1 1'
    alert_rule_test:
      - eval_time: 30s
        alertname: WorkersRestarting
        exp_alerts: []
      - eval_time: 75s
        alertname: WorkersRestarting
        exp_alerts:
          - exp_labels: {{severity: ticket, instance: a, job: shop}}
            exp_annotations:
              summary: "a restarted a worker process in the last 10 minutes (see its log)"
"""


def test_the_alert_rules_fire_on_what_they_are_written_for(tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        unavailable("no promtool (apt-get install prometheus)")
    cases = tmp_path / "alerts_test.yml"
    cases.write_text(textwrap.dedent(CASES.format(rules=RULES)))
    result = subprocess.run([promtool, "test", "rules", str(cases)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
