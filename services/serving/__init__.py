"""Serving: the selector API behind API Gateway (and the local gateway).

* :mod:`request` -- validating the two query parameters, from either event shape;
* :mod:`config_cache` -- the per-area configuration kept in memory and refreshed;
* :mod:`service` -- choosing the model, with the fallbacks;
* :mod:`handler` -- the API Gateway adapter shared by the Lambda and the local gateway;
* :mod:`observability`, :mod:`tracing` -- the log record, EMF metrics, X-Ray subsegments;
* :mod:`settings`, :mod:`runtime` -- configuration from the environment.
"""
