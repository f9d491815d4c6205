"""Operations monitoring: what the serving path reports about itself.

The seed's operators watch two things besides business metrics: the API Gateway cache hit ratio
and the model codes the selector actually returned. dynab reads those figures from one interface,
:class:`services.ops.source.OpsSource`, with two implementations:

* :mod:`services.ops.aws` — CloudWatch metrics, a Logs Insights query and X-Ray through boto3;
* :mod:`services.ops.embedded` — the local gateway's persisted counters and log lines.

The maths (ratios, hour alignment, expected-vs-served counts) lives in pure functions in
:mod:`services.ops.figures` and :mod:`services.ops.split_check`.
"""
